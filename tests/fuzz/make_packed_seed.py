# tests/fuzz/make_packed_seed.py — writes the seed of fuzz_packed_model: a tiny but complete packed model
# (8×8×3 image → quantize → ternary conv 3→4 (3×3, fused BN/ReLU + output codes) → ternary conv 4→4 with a
# shortcut → avgpool → quantize → ternary linear 4→10), in the format of quant/packed_format.h.
# Run from the repository root: python3 tests/fuzz/make_packed_seed.py
import json, struct

def pack2(codes):  # 2 bits per weight, w + 1, weight i at bits 2·(i mod 4)
    out = bytearray((len(codes) + 3) // 4)
    for i, c in enumerate(codes):
        out[i // 4] |= (c + 1) << (2 * (i % 4))
    return bytes(out)

def f32(values):
    return struct.pack("<%df" % len(values), *values)

arrays = {}
def add(name, dtype, shape, data):
    arrays[name] = (dtype, shape, data)

add("c1.w2", "U8", [(4 * 3 * 9 + 3) // 4], pack2([(i * 7 % 3) - 1 for i in range(4 * 3 * 9)]))
add("c1.scale", "F32", [4], f32([0.1, 0.2, 0.3, 0.4])); add("c1.bias", "F32", [4], f32([0.0, 0.1, -0.1, 0.2]))
add("c2.w2", "U8", [(4 * 4 * 9 + 3) // 4], pack2([(i * 5 % 3) - 1 for i in range(4 * 4 * 9)]))
add("c2.scale", "F32", [4], f32([0.05] * 4)); add("c2.bias", "F32", [4], f32([0.0] * 4))
add("fc.w2", "U8", [(10 * 4 + 3) // 4], pack2([(i % 3) - 1 for i in range(40)]))
add("fc.scale", "F32", [10], f32([0.1] * 10)); add("fc.bias", "F32", [10], f32([0.0] * 10))
program = {"format": "tern-packed-v1", "model": "seed", "input": {"height": 8, "width": 8, "channels": 3},
           "num_classes": 10, "output": "v6", "ops": [
    {"op": "quantize", "in": "image", "out": "v0", "step": 0.05, "qmax": 127, "signed": True},
    {"op": "conv", "in": "v0", "out": "v1", "layer": "c1", "ternary": True, "k": 3, "stride": 1, "pad": 1,
     "cin": 3, "cout": 4, "relu": True, "residual": "", "out_q": {"step": 0.1, "qmax": 15}},
    {"op": "shortcut_a", "in": "image", "out": "v2", "cout": 3, "stride": 1},
    {"op": "conv", "in": "v1", "out": "v3", "layer": "c2", "ternary": True, "k": 3, "stride": 1, "pad": 1,
     "cin": 4, "cout": 4, "relu": True, "residual": ""},
    {"op": "avgpool", "in": "v3", "out": "v4"},
    {"op": "quantize", "in": "v4", "out": "v5", "step": 0.1, "qmax": 255, "signed": False},
    {"op": "linear", "in": "v5", "out": "v6", "layer": "fc", "ternary": True, "cin": 4, "cout": 10}]}
header, offset, blob = {"__metadata__": {"tern.packed": json.dumps(program)}}, 0, b""
for name, (dtype, shape, data) in arrays.items():
    header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
    offset += len(data); blob += data
h = json.dumps(header).encode(); h += b" " * (-len(h) % 8)
with open("tests/fuzz/corpus/fuzz_packed_model/tiny.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + blob)
