#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Speed of Lathe's engine over the model shapes and types of issue 3.

Makes the random-weight models with lathe-cli (synth, then quantize) into a
cache directory, runs `lathe-cli bench --json` on each for every thread
count, several passes, and prints a Markdown table of medians with the
ratio to llama.cpp's numbers on this machine kind and, when given, to a
previous run's results. Timing is reported, never asserted.

  tests/bench/bench-matrix.py --cli build/src/cli/lathe-cli \
      --shared ../shared --models build/bench-models --shape smollm

With --llama-cpp BIN (tests/bench/llama-cpp-bench.c built against llama.cpp's
libraries) llama.cpp is measured on the same files in the same run instead.
The grid types are quantized with an importance matrix of the model on the
evaluation text, made once.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

# Shapes: (synth arguments, vocabulary file, vocabulary size).
SHAPES = {
    "smollm": (["--dim", "576", "--layers", "30", "--heads", "9", "--kv-heads", "3",
                "--ffn", "1536", "--tied"], "vocab/ggml-vocab-gpt-2.gguf", 49152),
    "tinyllama": (["--dim", "2048", "--layers", "22", "--heads", "32", "--kv-heads", "4",
                   "--ffn", "5632"], "vocab/ggml-vocab-llama-spm.gguf", 32000),
}

# llama.cpp (CPU, native, best of its builds, no mmap) on this machine kind,
# llama-bench -t 1,2 -p 128 -n 64 -r 5, best of three passes: pp (best
# thread count), tg with 2 threads, tg with 1 thread. From issue 3.
LLAMA_CPP = {
    ("smollm", "F16"): (917, 128, 97),
    ("smollm", "Q8_0"): (782, 140, 130),
    ("smollm", "Q4_0"): (1329, 190, 228),
    ("smollm", "Q4_K_M"): (663, 139, 136),
    ("tinyllama", "F16"): (138, 19.4, 12.6),
    ("tinyllama", "Q8_0"): (117, 29.4, 19.8),
    ("tinyllama", "Q4_0"): (222, 51.8, 32.4),
    ("tinyllama", "Q4_K_M"): (157, 52.2, 34.2),
    ("stories260K", "F32"): (10910, 5759, 9302),
}


def run(cmd):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout


def make_model(cli, shared, models, shape, qtype):
    """The model file of a shape and type, synthesized on first use."""
    os.makedirs(models, exist_ok=True)
    base = os.path.join(models, f"{shape}-F16.gguf")
    if not os.path.exists(base):
        args, vocab, n_vocab = SHAPES[shape]
        tmp = base + ".part"
        run([cli, "synth", *args, "--vocab-from", os.path.join(shared, vocab),
             "--n-vocab", str(n_vocab), "--type", "F16", "--name", shape, "-o", tmp])
        os.replace(tmp, base)
    if qtype == "F16":
        return base
    path = os.path.join(models, f"{shape}-{qtype}.gguf")
    if not os.path.exists(path):
        tmp = path + ".part"
        extra = []
        if qtype in NEEDS_IMATRIX:
            extra = ["--imatrix", make_imatrix(cli, shared, models, shape, base)]
        run([cli, "quantize", "-q", *extra, base, tmp, qtype])
        os.replace(tmp, path)
    return path


# The types llama.cpp (and Lathe) only write with an importance matrix.
NEEDS_IMATRIX = {"IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S"}


def make_imatrix(cli, shared, models, shape, base):
    """Activation statistics of the F16 model on the evaluation text, once."""
    path = os.path.join(models, f"{shape}.imatrix")
    if not os.path.exists(path):
        tmp = path + ".part"
        run([cli, "calibrate", "-q", "-f", os.path.join(shared, "eval/tinystories-valid-head.txt"),
             "--chunks", "8", "-o", tmp, base])
        os.replace(tmp, path)
    return path


def llama_cpp(binary, model, threads, p, n, passes):
    """llama.cpp's pp and tg on the same file (tests/bench/llama-cpp-bench.c)."""
    out = run([binary, model, str(threads), str(p), str(n), "0", str(passes)])
    best = [line for line in out.splitlines() if line.startswith("best:")][-1].split()
    return float(best[2]), float(best[4])


