#!/usr/bin/python3
# tests/data/make_imagenet_model_fixtures.py — regenerates the fixtures of tests/test_imagenet_models.cpp with
# torchvision 0.14 (Debian bookworm: apt-get install python3-torchvision). Run from the repository root:
#     /usr/bin/python3 tests/data/make_imagenet_model_fixtures.py
# The tests themselves need no Python. It writes
#   torchvision_state_dicts.txt  every state-dict entry of resnet18/34/50 and mobilenet_v2 (1000 classes):
#                                "<model> <key> <shape>", shape as 64x3x7x7 ("-" for a scalar)
#   imagenet_models_logits.txt   "<model> <image> <10 logits>": the eval-mode output of each model built with
#                                10 classes, every parameter and buffer set by the formula below, on a 2×3×57×49
#                                input also set by the formula (57 ≠ 49 catches a height/width swap)
# and prints the parameter counts the test hard-codes.
#
# The formula (re-implemented in the C++ test) — no random generator, so both sides get identical numbers:
#   u(k, i) = mix32(i·0x9E3779B1 + k·0x85EBCA77) / 2³²   ∈ [0, 1),  a 32-bit integer hash of (tensor k, element i)
#   k = the tensor's position among the state-dict keys sorted by name (num_batches_tracked left out);
#   i = the element's flat index in PyTorch's layout (weights (out, in, kh, kw); the input NCHW, k = 1000).
# Values: conv/linear weights (2u − 1)·√(6 / fan_in) (He-uniform, so activations keep their scale), BN γ 0.5 + 0.5u,
# β and biases 0.2(2u − 1), running_mean 0.2(2u − 1), running_var 0.5 + u; the input 4(2u − 1), a little beyond
# the range of normalized photos (−2.1 … 2.6) so that ~2000 of MobileNetV2's ReLU6 inputs exceed 6 and the
# clamp's upper side is exercised too. A sine of i would be simpler but makes every output channel a mix of the
# same two patterns (sin(a + b) = sin a cos b + cos a sin b: rank 2); the hash does not.
import numpy as np
import torch
import torchvision

OUT = "tests/data/"
MODELS = ["resnet18", "resnet34", "resnet50", "mobilenet_v2"]
INPUT_KEY = 1000
INPUT_SCALE = 4.0
M32 = 0xFFFFFFFF


def mix32(h):  # the "lowbias32" finalizer: xor-shift-multiply rounds on uint32 (held in uint64, masked)
    h ^= h >> 16
    h = (h * 0x7FEB352D) & M32
    h ^= h >> 15
    h = (h * 0x846CA68B) & M32
    h ^= h >> 16
    return h


def u(k, n):
    i = np.arange(n, dtype=np.uint64)
    h = (i * np.uint64(0x9E3779B1) + np.uint64((k * 0x85EBCA77) & M32)) & np.uint64(M32)
    return mix32(h).astype(np.float64) / 2.0**32


def formula_value(name, shape, k):
    n = int(np.prod(shape)) if len(shape) else 1
    v = u(k, n)
    if len(shape) >= 2:
        fan_in = n // shape[0]
        out = (2 * v - 1) * np.sqrt(6.0 / fan_in)
    elif name.endswith("running_var"):
        out = 0.5 + v
    elif name.endswith("running_mean") or name.endswith("bias"):
        out = 0.2 * (2 * v - 1)
    else:  # BN γ
        out = 0.5 + 0.5 * v
    return torch.from_numpy(out.astype(np.float32).reshape(shape))


def set_by_formula(model):
    state = model.state_dict()
    keys = sorted(k for k in state if not k.endswith("num_batches_tracked"))
    with torch.no_grad():
        for k, name in enumerate(keys):
            state[name].copy_(formula_value(name, tuple(state[name].shape), k))


def main():
    with open(OUT + "torchvision_state_dicts.txt", "w") as f:
        f.write("# torchvision 0.14 state dicts (1000 classes): <model> <key> <shape>. "
                "Made by make_imagenet_model_fixtures.py.\n")
        for name in MODELS:
            model = getattr(torchvision.models, name)()
            params = sum(p.numel() for p in model.parameters())
            print(f"{name}: {params:,} parameters, {len(model.state_dict())} state-dict entries")
            for key, t in model.state_dict().items():
                shape = "x".join(str(d) for d in t.shape) or "-"
                f.write(f"{name} {key} {shape}\n")

    N, H, W = 2, 57, 49
    x = torch.from_numpy((INPUT_SCALE * (2 * u(INPUT_KEY, N * 3 * H * W) - 1)).astype(np.float32).reshape(N, 3, H, W))
    with open(OUT + "imagenet_models_logits.txt", "w") as f:
        f.write(f"# eval-mode logits of formula-set models with 10 classes on the formula input "
                f"{N}x3x{H}x{W} (NCHW). Made by make_imagenet_model_fixtures.py.\n")
        for name in MODELS:
            model = getattr(torchvision.models, name)(num_classes=10).eval()
            set_by_formula(model)
            # How much of the network the input exercises: activation scale, and (MobileNetV2) how many
            # ReLU6 inputs exceed 6, so the test covers both sides of the clamp.
            above6, total = [0], [0]

            def count(mod, inp):  # a pre-hook: torchvision's ReLU6 is in place, so a forward hook sees clamped values
                above6[0] += int((inp[0] > 6).sum())
                total[0] += inp[0].numel()

            for m in model.modules():
                if isinstance(m, torch.nn.ReLU6):
                    m.register_forward_pre_hook(count)
            with torch.no_grad():
                y = model(x)
            print(f"{name}: logits range [{y.min():.3f}, {y.max():.3f}]" +
                  (f", ReLU6 inputs above 6: {above6[0]} of {total[0]}" if total[0] else ""))
            for n in range(N):
                f.write(name + f" {n} " + " ".join(f"{v:.7g}" for v in y[n].tolist()) + "\n")


if __name__ == "__main__":
    main()
