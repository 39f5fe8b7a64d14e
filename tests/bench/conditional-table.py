#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What conditional computation costs and buys, measured with lathe-cli.

For stories260K or a random-weight synthetic model: decode speed, layers run
per token, and mean KL divergence and top-1 agreement against the full model
(on the first 100 stories of the shared evaluation text) for layer skip,
early exit at several thresholds, and self-speculative decoding. Prints a
Markdown table. Timing is reported, never asserted.

  tests/bench/conditional-table.py --cli build/src/cli/lathe-cli --shared ../shared \
      --work build/conditional --model stories
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

SYNTH = ["--dim", "512", "--layers", "4", "--heads", "8", "--kv-heads", "4", "--ffn", "1536",
         "--ctx", "256", "--type", "F32"]


def run(cli, *args):
    return subprocess.run([cli, *args], check=True, capture_output=True, text=True, errors="replace")


def eval_text(shared, work):
    text = open(os.path.join(shared, "eval", "tinystories-valid-head.txt"), encoding="utf-8").read()
    path = os.path.join(work, "eval.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("<|endoftext|>\n".join(text.split("<|endoftext|>\n")[:100]) + "<|endoftext|>\n")
    return path


def quality(cli, model, text, ref, chunks, flags):
    ev = json.loads(run(cli, "eval", "-q", "-m", model, "-f", text, "--ref", ref, "--chunks", str(chunks),
                        "--json", *flags).stdout)
    return ev


def speed(cli, model, flags):
    tps = []
    for _ in range(3):
        b = json.loads(run(cli, "bench", "-m", model, "-t", "2", "-p", "16", "-n", "100", "-r", "3",
                           "--no-bandwidth", "--json", *flags).stdout)
        tps.append(b["decode_tps"]["mean"])
    return statistics.median(tps), b["layers_mean"]


def speculative(cli, model, k, skip):
    accept, ratio = [], []
    for _ in range(3):
        err = run(cli, "generate", "-m", model, "-p", "Once upon a time", "-n", "100", "--temp", "0",
                  "--speculative", str(k), "--draft-skip-layers", skip, "--compare").stderr
        accept.append(float(re.search(r"accepted \(([\d.]+) %\)", err).group(1)))
        ratio.append(float(re.search(r"speculative is ([\d.]+)×", err).group(1)))
        if "outputs identical" not in err:
            raise SystemExit("speculative output differs from greedy")
    return statistics.median(accept), statistics.median(ratio)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cli", required=True)
    ap.add_argument("--shared", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--model", choices=["stories", "synth"], default="stories")
    ap.add_argument("--chunks", type=int, default=24)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    stories = os.path.join(a.shared, "models", "stories260K.gguf")
    if not os.path.exists(stories):
        print(f"skipped: {stories} is absent")
        return 0
    text = eval_text(a.shared, a.work)
    if a.model == "stories":
        model = stories
    else:
        model = os.path.join(a.work, "synth.gguf")
        run(a.cli, "synth", *SYNTH, "--vocab-from", stories, "-o", model)
    n_layer = json.loads(run(a.cli, "inspect", "--json", model).stdout)["hparams"]["n_layer"]
    ref = os.path.join(a.work, a.model + ".logits")
    run(a.cli, "eval", "-q", "-m", model, "-f", text, "--chunks", str(a.chunks), "--save-ref", ref)
    last = n_layer - 2
    mid = str(n_layer // 2)
    rows = [("full model", [])]
    rows.append((f"skip layer {mid}", ["--skip-layers", mid]))
    for t in ("0.9", "0.7", "0.5"):
        rows.append((f"early exit p ≥ {t} from layer {last}", ["--exit-threshold", t,
                                                               "--exit-min-layer", str(last)]))
    print(f"\n{a.model}: quality on {a.chunks} chunks of the first 100 stories against the full "
          f"model; decode: median of 3 × lathe-cli bench -t 2 -p 16 -n 100 -r 3\n")
    print("| setting | decode tok/s | layers / token | mean KL | top-1 |")
    print("|---|---|---|---|---|")
    for label, flags in rows:
        tps, layers = speed(a.cli, model, flags)
        q = quality(a.cli, model, text, ref, a.chunks, flags)
        print(f"| {label} | {tps:.0f} | {layers:.2f} | {q['kl_mean']:.4f} | "
              f"{100 * q['top1_agreement']:.1f} % |")
    for k in (2, 4):
        acc, ratio = speculative(a.cli, model, k, mid)
        print(f"| self-speculative k={k}, draft skips layer {mid} | {ratio:.2f}× plain greedy | "
              f"— | 0 (identical) | 100 % (acceptance {acc:.0f} %) |")
    if a.model == "synth":
        moe_rows(a, stories, text)
    return 0


def moe_rows(a, stories, text):
    """A synthetic mixture of experts (8 experts, 2 per token): fewer or more
    experts per token than the model's own."""
    moe = os.path.join(a.work, "moe.gguf")
    run(a.cli, "synth", *SYNTH[:-2], "--type", "Q8_0", "--experts", "8", "--experts-used", "2",
        "--vocab-from", stories, "-o", moe)
    ref = os.path.join(a.work, "moe.logits")
    run(a.cli, "eval", "-q", "-m", moe, "-f", text, "--chunks", str(a.chunks), "--save-ref", ref)
    print("\nsynthetic mixture of experts (8 experts, 2 used per token, Q8_0):\n")
    print("| experts per token | decode tok/s | mean KL | top-1 |")
    print("|---|---|---|---|")
    for k in (1, 2, 4, 8):
        flags = ["--experts-used", str(k)]
        tps, _ = speed(a.cli, moe, flags)
        q = quality(a.cli, moe, text, ref, a.chunks, flags)
        print(f"| {k}{' (the model’s)' if k == 2 else ''} | {tps:.0f} | {q['kl_mean']:.4f} | "
              f"{100 * q['top1_agreement']:.1f} % |")


if __name__ == "__main__":
    sys.exit(main())
