"""LayerNorms in cs231n's form that take 2-D input only: one refuses other ranks on purpose
(a ValueError saying so), one breaks on them (an IndexError of its own code). Verify skips a
refused rank, marks a broken one not checked, and never passes a target none of whose asked
ranks it could check."""

import numpy as np


def _fwd(x, gamma, beta, eps):
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    inv = 1 / np.sqrt((xc**2).mean(axis=-1, keepdims=True) + eps)
    xh = xc * inv
    return gamma * xh + beta, (xh, gamma, inv)


def _bwd(dout, cache):
    xh, gamma, inv = cache
    d = dout * gamma
    dx = inv * (d - d.mean(axis=-1, keepdims=True) - xh * (d * xh).mean(axis=-1, keepdims=True))
    other = tuple(range(dout.ndim - 1))
    return dx, (dout * xh).sum(axis=other), dout.sum(axis=other)


def crash_layernorm_forward(x, gamma, beta, ln_param):
    if x.ndim != 2:
        x = x[:, :, :, None][..., 5]  # broken for other ranks: an IndexError of its own code
    return _fwd(x, gamma, beta, ln_param.get("eps", 1e-5))


def crash_layernorm_backward(dout, cache):
    return _bwd(dout, cache)


def refuse_layernorm_forward(x, gamma, beta, ln_param):
    if x.ndim != 2:
        raise ValueError(f"expected 2-D input, got {x.ndim}-D")
    return _fwd(x, gamma, beta, ln_param.get("eps", 1e-5))


def refuse_layernorm_backward(dout, cache):
    return _bwd(dout, cache)
