"""Ghost batch normalization (Hoffer et al. 2017), NumPy function pair.  NOT a BN for
batches above 32 (the planted difference).

Style: TabNet / Composer ghost BN: the batch is cut along axis 0 into virtual batches of
`virtual_batch_size` = 32 samples (the last one shorter) and each is normalized with its
own mean and variance; the backward is each chunk's exact BN backward.  For N <= 32 it is
exactly BN; for larger batches the output, dx and dgamma differ from BN's (dbeta = sum(dy),
sum(dx) = 0 and mean(y) = beta still hold, and the backward is the exact gradient of this
forward).  A correct checker must fail it on 2-D kernel cases with N > 32.

    bncheck verify ghost_bn.py
"""

import numpy as np

VIRTUAL_BATCH_SIZE = 32


def _one_chunk(x, gamma, beta, eps, axes):
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    inv = 1.0 / np.sqrt(var + eps)
    xhat = (x - mu) * inv
    return gamma * xhat + beta, (xhat, inv)


def ghost_forward(x, gamma, beta, eps=1e-5):
    axes = (0, *range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    g, b = gamma.reshape(shape), beta.reshape(shape)
    outs, parts = [], []
    for start in range(0, x.shape[0], VIRTUAL_BATCH_SIZE):
        y, part = _one_chunk(x[start : start + VIRTUAL_BATCH_SIZE], g, b, eps, axes)
        outs.append(y)
        parts.append(part)
    return np.concatenate(outs, axis=0), (parts, g, axes)


def ghost_backward(dout, cache):
    parts, g, axes = cache
    dxs, dgamma, dbeta = [], 0.0, 0.0
    for i, (xhat, inv) in enumerate(parts):
        d = dout[i * VIRTUAL_BATCH_SIZE : (i + 1) * VIRTUAL_BATCH_SIZE]
        dgamma = dgamma + (d * xhat).sum(axis=axes)
        dbeta = dbeta + d.sum(axis=axes)
        dxh = d * g
        dxs.append(
            inv
            * (
                dxh
                - dxh.mean(axis=axes, keepdims=True)
                - xhat * (dxh * xhat).mean(axis=axes, keepdims=True)
            )
        )
    return np.concatenate(dxs, axis=0), dgamma, dbeta
