#!/bin/sh
# SPDX-License-Identifier: MIT
# Seeds for the fuzz targets of fuzz-core.c, made by Lathe itself from the
# shared model: a recipe of every step, a sensitivity table, an importance
# matrix, a workspace and its variant files, a bundle's manifest, what
# lathe-run bench prints, a probe's lines, ssh -G and ssh-keygen -l output.
# Hugging Face checkpoint files come from make-hf-seeds.py.
#   make-core-seeds.sh BUILD_DIR SHARED_DIR OUT_DIR
set -eu
build=$1 shared=$2 out=$3
cli="$build/src/cli/lathe-cli"
run="$build/src/runner/lathe-run"
model="$shared/models/stories260K.gguf"
text="$shared/eval/tinystories-valid-head.txt"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nul() { printf '\000'; }

for t in recipe sensitivity imatrix workspace manifest device ssh hf; do mkdir -p "$out/$t"; done

# Recipes: the example of data/recipe.md, and each kind of step.
sed -n '/^```json$/,/^```$/p' "$(dirname "$0")/../../data/recipe.md" | sed '1d;$d' | sed '/^```/,$d' > "$out/recipe/example"
printf '%s' '{"lathe_recipe":1,"quantize":{"type":"Q4_0","pure":true,"rules":[{"match":"output.weight","type":"Q8_0"}]}}' \
  > "$out/recipe/quantize"
printf '%s' '{"lathe_recipe":1,"prune":[{"method":"heads","remove":1},{"method":"layers","drop":[1]},
{"method":"magnitude","sparsity":0.5,"scope":"global"}],"conditional":{"skip_layers":"2","exit_threshold":0.9,
"exit_min_layer":3,"exit_on":"probability"}}' > "$out/recipe/structured"

"$cli" sensitivity "$model" -f "$text" --ctx 64 --chunks 1 --types Q8_0,Q4_0 -o "$out/sensitivity/table" -q > /dev/null
"$cli" calibrate "$model" -f "$text" --ctx 64 --chunks 1 -o "$out/imatrix/stories.imatrix" -q

"$cli" sweep "$tmp/ws" -m "$model" -f "$text" --types Q8_0 --ctx 64 --chunks 1 --no-speed -q > /dev/null
for v in "$tmp"/ws/variants/*.json; do
  { cat "$tmp/ws/workspace.json"; nul; cat "$v"; } > "$out/workspace/$(basename "$v")"
done
{ printf '%s' '{"lathe_workspace":1,"source":"m.gguf","eval":{"text":"t","ctx":64,"chunks":0},"variants":['
  cat "$v"; printf ']}'; } > "$out/workspace/v1"

"$cli" bundle create "$model" --unsigned -n 4 -o "$tmp/bundle" 2> /dev/null
cp "$tmp/bundle/MANIFEST.json" "$out/manifest/manifest"

probe='os=Linux
kernel=6.1.0
arch=aarch64
cores=4
cpu=Cortex-A76
features=fp asimd asimddp
mem_total_kb=8000000
mem_available_kb=6000000
disk_free_kb=1000000
governor=ondemand
freq_min_khz=600000
freq_max_khz=2400000
freq_khz=1500000
temp=cpu_thermal:45000
power_sensor=ina3221
power_file=/sys/class/hwmon/hwmon0/power1_input
energy=package-0:123456
throttle=0
rpi_throttled=0x0'
{ printf '%s' "$probe"; nul; "$run" bench -m "$model" -p 8 -n 4 -r 1 --json --no-bandwidth; } > "$out/device/run"

ssh -G localhost > "$out/ssh/config" 2> /dev/null
ssh-keygen -q -t ed25519 -N '' -f "$tmp/key"
ssh-keygen -l -f "$tmp/key.pub" > "$out/ssh/fingerprint"
python3 "$(dirname "$0")/make-hf-seeds.py" "$out/hf"
