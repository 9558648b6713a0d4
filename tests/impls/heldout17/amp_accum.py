"""Mixed-precision BN function pair: half and single inputs accumulated in a wider type.
CORRECT (float16, float32 and float64).

Style: the "autocast" habit of mixed-precision training code: statistics and the whole
forward/backward run in an accumulation dtype one step wider than the input (float16 ->
float32, float32 -> float64, float64 stays), on a channel-major (C, M) copy so every
reduction runs along contiguous memory, and results are cast back to the input dtype
once at the end.  The cache keeps the wide intermediates.

    bncheck verify amp_accum.py --dtypes float64,float32,float16
"""

import numpy as np

_WIDER = {np.dtype(np.float16): np.float32, np.dtype(np.float32): np.float64}


def _acc_dtype(dt):
    return _WIDER.get(np.dtype(dt), np.float64)


def _to_rows(a, acc):
    """(N, C, ...) -> contiguous (C, N*...) in the accumulation dtype."""
    return np.ascontiguousarray(np.moveaxis(a, 1, 0).reshape(a.shape[1], -1), dtype=acc)


def _from_rows(r, like):
    rest = (like.shape[0], *like.shape[2:])
    return np.ascontiguousarray(np.moveaxis(r.reshape((like.shape[1], *rest)), 0, 1))


def amp_forward(x, gamma, beta, eps=1e-5):
    acc = _acc_dtype(x.dtype)
    xr = _to_rows(x, acc)
    g = np.asarray(gamma, dtype=acc)[:, None]
    b = np.asarray(beta, dtype=acc)[:, None]
    mu = xr.mean(axis=1, keepdims=True)
    xc = xr - mu
    var = np.mean(xc * xc, axis=1, keepdims=True)
    inv = 1.0 / np.sqrt(var + acc(eps))
    xhat = xc * inv
    y = _from_rows(g * xhat + b, x).astype(x.dtype)
    return y, {"xhat": xhat, "inv": inv, "g": g, "acc": acc, "dtype": x.dtype, "x": x}


def amp_backward(dy, cache):
    acc, xhat, inv, g = cache["acc"], cache["xhat"], cache["inv"], cache["g"]
    dyr = _to_rows(dy, acc)
    dbeta = dyr.sum(axis=1)
    dgamma = (dyr * xhat).sum(axis=1)
    d = dyr * g
    dx = inv * (d - d.mean(axis=1, keepdims=True) - xhat * (d * xhat).mean(axis=1, keepdims=True))
    out = cache["dtype"]
    return _from_rows(dx, cache["x"]).astype(out), dgamma.astype(out), dbeta.astype(out)
