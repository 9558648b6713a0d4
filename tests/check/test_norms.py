"""NormSpec: its decisions (axes, columns, parameters, errors), and a Layer Normalization
instance checked against the mpmath truth and finite differences with no engine change.

The LayerNorm below is written here, in NumPy, from its definition: statistics over the last k
axes of each sample, per-element gamma and beta over those axes. Expected values come from
independent computations (the mpmath truth with the spec, finite differences of the forward,
the complex step); the tolerances from the tolerance table (``compare``'s budgets,
``fd_noise``).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from bncheck.check.finite_diff import RICHARDSON_STEPS
from bncheck.check.gradient_check import check_directional, complex_batchnorm_forward
from bncheck.check.metrics import compare
from bncheck.check.norms import (
    BATCH_NORM,
    NormSpec,
    batch_norm,
    columns,
    from_columns,
    m,
    parameter_shape,
    resolve,
)
from bncheck.check.tolerances import fd_noise
from bncheck.check.truth import exact_batchnorm, exact_inference

F64 = NDArray[np.float64]


def layer_norm(k: int) -> NormSpec:
    axes = tuple(range(-k, 0))
    return NormSpec(reduce=axes, params=axes, name=f"layer norm over the last {k} axes")


# -- the decisions ------------------------------------------------------------------------------


@pytest.mark.parametrize("ndim", [2, 3, 4, 5])
def test_batch_norm_reduces_every_axis_but_1_and_its_columns_are_the_channels(ndim: int) -> None:
    shape = tuple(range(2, 2 + ndim))
    x = np.random.default_rng(ndim).standard_normal(shape)
    assert BATCH_NORM.reduced(ndim) == (0, *range(2, ndim))
    assert BATCH_NORM.kept(ndim) == (1,)
    assert BATCH_NORM.parameter_shape(shape) == parameter_shape(shape) == (shape[1],)
    assert BATCH_NORM.m(shape) == m(shape) == x.size // shape[1]
    cols = columns(x)
    np.testing.assert_array_equal(cols, np.moveaxis(x, 1, -1).reshape(-1, shape[1]))
    np.testing.assert_array_equal(from_columns(cols, shape), x)
    assert BATCH_NORM.param_is_column(ndim) and BATCH_NORM.params_per_column(ndim)


@pytest.mark.parametrize("ndim", [2, 3, 4, 5])
def test_columns_round_trip_for_every_spec_of_each_rank(ndim: int) -> None:
    shape = tuple(range(2, 2 + ndim))
    x = np.random.default_rng(ndim).standard_normal(shape)
    for r in range(1, ndim + 1):
        for reduce in itertools.combinations(range(ndim), r):
            for neg in (False, True):
                axes = tuple(a - ndim for a in reduce) if neg else reduce
                spec = NormSpec(reduce=axes, params=(0,))
                cols = spec.columns(x)
                kept = [a for a in range(ndim) if a not in reduce]
                assert cols.shape == (spec.m(shape), spec.groups(shape))
                assert spec.m(shape) == int(np.prod([shape[a] for a in reduce]))
                assert spec.groups(shape) == int(np.prod([shape[a] for a in kept]))
                np.testing.assert_array_equal(spec.from_columns(cols, shape), x)
                # a column holds exactly the values of one position of the kept axes
                moved = np.transpose(x, (*reduce, *kept)).reshape(cols.shape)
                np.testing.assert_array_equal(cols, moved)


def test_negative_axes_resolve_against_the_rank() -> None:
    ln = layer_norm(2)
    assert ln.reduced(3) == (1, 2) and ln.reduced(5) == (3, 4)
    assert ln.kept(4) == (0, 1) and ln.param_axes(4) == (2, 3)
    assert ln.parameter_shape((2, 3, 4, 5)) == (4, 5)
    assert not ln.params_per_column(4)
    assert batch_norm(-1).reduced(4) == (0, 1, 2)
    assert batch_norm(1) is BATCH_NORM
    instance = NormSpec(keep=(0, 1), params=(1,))
    assert instance.params_per_column(4) and not instance.param_is_column(4)


def test_a_parameter_broadcasts_over_its_columns() -> None:
    ln = layer_norm(1)
    g = np.arange(4.0)
    cols = ln.param_columns(g, (3, 4))
    assert cols.shape == (4, 3)
    np.testing.assert_array_equal(cols, np.repeat(g[:, None], 3, axis=1))
    np.testing.assert_array_equal(ln.param_sum(np.ones((3, 4))), np.full(4, 3.0))
    bn = BATCH_NORM.param_columns(np.arange(3.0), (5, 3, 2))
    np.testing.assert_array_equal(bn, np.broadcast_to(np.arange(3.0), (10, 3)))


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"reduce": (0,), "keep": (1,)}, ["reduce=(0,)", "keep=(1,)", "exactly one"]),
        ({}, ["reduce=None", "keep=None", "exactly one"]),
        ({"reduce": (0, 0)}, ["reduce=(0, 0)", "repeats"]),
        ({"reduce": ("a",)}, ["reduce=('a',)", "int"]),
        ({"reduce": (1.5,)}, ["reduce=(1.5,)", "int"]),
        ({"reduce": ()}, ["reduce=()", "nothing"]),
        ({"keep": (1,), "params": (True,)}, ["params=(True,)", "int"]),
        ({"keep": (1,), "name": 3}, ["name=3"]),
    ],
)
def test_a_bad_spec_is_refused_naming_the_argument_and_its_value(
    kwargs: dict[str, Any], words: list[str]
) -> None:
    with pytest.raises(ValueError) as info:
        NormSpec(**kwargs)
    for w in words:
        assert w in str(info.value)


def test_axes_out_of_range_are_refused_when_the_rank_is_known() -> None:
    with pytest.raises(ValueError, match=r"reduce=\(3,\) has axis 3, out of range for rank 2"):
        NormSpec(reduce=(3,)).reduced(2)
    with pytest.raises(ValueError, match=r"keep=\(-3,\) has axis -3, out of range for rank 2"):
        NormSpec(keep=(-3,)).kept(2)
    with pytest.raises(ValueError, match=r"reduce=\(1, -1\) names one axis twice for rank 2"):
        NormSpec(reduce=(1, -1)).reduced(2)
    with pytest.raises(ValueError, match=r"params=\(5,\) has axis 5"):
        BATCH_NORM.__class__(keep=(1,), params=(5,)).parameter_shape((2, 3))
    with pytest.raises(ValueError, match="no axis is reduced for rank 2"):
        NormSpec(keep=(0, 1)).reduced(2)
    with pytest.raises(ValueError, match=r"axis=-1 and spec="):
        resolve(layer_norm(1), -1)
    with pytest.raises(ValueError, match=r"spec='bn' is not a NormSpec"):
        resolve("bn", None)  # type: ignore[arg-type]


# -- Layer Normalization, written here ----------------------------------------------------------


def ln_forward(x: F64, g: F64, b: F64, eps: float, k: int) -> tuple[F64, dict[str, F64]]:
    axes = tuple(range(x.ndim - k, x.ndim))
    mu = x.mean(axis=axes, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(axis=axes, keepdims=True)
    inv = 1.0 / np.sqrt(var + eps)
    x_hat = xc * inv
    return g * x_hat + b, {"x_hat": x_hat, "inv": inv, "g": g}


def ln_backward(
    dy: F64, cache: dict[str, F64], k: int, *, mean_path: bool = True
) -> tuple[F64, F64, F64]:
    x_hat, inv, g = cache["x_hat"], cache["inv"], cache["g"]
    axes = tuple(range(dy.ndim - k, dy.ndim))
    lead = tuple(range(dy.ndim - k))
    d = dy * g
    mean_d = d.mean(axis=axes, keepdims=True) if mean_path else 0.0
    dx = inv * (d - mean_d - x_hat * (d * x_hat).mean(axis=axes, keepdims=True))
    return dx, (dy * x_hat).sum(axis=lead), dy.sum(axis=lead)


def _ln_case(shape: tuple[int, ...], k: int, seed: int) -> tuple[F64, F64, F64, F64]:
    rng = np.random.default_rng(seed)
    x = 3.0 + 2.0 * rng.standard_normal(shape)
    pshape = shape[len(shape) - k :]
    g = rng.uniform(0.5, 2.0, pshape) * rng.choice([-1.0, 1.0], pshape)
    b = rng.standard_normal(pshape)
    return x, g, b, rng.standard_normal(shape)


CASES = [((4, 6), 1), ((3, 5), 1), ((2, 3, 4), 1), ((2, 3, 4), 2), ((2, 2, 3, 3), 2)]


@pytest.mark.parametrize(("shape", "k"), CASES)
def test_layer_norm_matches_the_mpmath_truth_of_its_spec(shape: tuple[int, ...], k: int) -> None:
    spec, eps = layer_norm(k), 1e-5
    x, g, b, dy = _ln_case(shape, k, seed=len(shape) + k)
    y, cache = ln_forward(x, g, b, eps, k)
    dx, dg, db = ln_backward(dy, cache, k)
    truth = exact_batchnorm(x, g, b, dy, eps=eps, spec=spec)
    assert truth.dx is not None and truth.dgamma is not None and truth.dbeta is not None
    assert truth.dgamma.shape == truth.dbeta.shape == spec.parameter_shape(shape)
    assert truth.mean.shape == (spec.groups(shape),)
    for name, got, want in (
        ("y", y, truth.y),
        ("dx", dx, truth.dx),
        ("dgamma", dg, truth.dgamma),
        ("dbeta", db, truth.dbeta),
    ):
        cmp = compare(got, want, name, np.float64, x=x, eps=eps, dy=dy, gamma=g, spec=spec)
        assert cmp.passed, (name, cmp)
        assert np.isfinite(cmp.budget) and cmp.budget < 1e5, (name, cmp)
    # eval mode with the batch's own statistics is the train-mode forward
    mean = spec.columns(x).mean(axis=0)
    var = spec.columns(x).var(axis=0)
    y_eval = exact_inference(x, g, b, mean, var, eps=eps, spec=spec)
    assert compare(y_eval, truth.y, "y", np.float64, x=x, eps=eps, gamma=g, spec=spec).passed


@pytest.mark.parametrize(("shape", "k"), CASES[:3])
def test_the_truth_tells_a_wrong_layer_norm_backward_apart(shape: tuple[int, ...], k: int) -> None:
    spec, eps = layer_norm(k), 1e-5
    x, g, b, dy = _ln_case(shape, k, seed=7)
    _, cache = ln_forward(x, g, b, eps, k)
    dx, _, _ = ln_backward(dy, cache, k, mean_path=False)
    truth = exact_batchnorm(x, g, b, dy, eps=eps, spec=spec)
    assert not compare(
        dx, truth.dx, "dx", np.float64, x=x, eps=eps, dy=dy, gamma=g, spec=spec
    ).passed
    # and a BatchNorm spec on the same array is a different normalization
    y, _ = ln_forward(x, g, b, eps, k)
    bn_truth = exact_batchnorm(x, None, None, eps=eps)
    assert not compare(y, bn_truth.y, "y", np.float64, x=x, eps=eps).passed


@pytest.mark.parametrize(("shape", "k"), CASES)
def test_layer_norm_backward_passes_the_public_finite_difference_checker(
    shape: tuple[int, ...], k: int
) -> None:
    spec, eps = layer_norm(k), 1e-5
    x, g, b, dy = _ln_case(shape, k, seed=11 + k)
    n, p = x.size, g.size
    _, cache = ln_forward(x, g, b, eps, k)
    dx, dg, db = ln_backward(dy, cache, k)
    truth = exact_batchnorm(x, g, b, dy, eps=eps, spec=spec)
    assert truth.dx is not None
    budgets = [
        compare(t, t, name, np.float64, x=x, eps=eps, dy=dy, gamma=g, spec=spec).budget
        for name, t in (("y", truth.y), ("dx", truth.dx))
    ]

    def forward(z: F64) -> F64:
        return ln_forward(
            z[:n].reshape(shape), z[n : n + p].reshape(g.shape), z[n + p :].reshape(b.shape), eps, k
        )[0]

    def vjp(u: F64) -> F64:
        assert u is dy_used
        return np.concatenate([dx.ravel(), dg.ravel(), db.ravel()])

    dy_used = dy
    z0 = np.concatenate([x.ravel(), g.ravel(), b.ravel()])
    rng = np.random.default_rng(3)
    v = rng.standard_normal(z0.shape)
    h = RICHARDSON_STEPS[np.dtype(np.float64)] * 2.0 / float(np.max(np.abs(v)))
    res = check_directional(
        forward, vjp, z0, rng=rng, h=h, noise=fd_noise(budgets, np.float64), u=dy, v=v
    )
    assert res.passed, res
    # a wrong backward fails the same check
    bad_dx, _, _ = ln_backward(dy, cache, k, mean_path=False)
    bad = check_directional(
        forward,
        lambda u: np.concatenate([bad_dx.ravel(), dg.ravel(), db.ravel()]),
        z0,
        rng=rng,
        h=h,
        noise=fd_noise(budgets, np.float64),
        u=dy,
        v=v,
    )
    assert not bad.passed


@pytest.mark.parametrize(("shape", "k"), CASES[:4])
def test_the_complex_step_through_the_spec_differentiates_the_truth(
    shape: tuple[int, ...], k: int
) -> None:
    """The complex-analytic BN of gradient_check, given the LayerNorm spec, is a LayerNorm:
    its forward equals the truth, and its complex-step derivative the truth's dx."""
    spec, eps = layer_norm(k), 1e-5
    x, g, b, dy = _ln_case(shape, k, seed=5)
    y = complex_batchnorm_forward(x, g, b, eps=eps, spec=spec)
    truth = exact_batchnorm(x, g, b, dy, eps=eps, spec=spec)
    assert truth.dx is not None
    assert compare(y.real, truth.y, "y", np.float64, x=x, eps=eps, gamma=g, spec=spec).passed
    res = check_directional(
        lambda z: complex_batchnorm_forward(z, g, b, eps=eps, spec=spec),
        lambda u: truth.dx,
        x,
        rng=np.random.default_rng(1),
        method="complex",
        u=dy,
    )
    assert res.passed and res.rel_discrepancy < 1e-12, res
