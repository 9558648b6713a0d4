"""A factory returning an Equinox BatchNorm in "ema" mode."""

import equinox as eqx


def make_batchnorm(c):
    return eqx.nn.BatchNorm(c, axis_name="batch", eps=1e-4, momentum=0.9, mode="ema")
