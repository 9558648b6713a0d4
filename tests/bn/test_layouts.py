"""Every memory layout a NumPy user may legally pass, through the public API.

Inputs (x, dy, gamma, beta, the running statistics) in Fortran order, with negative strides,
stepped, transposed, at an odd byte offset (misaligned: this one reaches the compiled kernels
as it is, the others are copied to C order first), broadcast and read-only, in float16, float32
and float64, ranks 2 to 5, channels first and last: train forward and backward, eval forward
and backward, and the layer. Each result must be

- bitwise the result for an aligned, C-contiguous copy of the same values (the layout changes
  nothing; except eval mode's dgamma and dbeta, summed by NumPy in the layout's order), and
- close to a float64 NumPy reference (``tests/plain_bn.py`` on the values widened to float64;
  the closed forms for eval), within a few units of the dtype relative to the output's size.

The same layouts run under AddressSanitizer and UndefinedBehaviorSanitizer in
``benchmarks/sanitize.py`` (tests/bn/test_sanitizers.py), which is what catches a misaligned
load in C: on x86-64 it gives the right numbers anyway.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import bncheck
from tests.layouts import LAYOUTS, relayout
from tests.plain_bn import plain_bn

FArray = NDArray[np.floating[Any]]
DTYPES = (np.float16, np.float32, np.float64)
SHAPES = ((6, 3), (4, 3, 5), (3, 3, 2, 4), (2, 3, 2, 2, 3))
EPS = 1e-3

#: error allowed against the float64 reference, relative to max |reference| of the output (at
#: least 1): a few
#: units of the dtype (the reference's own error, a float64 recursive sum over m <= 36 values,
#: is far below these)
TOLERANCE = {
    np.dtype(np.float16): 2.0**-8,
    np.dtype(np.float32): 2.0**-20,
    np.dtype(np.float64): 2.0**-40,
}


#: outputs whose last bits may depend on the layout: inference_backward sums dgamma and dbeta
#: with NumPy (``channel_sum``), whose order of additions follows the memory layout of dy
LAYOUT_DEPENDENT = ("dgamma_eval", "dbeta_eval")


def _close(name: str, got: Any, ref: NDArray[np.float64], dtype: Any) -> None:
    got64 = np.asarray(got, dtype=np.float64)
    assert got64.shape == ref.shape, name
    # the outputs here are of order 1 or more, except degenerate ones (dx of a dy constant per
    # channel, as a broadcast dy is, is exactly 0; the reference holds rounding noise there)
    scale = max(float(np.max(np.abs(ref))), 1.0)
    err = float(np.max(np.abs(got64 - ref))) / scale
    assert err <= TOLERANCE[np.dtype(dtype)], f"{name}: {err:.3g} of max |reference|"


def _same_bytes(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    a, b = np.asarray(a), np.asarray(b)
    return bool(a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes())


def _inputs(rank_shape: tuple[int, ...], dtype: Any, axis: int, seed: int) -> dict[str, FArray]:
    rng = np.random.default_rng(seed)
    c = rank_shape[axis]
    return {
        "x": rng.normal(3.0, 2.0, rank_shape).astype(dtype),
        "dy": rng.normal(size=rank_shape).astype(dtype),
        "gamma": rng.uniform(0.5, 2.0, c).astype(dtype),
        "beta": rng.normal(size=c).astype(dtype),
        "mean": rng.normal(3.0, 1.0, c).astype(dtype),
        "var": rng.uniform(1.0, 5.0, c).astype(dtype),
    }


def _views(values: dict[str, FArray], x_layout: str, dy_layout: str, vec_layout: str, axis: int):
    """The inputs in their layouts (x and dy broadcast along an axis other than the channel's,
    vectors never broadcast: they need one value per channel)."""
    other = 0 if axis % values["x"].ndim != 0 else -1
    out = {
        "x": relayout(values["x"], x_layout, broadcast_axis=other),
        "dy": relayout(values["dy"], dy_layout, broadcast_axis=other),
    }
    vlayout = "stepped" if vec_layout == "broadcast" else vec_layout
    for k in ("gamma", "beta", "mean", "var"):
        out[k] = relayout(values[k], vlayout)
    return out


def _c_copy(views: dict[str, FArray]) -> dict[str, FArray]:
    return {k: np.array(v, order="C") for k, v in views.items()}


def _run(v: dict[str, FArray], axis: int) -> dict[str, Any]:
    """Every public computation on the inputs v."""
    y, cache = bncheck.batchnorm_forward(v["x"], v["gamma"], v["beta"], eps=EPS, axis=axis)
    grads = bncheck.batchnorm_backward(v["dy"], cache)
    y_eval = bncheck.batchnorm_inference(
        v["x"], v["gamma"], v["beta"], v["mean"], v["var"], eps=EPS, axis=axis
    )
    eval_grads = bncheck.inference_backward(
        v["dy"], v["x"], v["gamma"], v["mean"], v["var"], eps=EPS, axis=axis
    )
    return {
        "y": y,
        "dx": grads.dx,
        "dgamma": grads.dgamma,
        "dbeta": grads.dbeta,
        "y_eval": y_eval,
        "dx_eval": eval_grads.dx,
        "dgamma_eval": eval_grads.dgamma,
        "dbeta_eval": eval_grads.dbeta,
    }


def _reference(v: dict[str, FArray], axis: int) -> dict[str, NDArray[np.float64]]:
    """Float64 NumPy reference of _run's outputs on the values of v."""
    w = {k: np.array(a, dtype=np.float64) for k, a in v.items()}
    x, dy, ax = w["x"], w["dy"], axis % w["x"].ndim
    plain = plain_bn(x, w["gamma"], w["beta"], dy, EPS, ax)
    shape = [1] * x.ndim
    shape[ax] = -1
    inv = 1.0 / np.sqrt(w["var"] + EPS)
    x_hat = (x - w["mean"].reshape(shape)) * inv.reshape(shape)
    others = tuple(i for i in range(x.ndim) if i != ax)
    return {
        "y": plain.y,
        "dx": plain.dx,
        "dgamma": plain.dgamma,
        "dbeta": plain.dbeta,
        "y_eval": x_hat * w["gamma"].reshape(shape) + w["beta"].reshape(shape),
        "dx_eval": dy * (w["gamma"] * inv).reshape(shape),
        "dgamma_eval": (dy * x_hat).sum(axis=others),
        "dbeta_eval": dy.sum(axis=others),
    }


