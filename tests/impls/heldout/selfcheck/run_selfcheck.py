"""The author's own check of every corpus file against a float64 reference, a directional
finite difference of the file's own forward, the running-statistics convention it states,
eval against its own (and the reference) statistics, and input immutability, under several
layouts / sizes.  Independent of bncheck.  Usage: python3 run_selfcheck.py [H01 ...]"""
import sys
import zlib
import warnings

import numpy as np

import adapters

warnings.simplefilter("ignore")

CONDS = [
    # name, canonical shape (N, C, ...), layout, dtype
    ("2d", (16, 3), "C", np.float64),
    ("4d", (4, 3, 3, 5), "C", np.float64),
    ("2d-f32", (16, 3), "C", np.float32),
    ("4d-f32", (4, 3, 3, 5), "C", np.float32),
    ("2d-fortran", (16, 5), "F", np.float64),
    ("4d-fortran", (4, 3, 3, 5), "F", np.float64),
    ("4d-negstride", (4, 3, 3, 5), "NEG", np.float64),
    ("4d-sliced", (4, 3, 3, 5), "SLICE", np.float64),
    ("2d-C9", (10, 9), "C", np.float64),
    ("4d-C16", (2, 16, 3, 3), "C", np.float64),
    ("2d-m5000", (5000, 2), "C", np.float64),
    ("4d-m5100", (2, 3, 50, 51), "C", np.float64),
    ("4d-m8192", (2, 2, 64, 64), "C", np.float64),
]


def layout(a, how, axis):
    if axis == -1:
        a = np.moveaxis(a, 1, -1)
    if how == "C":
        return np.ascontiguousarray(a)
    if how == "F":
        return np.asfortranarray(a)
    if how == "NEG":
        b = np.ascontiguousarray(a[::-1, ..., ::-1])
        return b[::-1, ..., ::-1]
    if how == "SLICE":
        ax = 1 if axis == 1 else a.ndim - 1
        shape = list(a.shape); shape[ax] *= 2
        big = np.zeros(shape, a.dtype)
        idx = [slice(None)] * a.ndim; idx[ax] = slice(None, None, 2)
        big[tuple(idx)] = a
        return big[tuple(idx)]
    raise ValueError(how)


def canon(a, axis):
    return np.moveaxis(np.asarray(a, np.float64), -1, 1) if axis == -1 else np.asarray(a, np.float64)


def ref_train(x, g, b, eps):
    axes = (0,) + tuple(range(2, x.ndim)); s = (1, -1) + (1,) * (x.ndim - 2)
    mu = x.mean(axis=axes, keepdims=True); xc = x - mu
    var = (xc * xc).mean(axis=axes, keepdims=True)
    xh = xc / np.sqrt(var + eps)
    return xh * g.reshape(s) + b.reshape(s), xh, var, mu, axes, s


def ref_backward(dy, xh, var, g, eps, axes, s):
    m = dy.size // dy.shape[1]
    db = dy.sum(axis=axes); dg = (dy * xh).sum(axis=axes)
    dx = g.reshape(s) / np.sqrt(var + eps) / m * (m * dy - db.reshape(s) - xh * dg.reshape(s))
    return dx, dg, db


def ref_update(conv, mom, eps, state, mu, var_b, m, k):
    rm, rv = state
    if conv == "keras":
        return mom * rm + (1 - mom) * mu, mom * rv + (1 - mom) * var_b
    if conv == "torch":
        return (1 - mom) * rm + mom * mu, (1 - mom) * rv + mom * var_b * m / (m - 1)
    if conv == "chainer":
        return mom * rm + (1 - mom) * mu, mom * rv + (1 - mom) * var_b * m / (m - 1)
    if conv == "invstd":
        return (1 - mom) * rm + mom * mu, (1 - mom) * rv + mom / np.sqrt(var_b + eps)
    if conv == "cumulative":     # k = index of this batch, 1-based
        return rm + (mu - rm) / k, rv + (var_b * m / (m - 1) - rv) / k
    raise ValueError(conv)


def ref_eval(conv, x, g, b, stats, eps):
    s = (1, -1) + (1,) * (x.ndim - 2)
    rm, rv = (np.asarray(v, np.float64).reshape(s) for v in stats)
    inv = rv if conv == "invstd" else 1.0 / np.sqrt(rv + eps)
    return (x - rm) * inv * g.reshape(s) + b.reshape(s)


