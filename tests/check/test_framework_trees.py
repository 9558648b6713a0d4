"""The host-side transfers of the JAX-family targets (the framework trees module): a cast,
a NumPy array put on the device and the zeros of a forward-only train step compile no program
(XLA compiles one per shape, and a verification sends dozens of shapes: only the layer's own
steps may cost a compilation), and they give NumPy's values and dtypes; and the adapters'
cache: a call shape a target was already driven with compiles nothing again."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from tests.frameworks import marks

pytestmark = marks("jax")

#: the event JAX records for each program XLA compiles
_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


@pytest.fixture
def compiles() -> Iterator[list[str]]:
    """The names of the programs XLA compiled while the test runs (``jit(step)``, ...)."""
    import jax

    seen: list[str] = []

    def listen(event: str, duration: float, **kwargs: Any) -> None:
        if event == _COMPILE_EVENT:
            seen.append(str(kwargs.get("fun_name", event)))

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        yield seen
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)


def test_the_listener_sees_a_compilation(compiles: list[str]) -> None:
    import jax

    jax.jit(lambda a: a * 3 + 1)(np.arange(7.0))  # a shape compiled nowhere else
    assert compiles


def test_put_array_and_cast_tree_compile_nothing_and_round_as_numpy(
    compiles: list[str],
) -> None:
    from tests.internals import trees

    cast_tree, put_array = trees.cast_tree, trees.put_array

    rng = np.random.default_rng(3)
    for c in (1, 3, 5, 11, 29):
        x = rng.normal(size=(c + 2, c))
        tree = {"a": put_array(x.astype(np.float32)), "n": put_array(np.arange(c))}
        down = cast_tree({"w": x}, "float16")["w"]
        np.testing.assert_array_equal(np.asarray(down), x.astype(np.float16))
        assert np.asarray(down).dtype == np.float16
        up = cast_tree(tree, "float16", promote=True)  # never narrower than it is
        assert np.asarray(up["a"]).dtype == np.float32
        assert np.asarray(up["n"]).dtype == np.asarray(tree["n"]).dtype  # integers untouched
        as32 = put_array(x, np.float32)
        np.testing.assert_array_equal(np.asarray(as32), x.astype(np.float32))
        layouts = (x.T.copy().T, x[::-1], x[:, ::-1])  # Fortran, negative strides
        for laid in layouts:  # the values as laid out (float64 is float32 with x64 off)
            got = np.asarray(put_array(laid))
            np.testing.assert_array_equal(got, laid.astype(got.dtype))
    assert compiles == []


def test_a_forward_only_step_takes_zeros_without_compiling_them(compiles: list[str]) -> None:
    from tests.internals import trees

    Built, put_array = trees.Built, trees.put_array

    seen: list[Any] = []

    def call(train: bool, p: Any, s: Any, x: Any) -> Any:
        return x * p["g"], s

    built = Built(call, {"g": put_array(np.float32(2.0))}, {}, None, None)
    x = put_array(np.arange(6, dtype=np.float32).reshape(3, 2))
    y, _, (grads, dx) = built.step(built.params, built.stats, x, None)
    seen.append(len(compiles))  # the step itself: one program
    np.testing.assert_array_equal(np.asarray(y), np.asarray(x) * 2)
    np.testing.assert_array_equal(np.asarray(dx), np.zeros((3, 2), np.float32))
    assert float(grads["g"]) == 0.0
    built.step(built.params, built.stats, x, None)
    assert seen == [1] and len(compiles) == 1  # the same shape again: nothing new


#: JAX-family BN classes driven in this process (Keras is not: it picks its backend when first
#: imported, which the target process does)
_FAMILY = [
    pytest.param("flax.linen", id="flax.linen"),
    pytest.param("flax.nnx", id="flax.nnx"),
    pytest.param("equinox.nn", id="equinox", marks=marks("equinox")),
    pytest.param("haiku", id="haiku", marks=marks("haiku")),
]


@pytest.mark.parametrize("module", _FAMILY)
def test_a_call_shape_driven_before_compiles_nothing_again(
    module: str, compiles: list[str]
) -> None:
    """A verification sends each shape several times (forward, backward, the checks that
    repeat a call) and switches between float64 and float32: the built steps are kept per
    (C, dtype, rank) and each call shape is one program, compiled once."""
    import jax

    from tests.internals import frameworks

    target = importlib.import_module(module).BatchNorm
    adapter = frameworks.framework_adapter(target, 1, (2,), name=f"{module}.BatchNorm")
    assert adapter is not None
    rng = np.random.default_rng(9)
    x64 = jax.config.read("jax_enable_x64")

    def drive(dtype: str, n: int, c: int = 3, *, eval_too: bool = True) -> int:
        """The programs compiled by one new/forward/backward(/eval) round on an (n, c) input."""
        before = len(compiles)
        adapter.new(c, dtype, 1e-5, 2)
        adapter.set_params(rng.normal(1.0, 0.2, size=c), rng.normal(size=c))
        x = rng.normal(2.0, 1.5, size=(n, c)).astype(dtype)
        y = adapter.forward(x, True)
        dx, _, _ = adapter.backward(rng.normal(size=(n, c)).astype(dtype))
        assert y.shape == dx.shape == (n, c) and np.all(np.isfinite(y)) and np.all(np.isfinite(dx))
        if eval_too:
            adapter.forward(x, False)
        return len(compiles) - before

    try:
        assert drive("float32", 6) >= 2  # the first round: at least the train step and eval
        assert compiles.count("jit(step)") == 1
        assert drive("float32", 6) == 0  # the same call shape again: nothing compiled
        assert drive("float64", 6) >= 2  # another dtype: its own programs
        assert drive("float32", 6) == 0  # and back: both kept
        assert drive("float64", 6) == 0
        # another batch size of a built (C, dtype): its train step alone, forward and backward
        # in one program; the parameters are not built again
        assert drive("float32", 7, eval_too=False) == 1
        assert drive("float32", 7, eval_too=False) == 0
        assert compiles.count("jit(step)") == 3
    finally:
        jax.config.update("jax_enable_x64", x64)