def _cases() -> list[Any]:
    cases = []
    i = 0
    for dtype in DTYPES:
        for shape in SHAPES:
            for axis in (1, -1):
                for x_layout in LAYOUTS:
                    # dy and the vectors in other layouts than x, cycling through all of them
                    dy_layout = LAYOUTS[(i + 3) % len(LAYOUTS)]
                    vec_layout = LAYOUTS[(i + 5) % len(LAYOUTS)]
                    cid = f"{np.dtype(dtype).name}-{len(shape)}d-axis{axis}-x_{x_layout}"
                    cases.append(
                        pytest.param(dtype, shape, axis, x_layout, dy_layout, vec_layout, i, id=cid)
                    )
                    i += 1
    return cases


@pytest.mark.parametrize(
    ("dtype", "shape", "axis", "x_layout", "dy_layout", "vec_layout", "seed"), _cases()
)
def test_any_layout_gives_the_bytes_of_a_contiguous_copy_and_the_reference(
    dtype: Any,
    shape: tuple[int, ...],
    axis: int,
    x_layout: str,
    dy_layout: str,
    vec_layout: str,
    seed: int,
) -> None:
    views = _views(_inputs(shape, dtype, axis, seed), x_layout, dy_layout, vec_layout, axis)
    before = {k: np.array(v) for k, v in views.items()}
    got = _run(views, axis)
    copy = _c_copy(views)
    expected = _run(copy, axis)
    for name, value in got.items():
        if name in LAYOUT_DEPENDENT:
            continue
        assert _same_bytes(value, expected[name]), f"{name} differs from the C-contiguous copy's"
    for name, ref in _reference(copy, axis).items():
        _close(name, got[name], ref, dtype)
    for k, v in views.items():  # the inputs are left as they were
        assert np.array_equal(v, before[k]), k


def _layer_run(x: FArray, dy: FArray, vec: Any, dtype: Any) -> list[Any]:
    bn = bncheck.BatchNorm(x.shape[1], dtype=dtype)
    y = bn(x)
    grads = bn.backward(dy)
    bn.eval()
    # running statistics assigned in the layout, as a user may
    bn.running_mean = vec(np.asarray(bn.running_mean))
    bn.running_var = vec(np.asarray(bn.running_var))
    return [y, *grads, bn(x), *bn.backward(dy)]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_a_layer_takes_any_layout_in_training_and_eval(layout: str, dtype: Any) -> None:
    rng = np.random.default_rng(len(layout))
    x = relayout(rng.normal(1.0, 3.0, (5, 4, 3)).astype(dtype), layout, broadcast_axis=0)
    dy = relayout(rng.normal(size=x.shape).astype(dtype), layout, broadcast_axis=0)
    vec_layout = "stepped" if layout == "broadcast" else layout  # one value per channel
    got = _layer_run(x, dy, lambda v: relayout(v, vec_layout), dtype)
    expected = _layer_run(np.array(x), np.array(dy), np.array, dtype)
    for i, (a, b) in enumerate(zip(got, expected, strict=True)):
        # eval mode's dgamma and dbeta (the last two) are summed by NumPy in the layout's order
        if i < len(got) - 2:
            assert _same_bytes(a, b), i
        else:
            _close(f"eval output {i}", a, np.asarray(b, dtype=np.float64), dtype)
