"""The host-side transfers of the JAX-family targets (the framework trees module): a cast,
a NumPy array put on the device and the zeros of a forward-only train step compile no program
(XLA compiles one per shape, and a verification sends dozens of shapes: only the layer's own
steps may cost a compilation), and they give NumPy's values and dtypes."""

from __future__ import annotations

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
    """The names of the compilation events recorded while the test runs."""
    import jax

    seen: list[str] = []

    def listen(event: str, duration: float, **kwargs: Any) -> None:
        if event == _COMPILE_EVENT:
            seen.append(event)

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
