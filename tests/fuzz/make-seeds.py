#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes small seed inputs for the fuzzers: a tiny llama2.c checkpoint in
each of its three layouts, with a tokenizer, in the fuzz-llama2c input format
(4-byte model length, model, tokenizer). The GGUF seeds come from lathe-cli
synth (see .ci/run)."""
import os
import struct
import sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)

dim, hidden, layers, heads, kv, vocab, seq = 8, 16, 1, 2, 1, 8, 16
hd = dim // heads


def floats(n, scale=0.1):
    return struct.pack(f"<{n}f", *[scale * ((i * 37) % 11 - 5) for i in range(n)])


def sizes():
    q, k = heads * hd, kv * hd
    return dict(emb=vocab * dim, att=layers * dim, wq=layers * dim * q, wk=layers * dim * k,
                wv=layers * dim * k, wo=layers * q * dim, ffn=layers * dim,
                w1=layers * dim * hidden, w2=layers * hidden * dim, w3=layers * dim * hidden,
                final=dim)


def legacy():
    s = sizes()
    body = b"".join(floats(s[k]) for k in ["emb", "att", "wq", "wk", "wv", "wo", "ffn", "w1", "w2", "w3", "final"])
    return struct.pack("<7i", dim, hidden, layers, heads, kv, vocab, seq) + body + floats(seq * hd)


def v1():
    s = sizes()
    head = struct.pack("<Ii7iB", 0x616b3432, 1, dim, hidden, layers, heads, kv, vocab, seq, 1)
    head += b"\0" * (256 - len(head))
    order = ["att", "ffn", "final", "emb", "wq", "wk", "wv", "wo", "w1", "w2", "w3"]
    return head + b"".join(floats(s[k]) for k in order)


def v2():
    s, group = sizes(), 8
    head = struct.pack("<Ii7iBi", 0x616b3432, 2, dim, hidden, layers, heads, kv, vocab, seq, 1, group)
    head += b"\0" * (256 - len(head))
    body = b"".join(floats(s[k]) for k in ["att", "ffn", "final"])
    for k in ["emb", "wq", "wk", "wv", "wo", "w1", "w2", "w3"]:
        n = s[k]
        body += bytes((i * 7) % 256 for i in range(n)) + floats(n // group, 0.01)
    return head + body


def tokenizer():
    toks = [b"<unk>", b"\n<s>\n", b"\n</s>\n", b"<0x0A>", b" a", b"b", b" ab", b"c"]
    data = struct.pack("<i", 8)
    for i, t in enumerate(toks):
        data += struct.pack("<fi", -float(i), len(t)) + t
    return data


tok = tokenizer()
for name, model in [("legacy", legacy()), ("v1", v1()), ("v2", v2())]:
    with open(os.path.join(out, name + ".seed"), "wb") as f:
        f.write(struct.pack("<I", len(model)) + model + tok)
