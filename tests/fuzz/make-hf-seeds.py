#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Seeds for fuzz-hf (the first byte picks the file): a safetensors file, a
# SentencePiece tokenizer.model, a tokenizer.json, and a whole tiny llama
# checkpoint (config.json, NUL, model.safetensors).
#   make-hf-seeds.py OUT_DIR
import json, os, struct, sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)

def safetensors(tensors):
    header, data = {"__metadata__": {"format": "pt"}}, b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data

def f16(n, v=0.25):
    return struct.pack("<e", v) * n

def f32(n, v=1.0):
    return struct.pack("<f", v) * n

def varint(v):
    b = b""
    while True:
        x = v & 0x7F
        v >>= 7
        b += bytes([x | (0x80 if v else 0)])
        if not v:
            return b

def field(num, payload):
    return varint(num << 3 | 2) + varint(len(payload)) + payload

def piece(text, score, kind):
    t = text.encode()
    return field(1, varint(1 << 3 | 2) + varint(len(t)) + t + varint(2 << 3 | 5) + struct.pack("<f", score)
                 + varint(3 << 3) + varint(kind))


pieces = [("<unk>", 0, 2), ("<s>", 0, 3), ("</s>", 0, 3), ("\u2581a", -1, 1), ("b", -2, 1)]
spm = b"".join(piece(*p) for p in pieces) + field(2, varint(3 << 3) + varint(2)) + field(3, varint(3 << 3) + varint(1))

def write(name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)

write("safetensors", b"\x00" + safetensors([("a", "F32", [2, 2], f32(4)), ("b", "BF16", [3], b"\x80\x3f" * 3),
                                            ("c", "F16", [1], f16(1))]))
write("spm", b"\x01" + spm)
write("json", b"\x02" + json.dumps({
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]},
    "added_tokens": [{"id": 3, "content": "<|end|>", "special": True}],
    "pre_tokenizer": {"type": "ByteLevel", "use_regex": True}}).encode())

n_embd, n_ff, n_vocab = 8, 16, len(pieces)
config = {"architectures": ["LlamaForCausalLM"], "hidden_size": n_embd, "num_hidden_layers": 1,
          "num_attention_heads": 2, "num_key_value_heads": 1, "intermediate_size": n_ff,
          "vocab_size": n_vocab, "rms_norm_eps": 1e-5, "max_position_embeddings": 64}
tensors = [("model.embed_tokens.weight", "F16", [n_vocab, n_embd], f16(n_vocab * n_embd)),
           ("model.norm.weight", "F32", [n_embd], f32(n_embd)),
           ("lm_head.weight", "F16", [n_vocab, n_embd], f16(n_vocab * n_embd)),
           ("model.layers.0.input_layernorm.weight", "F32", [n_embd], f32(n_embd)),
           ("model.layers.0.post_attention_layernorm.weight", "F32", [n_embd], f32(n_embd)),
           ("model.layers.0.self_attn.q_proj.weight", "F16", [n_embd, n_embd], f16(n_embd * n_embd)),
           ("model.layers.0.self_attn.k_proj.weight", "F16", [4, n_embd], f16(4 * n_embd)),
           ("model.layers.0.self_attn.v_proj.weight", "F16", [4, n_embd], f16(4 * n_embd)),
           ("model.layers.0.self_attn.o_proj.weight", "F16", [n_embd, n_embd], f16(n_embd * n_embd)),
           ("model.layers.0.mlp.gate_proj.weight", "BF16", [n_ff, n_embd], b"\x80\x3e" * (n_ff * n_embd)),
           ("model.layers.0.mlp.up_proj.weight", "F16", [n_ff, n_embd], f16(n_ff * n_embd)),
           ("model.layers.0.mlp.down_proj.weight", "F32", [n_embd, n_ff], f32(n_ff * n_embd))]
write("model", b"\x03" + json.dumps(config).encode() + b"\x00" + safetensors(tensors))
