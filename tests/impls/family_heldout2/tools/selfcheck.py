"""My own sanity checks (float64 finite differences, one-pass error at large mean)."""
import importlib, sys, numpy as np
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))
rng = np.random.default_rng(0)

def ref_ln(x, g, b, eps=1e-5):
    m = x.mean(1, keepdims=True); v = ((x - m) ** 2).mean(1, keepdims=True)
    return g * (x - m) / np.sqrt(v + eps) + b

def fd_check(fwd, bwd, x, g, b, call):
    out, cache = call(fwd, x, g, b)
    dy = rng.standard_normal(out.shape)
    dx = bwd(dy, cache)[0]
    h = 1e-6; num = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index; xp = x.copy(); xm = x.copy(); xp[i] += h; xm[i] -= h
        num[i] = ((call(fwd, xp, g, b)[0] - call(fwd, xm, g, b)[0]) * dy).sum() / (2 * h)
    return np.abs(num - dx).max()

ln = lambda f, x, g, b: f(x, g, b, {"eps": 1e-5})
x = rng.standard_normal((4, 6)); g = rng.standard_normal(6); b = rng.standard_normal(6)
for name in ["my_layers", "ln_onepass_upcast", "ln_eps_outside", "mixed_bn_ln", "ln_batch_axis"]:
    m = importlib.import_module(name)
    y = m.layernorm_forward(x, g, b, {"eps": 1e-5})[0]
    print(f"{name:20s} fwd err vs LN ref {np.abs(y - ref_ln(x, g, b)).max():.2e}  "
          f"bwd-vs-own-FD {fd_check(m.layernorm_forward, m.layernorm_backward, x, g, b, ln):.2e}")
m = importlib.import_module("wrong_then_slow")
print("wrong_then_slow fwd err", np.abs(m.layernorm_forward(x, g, b, {})[0] - ref_ln(x, g, b)).max(),
      "bwd-vs-own-FD", fd_check(m.layernorm_forward, m.layernorm_backward, x, g, b, ln))
o = importlib.import_module("ops")
print("ops bwd FD", fd_check(o.forward, o.backward, x, g, b, lambda f, x, g, b: f(x, g, b)))
# groupnorm
gn = lambda f, x, g, b: f(x, g, b, 2, {"eps": 1e-5})
x4 = rng.standard_normal((2, 4, 2, 3)); g4 = rng.standard_normal((1, 4, 1, 1)); b4 = rng.standard_normal((1, 4, 1, 1))
for name in ["norms_v2", "gn_onepass_clamp", "gn_backward_nomean"]:
    m = importlib.import_module(name)
    print(f"{name:20s} bwd-vs-FD {fd_check(m.spatial_groupnorm_forward, m.spatial_groupnorm_backward, x4, g4, b4, gn):.2e}")
# class layers
for mod, cls, shp, arg in [("rmsnorm", "RMSNorm", (3, 5), 5), ("utils_fast", "InstanceNorm2d", (2, 3, 2, 2), 3),
                           ("transformer_layernorm", "LayerNorm", (3, 5), 5), ("rms_subtract_mean", "RMSNorm", (3, 5), 5)]:
    L = getattr(importlib.import_module(mod), cls)(arg)
    xx = rng.standard_normal(shp) + 3.0
    def call(f, x, g, b): y = L.forward(x); return y, None
    y = L.forward(xx); dy = rng.standard_normal(y.shape); dx = L.backward(dy)
    h = 1e-6; num = np.zeros_like(xx); it = np.nditer(xx, flags=["multi_index"])
    for _ in it:
        i = it.multi_index; xp = xx.copy(); xm = xx.copy(); xp[i] += h; xm[i] -= h
        num[i] = ((L.forward(xp) - L.forward(xm)) * dy).sum() / (2 * h)
    extra = ""
    if cls == "RMSNorm":
        ref = xx / np.sqrt((xx ** 2).mean(-1, keepdims=True) + 1e-6)
        extra = f" fwd err vs true RMS {np.abs(L.forward(xx) - ref).max():.2e}"
    print(f"{mod:20s} bwd-vs-FD {np.abs(num - dx).max():.2e}{extra}")

# one-pass at large mean: error vs float64 two-pass truth (normalized output, gamma=1, beta=0)
print("--- one-pass study, output max abs error vs exact (longdouble two-pass of the same input) ---")
D = 64
for mean in [1e2, 1e4, 1e6, 1e8]:
    for dt in [np.float32, np.float64]:
        xx = (mean + rng.standard_normal((8, D))).astype(dt)
        xl = xx.astype(np.longdouble); ml = xl.mean(1, keepdims=True)
        truth = (xl - ml) / np.sqrt(((xl - ml) ** 2).mean(1, keepdims=True) + 1e-5)
        one = np.ones(D, dt); zero = np.zeros(D, dt)
        res = {}
        for name in ["my_layers", "ln_onepass_f32", "ln_onepass_upcast", "ln_npvar_f32"]:
            y = importlib.import_module(name).layernorm_forward(xx, one, zero, {"eps": 1e-5})[0]
            res[name] = float(np.nanmax(np.abs(y.astype(np.longdouble) - truth))) if np.all(np.isfinite(y)) else float("nan")
        gm = importlib.import_module("gn_onepass_clamp")
        x4 = xx.reshape(8, 4, 4, 4)
        yg = gm.spatial_groupnorm_forward(x4, one[:4].reshape(1, 4, 1, 1), zero[:4].reshape(1, 4, 1, 1), 1, {"eps": 1e-5})[0]
        res["gn_onepass_clamp(G=1)"] = float(np.abs(yg.reshape(8, D).astype(np.longdouble) - truth).max())
        print(f"mean={mean:.0e} {dt.__name__:8s} " + "  ".join(f"{k}={v:.1e}" for k, v in res.items()))
