"""Equinox: a user eqx.Module holding eqx.nn.BatchNorm (mode="ema") and passing the state."""

import equinox as eqx


class EmaNorm(eqx.Module):
    bn: eqx.nn.BatchNorm

    def __init__(self, num_features):
        self.bn = eqx.nn.BatchNorm(num_features, axis_name="batch", momentum=0.9, mode="ema")

    def __call__(self, x, state, *, key=None, inference=None):
        return self.bn(x, state, key=key, inference=inference)
