#!/usr/bin/env python3
"""Writes a CIFAR-style ResNet state_dict for MNIST as a safetensors file, with nothing but the
Python standard library: an independent writer (its own loops, names and byte layout) for the
engine's tests of files it did not write itself. No metadata, as `safetensors.torch.save_file`
of a bare state_dict gives.

    python3 tools/write-state-dict.py --depth 20 [--shortcut projection|identity|none]
        [--width 16] [--no-bn] [--drop NAME] [--reshape NAME=D0xD1..] --out FILE

Names follow torchvision's resnet.py: conv1, bn1, layer{s}.{b}.conv1/bn1/conv2/bn2, and for a
projection shortcut where the shape changes layer{s}.0.downsample.0 (1x1 conv) and .1 (BN);
without BN every conv has a bias. Values: small deterministic pseudo-random weights, BN at
gamma 1, beta 0, mean 0, var 1, so any member runs finitely.
"""
import argparse, json, random, struct

p = argparse.ArgumentParser()
p.add_argument("--depth", type=int, required=True)
p.add_argument("--shortcut", default="projection", choices=["projection", "identity", "none"])
p.add_argument("--width", type=int, default=16)
p.add_argument("--no-bn", action="store_true")
p.add_argument("--drop", action="append", default=[])
p.add_argument("--reshape", action="append", default=[])
p.add_argument("--out", required=True)
a = p.parse_args()
assert (a.depth - 2) % 6 == 0, "depth must be 6n+2"
n = (a.depth - 2) // 6
rng = random.Random(a.depth * 1000 + a.width)
tensors = []  # (name, shape, values, dtype)

def conv(name, cin, cout, k):
    fan = cin * k * k
    tensors.append((name + ".weight", [cout, cin, k, k], [rng.gauss(0, (2 / fan) ** 0.5) for _ in range(cout * fan)], "F32"))
    if a.no_bn:
        tensors.append((name + ".bias", [cout], [0.0] * cout, "F32"))

def bn(name, c):
    if a.no_bn:
        return
    for field, v in (("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0), ("running_var", 1.0)):
        tensors.append((f"{name}.{field}", [c], [v] * c, "F32"))
    tensors.append((name + ".num_batches_tracked", [], [0], "I64"))

w = a.width
conv("conv1", 1, w, 3)
bn("bn1", w)
cin = w
for s, width in enumerate([w, 2 * w, 4 * w], start=1):
    for b in range(n):
        stride = 2 if s > 1 and b == 0 else 1
        pre = f"layer{s}.{b}"
        conv(pre + ".conv1", cin, width, 3)
        bn(pre + ".bn1", width)
        conv(pre + ".conv2", width, width, 3)
        bn(pre + ".bn2", width)
        if a.shortcut == "projection" and (stride != 1 or cin != width):
            conv(pre + ".downsample.0", cin, width, 1)
            bn(pre + ".downsample.1", width)
        cin = width
tensors.append(("fc.weight", [10, cin], [rng.uniform(-1, 1) / cin ** 0.5 for _ in range(10 * cin)], "F32"))
tensors.append(("fc.bias", [10], [0.0] * 10, "F32"))

tensors = [t for t in tensors if t[0] not in a.drop]
for r in a.reshape:
    name, dims = r.split("=")
    shape = [int(d) for d in dims.split("x")]
    count = 1
    for d in shape:
        count *= d
    tensors = [(t[0], shape, [0.01] * count, t[3]) if t[0] == name else t for t in tensors]

header, blobs, off = {}, [], 0
for name, shape, values, dtype in tensors:
    blob = struct.pack("<%d%s" % (len(values), "f" if dtype == "F32" else "q"), *values)
    header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(blob)]}
    blobs.append(blob)
    off += len(blob)
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
with open(a.out, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
