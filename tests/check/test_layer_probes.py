"""The layer adapter's probes (``bncheck.check._verify.targets.layer``) and the loader's choice
of a class (``dispatch``), tested directly in this process: the output must follow a parameter
pair in every channel, parameter pairs the output follows none of are refused by name (never
resolved by taking the first), and so is a module with several BN classes.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import pytest

from bncheck.exceptions import LoadError
from tests.internals import load_adapter, output_follows

# -- the criterion: every channel moved -------------------------------------------------------

Y1 = np.arange(24, dtype=float).reshape(4, 3, 2)


@pytest.mark.parametrize(
    ("moved", "follows"),
    [
        pytest.param([1.0, 1.0, 1.0], True, id="every-channel"),
        pytest.param([1.0, 0.0, 1.0], False, id="one-channel-still"),
        pytest.param([0.0, 0.0, 1.0], False, id="one-channel-moved"),
        pytest.param([0.0, 0.0, 0.0], False, id="none"),
        pytest.param([1e-3, 1e-3, 1e-3], True, id="a-small-move-is-a-move"),
    ],
)
def test_the_output_follows_the_parameters_only_when_every_channel_moves(
    moved: list[float], follows: bool
) -> None:
    y2 = Y1 + np.array(moved).reshape(1, 3, 1)
    assert output_follows(Y1, y2) is follows


def test_a_move_below_a_billionth_of_the_channels_size_is_no_move() -> None:
    y1 = np.full((4, 2), 1e6)
    y2 = y1 + np.array([1e-4, 1.0])  # 1e-4 < 1e-9·(1e6 + 1); 1.0 is above it
    assert output_follows(y1, y2) is False
    assert output_follows(y1, y1 + 1.0) is True


# -- choosing the parameter pair --------------------------------------------------------------


def bn_layer(follows: str | None) -> type:
    """A NumPy BN layer holding gamma/beta and weight/bias; its output uses the pair named by
    ``follows`` (None: neither, a normalisation without affine parameters)."""

    class TwoPairs:
        def __init__(self, num_features: int) -> None:
            c = num_features
            self.gamma, self.beta = np.ones(c), np.zeros(c)
            self.weight, self.bias = np.ones(c), np.zeros(c)
            self.training = True

        def train(self) -> None:
            self.training = True

        def eval(self) -> None:
            self.training = False

        def _affine(self) -> tuple[Any, Any]:
            if follows == "gamma":
                return self.gamma, self.beta
            if follows == "weight":
                return self.weight, self.bias
            return 1.0, 0.0

        def forward(self, x: Any) -> Any:
            axes = (0, *range(2, x.ndim))
            shape = (1, -1) + (1,) * (x.ndim - 2)
            mu = x.mean(axis=axes, keepdims=True)
            inv = 1.0 / np.sqrt(x.var(axis=axes, keepdims=True) + 1e-5)
            self.cache = (x - mu) * inv, inv, axes, shape
            g, b = self._affine()
            return np.reshape(g, shape) * self.cache[0] + np.reshape(b, shape)

        def backward(self, dy: Any) -> Any:
            x_hat, inv, axes, shape = self.cache
            g, _ = self._affine()
            dgamma = (dy * x_hat).sum(axis=axes)
            dbeta = dy.sum(axis=axes)
            m = dy.size // dy.shape[1]
            dxh = dy * np.reshape(g, shape)
            dx = (
                inv
                / m
                * (
                    m * dxh
                    - dxh.sum(axis=axes, keepdims=True)
                    - x_hat * (dxh * x_hat).sum(axis=axes, keepdims=True)
                )
            )
            return dx, dgamma, dbeta

    return TwoPairs


@pytest.mark.parametrize(
    ("follows", "chosen"),
    [
        pytest.param("gamma", "parameters: gamma, beta", id="gamma-beta"),
        pytest.param("weight", "parameters: weight, bias", id="weight-bias"),
    ],
)
def test_of_two_parameter_pairs_the_one_the_output_follows_is_chosen(
    follows: str, chosen: str
) -> None:
    adapter = load_adapter(bn_layer(follows))
    described = adapter.describe()
    assert chosen in described["mapping"]


def test_parameter_pairs_the_output_follows_none_of_are_refused_naming_every_candidate() -> None:
    adapter = load_adapter(bn_layer(None))
    with pytest.raises(LoadError, match="follows none of them") as info:
        adapter.describe()
    assert "gamma/beta, weight/bias" in str(info.value)


# -- choosing the class of a module -----------------------------------------------------------


def module_with(*names: str) -> types.ModuleType:
    module = types.ModuleType("user_bn_module")
    for name in names:
        cls = type(name, (bn_layer("gamma"),), {"__module__": module.__name__})
        setattr(module, name, cls)
    return module


def test_a_module_with_one_bn_class_is_that_class() -> None:
    adapter = load_adapter(module_with("MyBatchNorm"))
    assert adapter.name.endswith(":MyBatchNorm")


@pytest.mark.parametrize(
    "names",
    [
        pytest.param(("BatchNormA", "BatchNormB"), id="two"),
        pytest.param(("BNLayer", "LayerNorm", "MyBN"), id="three"),
    ],
)
def test_a_module_with_several_bn_classes_is_refused_naming_them_all(
    names: tuple[str, ...],
) -> None:
    with pytest.raises(LoadError, match="several layer classes") as info:
        load_adapter(module_with(*names))
    assert ", ".join(sorted(names)) in str(info.value)