def rel(a, b):
    a = np.asarray(a, np.float64); b = np.asarray(b, np.float64)
    if a.shape != b.shape:
        return np.inf
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def check(key, cond):
    name, shape, how, dtype = cond
    A = adapters.ALL[key]
    tol = 1e-9 if dtype == np.float64 else 2e-4
    rng = np.random.default_rng(zlib.crc32(f"{key}:{name}".encode()))
    C = shape[1]
    g = rng.uniform(0.5, 2.0, C); b = rng.normal(size=C)
    nd = len(shape)
    if getattr(A, "supports", None) and nd not in A.supports:
        return None
    out = {}
    try:
        ad = A(C, g, b)
    except Exception as e:
        return {"error": repr(e)}
    xs = [rng.normal(3.0, 2.0, shape) + rng.normal(size=(1, C) + (1,) * (nd - 2)) * 2 for _ in range(3)]
    xs = [x.astype(dtype).astype(np.float64) for x in xs]
    eps = A.eps
    # --- training step 1 (forward, backward), step 2, eval
    st_ref = (np.zeros(C), np.ones(C)) if A.conv not in ("invstd",) else (np.zeros(C), np.ones(C))
    if A.conv == "cumulative":
        st_ref = (np.zeros(C), np.ones(C))
    # references
    for k, x in enumerate(xs[:2], start=1):
        xt = layout(x.astype(dtype), how, A.axis)
        xt_copy = xt.copy()
        y = ad.train(xt)
        yr, xh, var, mu, axes, s = ref_train(x, g, b, eps)
        out[f"fwd{k}"] = rel(canon(y, A.axis), yr)
        out[f"input_unchanged{k}"] = bool(np.array_equal(xt, xt_copy))
        m = x.size // C
        if A.has_state:
            st_ref = ref_update(A.conv, A.mom, eps, st_ref, mu.ravel(), var.ravel(), m, k)
        if k == 1:
            dy = rng.normal(size=shape)
            dy = dy.astype(dtype).astype(np.float64)
            dyt = layout(dy.astype(dtype), how, A.axis)
            dx, dg, db = ad.backward(dyt)
            rdx, rdg, rdb = ref_backward(dy, xh, var, g, eps, axes, s)
            out["dx"] = rel(canon(dx, A.axis), rdx)
            out["dgamma"] = rel(np.ravel(dg), rdg)
            out["dbeta"] = rel(np.ravel(db), rdb)
            # directional finite difference of the target's own training forward (float64 only)
            if dtype == np.float64 and x.size <= 2000:
                v = rng.normal(size=shape); h = 1e-5
                def L(xx):
                    a2 = A(C, g, b)
                    return float(np.sum(canon(a2.train(layout(xx, how, A.axis)), A.axis) * dy))
                fd = (L(x + h * v) - L(x - h * v)) / (2 * h)
                an = float(np.sum(canon(dx, A.axis) * v))
                out["fd_own"] = abs(fd - an) / max(abs(an), 1e-12)
    if A.has_state:
        own = ad.stats()
        out["run_mean"] = rel(np.ravel(own[0]), st_ref[0])
        out["run_var"] = rel(np.ravel(own[1]), st_ref[1])
        before = [np.array(v, copy=True) for v in own]
        x3 = xs[2]
        xt = layout(x3.astype(dtype), how, A.axis)
        ye = canon(ad.evaluate(xt), A.axis)
        after = ad.stats()
        out["eval_vs_own_stats"] = rel(ye, ref_eval(A.conv, x3, g, b, before, eps))
        out["eval_vs_ref"] = rel(ye, ref_eval(A.conv, x3, g, b, st_ref, eps))
        out["eval_state_unchanged"] = all(np.array_equal(np.ravel(p), np.ravel(q)) for p, q in zip(before, after))
    out["_tol"] = tol
    return out


def verdict(out):
    if out is None:
        return "n/a", []
    if "error" in out:
        return "ERROR", [out["error"]]
    tol = out["_tol"]
    bad = []
    for k, v in out.items():
        if k == "_tol":
            continue
        if isinstance(v, bool):
            if not v:
                bad.append(k)
        elif k == "fd_own":
            if v > 1e-5:
                bad.append(f"{k}={v:.1e}")
        elif v > tol:
            bad.append(f"{k}={v:.1e}")
    return ("ok" if not bad else "BAD"), bad


def main(keys):
    for key in keys:
        print(f"== {key}")
        for cond in CONDS:
            out = check(key, cond)
            v, bad = verdict(out)
            if v != "n/a":
                print(f"   {cond[0]:14s} {v:5s} {' '.join(bad)}")


if __name__ == "__main__":
    keys = sys.argv[1:] or sorted(adapters.ALL)
    main(keys)
