"""Family targets in public forms the first corpora did not have (issue 23, held-out corpus 7's
misses generalised), NumPy only; ``tests/impls/family_forms_torch.py`` has the torch ones.

- ``rmsnorm1p``: a functional RMSNorm scaling by (1 + weight), weight initialised to 0 (Gemma's
  form, also Flax code's ``1 + scale``): correct;
- ``GemmaRMSNormLayer``: the same as a hand-written layer, dweight left on the layer: correct;
- ``ExpScaleRMSNorm``: a layer scaling by exp(scale) (not affine in its parameter): bncheck
  cannot set its gamma and says so;
- ``nhwc_groupnorm``: a channels-last (N, ..., C) group norm, G an argument: correct with
  ``--axis -1``;
- ``ConvNextLayerNorm``: a layer norm over the channel axis of (N, C, ...) (ConvNeXt's
  channels_first), hand-written backward: correct;
- ``instancenorm_epsout``: an instance norm with eps outside the square root and a two-pass
  variance, the backward exact for that forward: eps-outside-sqrt only, in float32 too.
"""

import numpy as np


def rmsnorm1p_forward(x, weight, eps):
    r = 1.0 / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps)
    xh = x * r
    scale = 1.0 + weight
    return xh * scale, (xh, r, scale)


def rmsnorm1p_backward(dout, cache):
    xh, r, scale = cache
    d = dout * scale
    dx = r * (d - xh * (d * xh).mean(axis=-1, keepdims=True))
    dweight = (dout * xh).reshape(-1, xh.shape[-1]).sum(axis=0)
    return dx, dweight


class GemmaRMSNormLayer:
    def __init__(self, dim, eps=1e-6):
        self.weight = np.zeros(dim)
        self.eps = eps

    def forward(self, x):
        self.r = 1.0 / np.sqrt((x * x).mean(axis=-1, keepdims=True) + self.eps)
        self.xh = x * self.r
        return self.xh * (1.0 + self.weight)

    def backward(self, dout):
        d = dout * (1.0 + self.weight)
        dx = self.r * (d - self.xh * (d * self.xh).mean(axis=-1, keepdims=True))
        self.dweight = (dout * self.xh).reshape(-1, self.xh.shape[-1]).sum(axis=0)
        return dx


class ExpScaleRMSNorm:
    """scale holds a log-scale: y = x_hat·exp(scale)."""

    def __init__(self, dim, eps=1e-6):
        self.scale = np.zeros(dim)
        self.eps = eps

    def forward(self, x):
        self.r = 1.0 / np.sqrt((x * x).mean(axis=-1, keepdims=True) + self.eps)
        self.xh = x * self.r
        return self.xh * np.exp(self.scale)

    def backward(self, dout):
        g = np.exp(self.scale)
        d = dout * g
        dx = self.r * (d - self.xh * (d * self.xh).mean(axis=-1, keepdims=True))
        self.dscale = (dout * self.xh).reshape(-1, self.xh.shape[-1]).sum(axis=0) * g
        return dx


def nhwc_groupnorm_forward(x, gamma, beta, G, eps):
    n, c = x.shape[0], x.shape[-1]
    xg = x.reshape(n, -1, G, c // G)
    mu = xg.mean(axis=(1, 3), keepdims=True)
    xc = xg - mu
    inv = 1.0 / np.sqrt((xc**2).mean(axis=(1, 3), keepdims=True) + eps)
    xh = xc * inv
    return xh.reshape(x.shape) * gamma + beta, (xh, inv, gamma, x.shape, G)


def nhwc_groupnorm_backward(dout, cache):
    xh, inv, gamma, shape, G = cache
    n, c = shape[0], shape[-1]
    dgamma = (dout * xh.reshape(shape)).reshape(-1, c).sum(axis=0)
    dbeta = dout.reshape(-1, c).sum(axis=0)
    d = (dout * gamma).reshape(n, -1, G, c // G)
    axes = (1, 3)
    dx = inv * (d - d.mean(axis=axes, keepdims=True) - xh * (d * xh).mean(axis=axes, keepdims=True))
    return dx.reshape(shape), dgamma, dbeta


class ConvNextLayerNorm:
    def __init__(self, normalized_shape, eps=1e-6):
        self.weight = np.ones(normalized_shape)
        self.bias = np.zeros(normalized_shape)
        self.eps = eps

    def forward(self, x):
        self.side = (1, -1) + (1,) * (x.ndim - 2)
        xc = x - x.mean(axis=1, keepdims=True)
        self.inv = 1.0 / np.sqrt((xc**2).mean(axis=1, keepdims=True) + self.eps)
        self.xh = xc * self.inv
        return self.weight.reshape(self.side) * self.xh + self.bias.reshape(self.side)

    def backward(self, dout):
        red = (0, *range(2, dout.ndim))
        self.dweight = (dout * self.xh).sum(axis=red)
        self.dbias = dout.sum(axis=red)
        d = dout * self.weight.reshape(self.side)
        xh = self.xh
        return self.inv * (
            d - d.mean(axis=1, keepdims=True) - xh * (d * xh).mean(axis=1, keepdims=True)
        )


def instancenorm_epsout_forward(x, gamma, beta, eps):
    axes = tuple(range(2, x.ndim))
    if not axes:
        raise ValueError(f"expected 3-D or 4-D input (N, C, ...), got {x.ndim}-D")
    side = (1, -1) + (1,) * (x.ndim - 2)
    xc = x - x.mean(axis=axes, keepdims=True)
    sd = np.sqrt((xc**2).mean(axis=axes, keepdims=True))
    d = sd + eps
    g = gamma.reshape(side)
    return g * (xc / d) + beta.reshape(side), (xc, sd, d, g, axes)


def instancenorm_epsout_backward(dout, cache):
    xc, sd, d, g, axes = cache
    red = (0, *axes)
    dgamma = (dout * xc / d).sum(axis=red)
    dbeta = dout.sum(axis=red)
    delta = dout * g
    dx = (delta - delta.mean(axis=axes, keepdims=True)) / d - xc * (delta * xc).mean(
        axis=axes, keepdims=True
    ) / (d**2 * sd)
    return dx, dgamma, dbeta
