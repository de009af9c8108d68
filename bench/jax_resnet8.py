# The speed issue's native reference: ResNet-8 (the engine's default member: conv1 16, stages
# of 16/32/64 channels with one basic block each, 1×1 projections + BN on the stride-2
# shortcuts, BN everywhere, GAP, fc 10) trained in JAX/XLA on the CPU — the same step as
# `resnet-playground bench` (forward in training mode, cross-entropy, backward, SGD with
# momentum 0.9), jit-compiled, float32, in the layout given (NHWC, XLA's preferred on CPU, or
# the engine's NCHW; the faster one is JAX's figure). Prints one JSON line: images/s per batch.
#
#   python3 -m venv /tmp/jaxenv && /tmp/jaxenv/bin/pip install "jax[cpu]"
#   /tmp/jaxenv/bin/python bench/jax_resnet8.py [--batches 32,64] [--steps 30] [--rounds 3] [--layout NHWC|NCHW]
import argparse, json, time
import jax, jax.numpy as jnp

LAYOUT = 'NHWC'  # set by --layout

def conv(x, w, stride):
    pad = (w.shape[2] - 1) // 2
    return jax.lax.conv_general_dilated(x, w, (stride, stride), [(pad, pad), (pad, pad)], dimension_numbers=(LAYOUT, 'OIHW', LAYOUT))

def bn(x, p):
    # training mode: batch statistics over N, H, W (biased variance), ε = 1e-5
    axes, at = ((0, 1, 2), (None, None, None, slice(None))) if LAYOUT == 'NHWC' else ((0, 2, 3), (None, slice(None), None, None))
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    return (x - mu) / jnp.sqrt(var + 1e-5) * p['g'][at] + p['b'][at]

def init(key):
    ks = iter(jax.random.split(key, 16))
    cw = lambda o, c, k: jax.random.normal(next(ks), (o, c, k, k)) * jnp.sqrt(2.0 / (c * k * k))
    bnp = lambda c: {'g': jnp.ones(c), 'b': jnp.zeros(c)}
    p = {'conv1': cw(16, 1, 3), 'bn1': bnp(16)}
    c_in = 16
    for i, c in enumerate([16, 32, 64]):
        blk = {'w1': cw(c, c_in, 3), 'bn1': bnp(c), 'w2': cw(c, c, 3), 'bn2': bnp(c)}
        if c != c_in:
            blk['wd'], blk['bnd'] = cw(c, c_in, 1), bnp(c)
        p[f'layer{i + 1}'] = blk
        c_in = c
    p['fc'] = {'w': jax.random.normal(next(ks), (10, 64)) * 0.1, 'b': jnp.zeros(10)}
    return p

def forward(p, x):
    h = jax.nn.relu(bn(conv(x, p['conv1'], 1), p['bn1']))
    for i in range(3):
        blk, s = p[f'layer{i + 1}'], (1 if i == 0 else 2)
        out = jax.nn.relu(bn(conv(h, blk['w1'], s), blk['bn1']))
        out = bn(conv(out, blk['w2'], 1), blk['bn2'])
        short = bn(conv(h, blk['wd'], s), blk['bnd']) if 'wd' in blk else h
        h = jax.nn.relu(out + short)
    h = h.mean(axis=(1, 2) if LAYOUT == 'NHWC' else (2, 3))
    return h @ p['fc']['w'].T + p['fc']['b']

def loss(p, x, y):
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(forward(p, x)), y[:, None], axis=1))

@jax.jit
def step(p, v, x, y):
    l, g = jax.value_and_grad(loss)(p, x, y)
    v = jax.tree_util.tree_map(lambda v, g: 0.9 * v + g, v, g)
    p = jax.tree_util.tree_map(lambda p, v: p - 0.05 * v, p, v)
    return p, v, l

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--batches', default='32,64')
    ap.add_argument('--steps', type=int, default=30)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--layout', default='NHWC', choices=['NHWC', 'NCHW'])
    a = ap.parse_args()
    global LAYOUT
    LAYOUT = a.layout
    out = {'jax': jax.__version__, 'layout': LAYOUT, 'devices': [str(d) for d in jax.devices()], 'results': []}
    for b in map(int, a.batches.split(',')):
        key = jax.random.PRNGKey(0)
        p = init(key)
        v = jax.tree_util.tree_map(jnp.zeros_like, p)
        x = jax.random.normal(key, (b, 28, 28, 1) if LAYOUT == 'NHWC' else (b, 1, 28, 28))
        y = jax.random.randint(key, (b,), 0, 10)
        for _ in range(3):  # compile and warm up
            p, v, l = step(p, v, x, y)
        l.block_until_ready()
        rates = []
        for _ in range(a.rounds):
            t = time.perf_counter()
            for _ in range(a.steps):
                p, v, l = step(p, v, x, y)
            l.block_until_ready()
            rates.append(b * a.steps / (time.perf_counter() - t))
        out['results'].append({'batch': b, 'train_images_per_s': sorted(rates)[len(rates) // 2], 'rounds': rates})
    print(json.dumps(out))

if __name__ == '__main__':
    main()
