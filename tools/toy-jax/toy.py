"""Cross-check of `relax toy` (host/src/toy): an independent JAX re-implementation of the
reference code's toy RELAX (duvenaud/relax rebar_toy.py, relaxed="super", force_same=True),
with autodiff doing every derivative the Rust core does by hand, including the second
derivative of the variance loss d(g^2)/dphi.

Not run by the tests (it needs JAX). Usage:
    python3 -m venv /tmp/jaxenv && /tmp/jaxenv/bin/pip install "jax[cpu]"
    /tmp/jaxenv/bin/python tools/toy-jax/toy.py 5      # seeds 0..4, 10,000 steps, ~3 s

Observed (jax 0.10.2): theta at step 10,000 between 0.012 and 0.15 over 5 seeds (loss
0.249025 to 0.249302); `relax toy --seeds 5` gives 0.026 to 0.061 (mean loss 0.249091).
Both show RELAX moving theta steadily towards 0 without reaching it in 10,000 steps.
"""
import sys, jax, jax.numpy as jnp
jax.config.update("jax_enable_x64", False)
t = 0.499
H = 10
def mlp(p, x):
    h = jnp.tanh(x * p["W1"] + p["b1"])
    return jnp.dot(h, p["W2"]) + p["b2"]
def c(p, z):
    lam = jnp.exp(p["logtemp"])
    return p["scale"] * mlp(p, 2 * jax.nn.sigmoid(z / lam) - 1)
def estimate(l, p, u):
    z_of = lambda l: l + jnp.log(u) - jnp.log1p(-u)
    z = z_of(l)
    b = (z > 0).astype(jnp.float32)
    def zt_of(l):
        up = jax.nn.sigmoid(-l)
        v1 = jax.lax.stop_gradient(jnp.clip((u - up) / jnp.clip(1 - up, 1e-8, 1), 0, 1))
        v0 = jax.lax.stop_gradient(jnp.clip(u / jnp.clip(up, 1e-8, 1), 0, 1))
        v = jnp.where(b > 0, v1 * (1 - up) + up, v0 * up)
        v = v + jax.lax.stop_gradient(u - v)
        return l + jnp.log(v) - jnp.log1p(-v)
    fb = (b - t) ** 2
    score = b - jax.nn.sigmoid(l)
    dcz = jax.grad(lambda l: c(p, z_of(l)))(l)
    dczt = jax.grad(lambda l: c(p, zt_of(l)))(l)
    return (fb - c(p, zt_of(l))) * score + dcz - dczt
def adam_init(x): return jax.tree_util.tree_map(jnp.zeros_like, x)
def adam(x, g, m, v, k, lr=0.01, b1=0.9, b2=0.999, eps=1e-8):
    m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, g)
    v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
    x = jax.tree_util.tree_map(lambda x, m, v: x - lr * (m / (1 - b1 ** k)) / (jnp.sqrt(v / (1 - b2 ** k)) + eps), x, m, v)
    return x, m, v
def run(seed, steps=10000):
    key = jax.random.PRNGKey(seed)
    k1, k2, key = jax.random.split(key, 3)
    a1 = (6 / (1 + H)) ** 0.5
    p = {"W1": jax.random.uniform(k1, (H,), minval=-a1, maxval=a1), "b1": jnp.zeros(H),
         "W2": jax.random.uniform(k2, (H,), minval=-a1, maxval=a1), "b2": jnp.zeros(()),
         "scale": jnp.zeros(()), "logtemp": jnp.log(0.5)}
    l = jnp.zeros(())
    state = (l, p, 0.0 * l, 0.0 * l, adam_init(p), adam_init(p))
    def step(state, xs):
        k, key = xs
        l, p, ml, vl, mp, vp = state
        u = jax.random.uniform(key, minval=1e-6, maxval=1 - 1e-6)
        g = estimate(l, p, u)
        gp = jax.grad(lambda p: estimate(l, p, u) ** 2)(p)
        l, ml, vl = adam(l, g, ml, vl, k)
        p, mp, vp = adam(p, gp, mp, vp, k)
        return (l, p, ml, vl, mp, vp), jax.nn.sigmoid(l)
    keys = jax.random.split(key, steps)
    ks = jnp.arange(1, steps + 1, dtype=jnp.float32)
    state, thetas = jax.lax.scan(step, state, (ks, keys))
    return thetas
runj = jax.jit(run, static_argnums=1)
for s in range(int(sys.argv[1]) if len(sys.argv) > 1 else 5):
    th = runj(s, 10000)
    idx = [999, 2999, 4999, 9999]
    loss = [float(th[i] * (1 - t) ** 2 + (1 - th[i]) * t ** 2) for i in idx]
    print(f"seed {s}: theta at 1k/3k/5k/10k = " + " ".join(f"{float(th[i]):.4f}" for i in idx), " loss@10k = %.6f" % loss[-1])
