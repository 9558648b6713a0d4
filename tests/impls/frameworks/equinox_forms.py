"""Equinox in other public forms, for tests/check/test_verify_framework_forms.py: a factory of
eqx.nn.BatchNorm (mode="ema", Equinox's documented design: passes), and a user's plain class
holding an Equinox model with the BN as its field and the model's eqx.nn.State beside it
(mode="batch": Equinox's debiasing of a variance that starts at 1, named)."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax


def make_bn(num_features: int) -> eqx.nn.BatchNorm:
    return eqx.nn.BatchNorm(num_features, axis_name="batch", mode="ema")


class Net(eqx.Module):
    bn: eqx.nn.BatchNorm

    def __init__(self, num_features: int) -> None:
        self.bn = eqx.nn.BatchNorm(num_features, axis_name="batch", momentum=0.9, mode="batch")

    def __call__(self, x: Any, state: Any, inference: bool) -> Any:
        return self.bn(x, state, inference=inference)


class Trainer:
    """Forward by jax.vmap over the batch, backward by the pullback of eqx.filter_vjp."""

    def __init__(self, num_features: int) -> None:
        self.net, self.state = eqx.nn.make_with_state(Net)(num_features)
        self.grads: Any = None
        self._pullback: Any = None

    def forward(self, x: Any, train: bool = True) -> Any:
        def run(net: Any, xs: Any) -> Any:
            batched = jax.vmap(
                lambda xi, st: net(xi, st, not train),
                in_axes=(0, None),
                out_axes=(0, None),
                axis_name="batch",
            )
            return batched(xs, self.state)

        y, self._pullback, state = eqx.filter_vjp(run, self.net, x, has_aux=True)
        if train:
            self.state = state
        return y

    def backward(self, dy: Any) -> Any:
        self.grads, dx = self._pullback(dy)
        return dx
