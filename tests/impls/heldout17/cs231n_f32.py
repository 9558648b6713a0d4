"""cs231n-style module (batchnorm_forward(x, gamma, beta, bn_param) with mode
"train"/"test", batchnorm_backward(dout, cache), spatial_batchnorm_* for 4-D) that
silently computes in float32.  PLANTED BUG: float64 input is computed in float32.

Style: the assignment's layers.py, written by someone who set a global `DTYPE = np.float32`
"for speed, like the GPU": every input is cast to float32 on entry, the running statistics
are float32 arrays, and every result is cast back to the caller's dtype on return, so a
float64 caller gets float64 arrays holding float32-accurate numbers.  Running statistics
follow the assignment's convention (momentum 0.9 on the old value, biased variance).
float32 input is computed correctly.

    bncheck verify cs231n_f32.py
"""

import numpy as np

DTYPE = np.float32


def batchnorm_forward(x, gamma, beta, bn_param):
    out_dtype = x.dtype
    x = x.astype(DTYPE)
    gamma, beta = gamma.astype(DTYPE), beta.astype(DTYPE)
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    _, D = x.shape  # (N, D) only; 4-D goes through spatial_batchnorm_forward
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=DTYPE))
    running_var = bn_param.get("running_var", np.ones(D, dtype=DTYPE))
    cache = None
    if mode == "train":
        sample_mean = x.mean(axis=0)
        xmu = x - sample_mean
        sample_var = (xmu**2).mean(axis=0)
        ivar = (1.0 / np.sqrt(sample_var + DTYPE(eps))).astype(DTYPE)
        xhat = xmu * ivar
        out = gamma * xhat + beta
        running_mean = (momentum * running_mean + (1 - momentum) * sample_mean).astype(DTYPE)
        running_var = (momentum * running_var + (1 - momentum) * sample_var).astype(DTYPE)
        cache = (xhat, gamma, ivar, out_dtype)
    elif mode == "test":
        out = gamma * (x - running_mean) / np.sqrt(running_var + DTYPE(eps)) + beta
    else:
        raise ValueError(f'Invalid forward batchnorm mode "{mode}"')
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out.astype(out_dtype), cache


def batchnorm_backward(dout, cache):
    xhat, gamma, ivar, out_dtype = cache
    dout = dout.astype(DTYPE)
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    dx = (ivar / N) * (N * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))
    return dx.astype(out_dtype), dgamma.astype(out_dtype), dbeta.astype(out_dtype)


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    N, C, H, W = x.shape
    flat = x.transpose(0, 2, 3, 1).reshape(-1, C)
    out, cache = batchnorm_forward(flat, gamma, beta, bn_param)
    return out.reshape(N, H, W, C).transpose(0, 3, 1, 2), cache


def spatial_batchnorm_backward(dout, cache):
    N, C, H, W = dout.shape
    dx, dgamma, dbeta = batchnorm_backward(dout.transpose(0, 2, 3, 1).reshape(-1, C), cache)
    return dx.reshape(N, H, W, C).transpose(0, 3, 1, 2), dgamma, dbeta
