#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What each compression costs and buys, measured with lathe-cli.

For stories260K (real) or a random-weight model whose rows fit every block
size (synth), writes each variant of issue 4's table, then measures file
size, bits per weight, perplexity, KL divergence and top-1 agreement against
the original (on the first 100 stories of the shared evaluation text, while
calibration and sensitivity use the other 100) and decode speed. Prints a
Markdown table. Timing is reported, never asserted.

  tests/bench/compress-table.py --cli build/src/cli/lathe-cli --shared ../shared \
      --work build/compress --model stories
"""
import argparse
import json
import os
import subprocess
import sys

SYNTH = ["--dim", "512", "--layers", "4", "--heads", "8", "--kv-heads", "4", "--ffn", "1536",
         "--ctx", "256", "--type", "F32"]


def run(cli, *args):
    out = subprocess.run([cli, *args], check=True, capture_output=True, text=True)
    return out.stdout


def split_text(shared, work):
    text = open(os.path.join(shared, "eval", "tinystories-valid-head.txt"), encoding="utf-8").read()
    stories = text.split("<|endoftext|>\n")
    eval_path = os.path.join(work, "eval.txt")
    calib_path = os.path.join(work, "calib.txt")
    with open(eval_path, "w", encoding="utf-8") as f:
        f.write("<|endoftext|>\n".join(stories[:100]) + "<|endoftext|>\n")
    with open(calib_path, "w", encoding="utf-8") as f:
        f.write("<|endoftext|>\n".join(stories[100:]))
    return eval_path, calib_path


def variants(model, work, imatrix, table, kquants):
    """(label, lathe-cli arguments writing OUT) for each row of the table."""
    q = lambda t, *extra: ["quantize", "-q", "--pure", model, "OUT", t, *extra]
    p = lambda *extra: ["prune", "-q", model, "OUT", *extra]
    rows = [("F16", q("F16")), ("Q8_0", q("Q8_0")), ("Q5_0", q("Q5_0")), ("Q4_0", q("Q4_0")),
            ("Q4_0 + imatrix", q("Q4_0", "--imatrix", imatrix)),
            ("Q4_K" if kquants else "Q4_K (rows fit no K block: Q5_0)", q("Q4_K"))]
    if kquants:
        rows.append(("Q4_K + imatrix", q("Q4_K", "--imatrix", imatrix)))
    rows.append(("mixed 4.5 bpw" if kquants else "mixed at Q4_1's size", None))
    rows += [("magnitude 50 %", p("--sparsity", "0.5")),
             ("Wanda 50 %", p("--sparsity", "0.5", "--method", "wanda", "--imatrix", imatrix)),
             ("2:4 magnitude", p("--nm", "2:4")),
             ("2:4 Wanda", p("--nm", "2:4", "--method", "wanda", "--imatrix", imatrix)),
             ("minus one layer", p("--remove-layers", "1", "--imatrix", imatrix)),
             ("heads −4 per layer", p("--heads", "4", "--imatrix", imatrix)),
             ("FFN −25 %", p("--ffn", "0.25", "--imatrix", imatrix))]
    return rows


def measure(cli, path, eval_text, ref, chunks):
    info = json.loads(run(cli, "inspect", "--json", path))
    ev = json.loads(run(cli, "eval", "-q", "-m", path, "-f", eval_text, "--ref", ref, "--chunks",
                        str(chunks), "--json"))
    speeds = []
    for _ in range(3):
        b = json.loads(run(cli, "bench", "-m", path, "-t", "2", "-p", "16", "-n", "64", "-r", "3",
                           "--no-bandwidth", "--json"))
        speeds.append(b["decode_tps"]["mean"])
    speeds.sort()
    return {"bytes": info["file_bytes"], "bpw": info["bpw"], "ppl": ev["perplexity"],
            "kl": ev["kl_mean"], "top1": ev["top1_agreement"], "tps": speeds[1]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cli", required=True)
    ap.add_argument("--shared", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--model", choices=["stories", "synth"], default="stories")
    ap.add_argument("--chunks", type=int, default=40, help="evaluation chunks")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    stories = os.path.join(a.shared, "models", "stories260K.gguf")
    if not os.path.exists(stories):
        print(f"skipped: {stories} is absent")
        return 0
    eval_text, calib_text = split_text(a.shared, a.work)
    if a.model == "stories":
        model, kquants = stories, False
        types = "Q8_0,Q5_1,Q5_0,Q4_1,Q4_0"
    else:
        model, kquants = os.path.join(a.work, "synth.gguf"), True
        run(a.cli, "synth", *SYNTH, "--vocab-from", stories, "-o", model)
        types = "Q8_0,Q6_K,Q5_K,Q4_K,Q5_0,Q4_0,Q3_K,Q2_K"
    imatrix = os.path.join(a.work, a.model + ".imatrix")
    ref = os.path.join(a.work, a.model + ".logits")
    table = os.path.join(a.work, a.model + "-sensitivity.json")
    run(a.cli, "calibrate", "-q", model, "-f", calib_text, "-o", imatrix, "--chunks", "64")
    run(a.cli, "eval", "-q", "-m", model, "-f", eval_text, "--chunks", str(a.chunks), "--save-ref", ref)
    run(a.cli, "sensitivity", "-q", model, "-f", calib_text, "--types", types, "--chunks", "8",
        "-o", table)
    results = [("F32 (original)", measure(a.cli, model, eval_text, ref, a.chunks))]
    for label, args in variants(model, a.work, imatrix, table, kquants):
        out = os.path.join(a.work, a.model + "-" + "".join(c if c.isalnum() else "_" for c in label) + ".gguf")
        if args is None:
            if kquants:
                args = ["quantize", "-q", model, "OUT", "Q4_K", "--target-bpw", "4.5",
                        "--sensitivity", table]
            else:
                size = json.loads(run(a.cli, "inspect", "--json", os.path.join(
                    a.work, a.model + "-Q4_1.gguf")))["tensor_bytes"] if os.path.exists(
                    os.path.join(a.work, a.model + "-Q4_1.gguf")) else None
                if size is None:
                    tmp = os.path.join(a.work, a.model + "-Q4_1.gguf")
                    run(a.cli, "quantize", "-q", "--pure", model, tmp, "Q4_1")
                    size = json.loads(run(a.cli, "inspect", "--json", tmp))["tensor_bytes"]
                args = ["quantize", "-q", model, "OUT", "Q4_0", "--target-size", str(size / 1e6),
                        "--sensitivity", table]
        run(a.cli, *[out if x == "OUT" else x for x in args])
        results.append((label, measure(a.cli, out, eval_text, ref, a.chunks)))
        print(f"  {label} done", file=sys.stderr)
    print(f"\n{a.model}: {a.chunks} chunks of the first 100 stories; calibration and sensitivity "
          f"on the other 100; decode: median of 3 × lathe-cli bench -t 2 -p 16 -n 64 -r 3\n")
    print("| variant | file | bpw | perplexity | mean KL | top-1 | decode tok/s |")
    print("|---|---|---|---|---|---|---|")
    for label, r in results:
        print(f"| {label} | {r['bytes'] / 1e6:.3f} MB | {r['bpw']:.2f} | {r['ppl']:.3f} | "
              f"{r['kl']:.5f} | {100 * r['top1']:.1f} % | {r['tps']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