def bench(cli, model, extra, threads, p, n, reps, kernel):
    cmd = [cli, "bench", "-m", model, *extra, "-t", str(threads), "-p", str(p), "-n", str(n),
           "-r", str(reps), "--json"]
    if kernel:
        cmd += ["--kernel", kernel]
    return json.loads(run(cmd))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cli", required=True, help="lathe-cli to run")
    ap.add_argument("--shared", default="../shared", help="the shared data folder")
    ap.add_argument("--models", default="bench-models", help="cache of synthesized models")
    ap.add_argument("--shape", action="append", choices=[*SHAPES, "stories260K"],
                    help="shapes to run (repeatable; default: all)")
    ap.add_argument("--type", action="append", help="types (default F16 Q8_0 Q4_0 Q4_K_M)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("-p", type=int, default=128)
    ap.add_argument("-n", type=int, default=64)
    ap.add_argument("-r", type=int, default=5, help="repetitions inside each pass")
    ap.add_argument("--passes", type=int, default=3, help="passes; the median is reported")
    ap.add_argument("--kernel", help="force a kernel version")
    ap.add_argument("--previous", help="results JSON of an earlier run, for ratios")
    ap.add_argument("--output", help="write this run's results JSON here")
    ap.add_argument("--llama-cpp", help="llama-cpp-bench binary: measure llama.cpp on the same "
                    "files now (pp and tg at t=2, tg at t=1) instead of issue 3's numbers")
    a = ap.parse_args()

    shapes = a.shape or ["stories260K", *SHAPES]
    types = a.type or ["F16", "Q8_0", "Q4_0", "Q4_K_M"]
    threads = [int(t) for t in a.threads.split(",")]
    previous = {}
    if a.previous and os.path.exists(a.previous):
        with open(a.previous) as f:
            previous = {tuple(r["key"]): r for r in json.load(f)["results"]}

    results = []
    for shape in shapes:
        if shape == "stories260K":
            model = os.path.join(a.shared, "models/stories260K.bin")
            if not os.path.exists(model):
                print(f"skipping stories260K: {model} is absent", file=sys.stderr)
                continue
            targets = [("F32", model, ["-z", os.path.join(a.shared, "models/tok512.bin")])]
        else:
            targets = [(t, make_model(a.cli, a.shared, a.models, shape, t), []) for t in types]
        for qtype, model, extra in targets:
            if a.llama_cpp and not extra:
                pp2, tg2 = llama_cpp(a.llama_cpp, model, 2, a.p, a.n, a.passes)
                _, tg1 = llama_cpp(a.llama_cpp, model, 1, a.p, a.n, a.passes)
                LLAMA_CPP[(shape, qtype)] = (pp2, tg2, tg1)
                print(f"{shape} {qtype} llama.cpp: pp {pp2:.1f} tg {tg2:.2f} (t=2), tg {tg1:.2f} (t=1)",
                      file=sys.stderr)
            for t in threads:
                runs = [bench(a.cli, model, extra, t, a.p, a.n, a.r, a.kernel)
                        for _ in range(a.passes)]
                med = lambda k: statistics.median(r[k]["mean"] for r in runs)
                results.append({
                    "key": [shape, qtype, t],
                    "pp": med("prefill_tps"), "tg": med("decode_tps"),
                    "bandwidth_gbs": statistics.median(r["bandwidth_gbs"] for r in runs),
                    "bandwidth_ratio": statistics.median(r["bandwidth_ratio"] for r in runs),
                    "load_ms": statistics.median(r["load_ms"] for r in runs),
                    "repack_ms": statistics.median(r.get("repack_ms", 0) for r in runs),
                    "kernel": runs[0]["kernel"], "model_bytes": runs[0]["model_bytes"],
                })
                r = results[-1]
                print(f"{shape} {qtype} t={t}: pp {r['pp']:.1f} tg {r['tg']:.2f} tok/s, "
                      f"{100 * r['bandwidth_ratio']:.0f}% of the bandwidth bound", file=sys.stderr)

    # One row per model, as issue 3's table: pp t=2, tg t=2, tg t=1.
    by = {tuple(r["key"]): r for r in results}
    models = list(dict.fromkeys((r["key"][0], r["key"][1]) for r in results))
    print(f"| shape | type | MB | pp{a.p} t=2 | tg{a.n} t=2 | tg{a.n} t=1 | tg t=2 / bound "
          "| vs llama.cpp (pp, tg2, tg1) |" + (" vs previous (pp, tg2, tg1) |" if previous else ""))
    print("|---|---|---|---|---|---|---|---|" + ("---|" if previous else ""))

    def cell(key, field):
        r = by.get(key)
        return f"{r[field]:.1f}" if r else "–"

    def ratios(num, den):
        out = []
        for (k, f), d in zip(num, den):
            r = by.get(k)
            out.append(f"{r[f] / d:.2f}" if r and d else "–")
        return ", ".join(out)

    for shape, qtype in models:
        k2, k1 = (shape, qtype, 2), (shape, qtype, 1)
        any_r = by.get(k2) or by.get(k1)
        bound = f"{100 * by[k2]['bandwidth_ratio']:.0f}%" if k2 in by else "–"
        ref = LLAMA_CPP.get((shape, qtype))
        fields = [(k2, "pp"), (k2, "tg"), (k1, "tg")]
        line = (f"| {shape} | {qtype} | {any_r['model_bytes'] / 1e6:.0f} | {cell(k2, 'pp')} | "
                f"{cell(k2, 'tg')} | {cell(k1, 'tg')} | {bound} | "
                f"{ratios(fields, ref) if ref else '–'} |")
        if previous:
            olds = [previous.get(k, {}).get(f) for k, f in fields]
            line += f" {ratios(fields, olds)} |"
        print(line)
    if a.output:
        tmp = a.output + ".part"
        with open(tmp, "w") as f:
            json.dump({"results": results}, f, indent=1)
        os.replace(tmp, a.output)


if __name__ == "__main__":
    main()
