"""The family derivation (derivations/family.py): symbolic set size vs direct differentiation,
and the generated reference (bncheck/check/family_reference.py) against finite differences and
the textbook closed forms, computed here independently with NumPy."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from bncheck.derivations import family, symbolic
from bncheck.derivations.algebra import DELTA, GAMMA, INV_STD, X_HAT, I, K, M, X, batch_sum

from bncheck.check import family_reference as ref

KINDS = family.KINDS


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("m", [2, 3, 4])
def test_first_order_equals_direct_differentiation(kind: str, m: int) -> None:
    assert family.concrete_first_order_agrees(kind, m, seed=10 + m)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("m", [2, 3])
def test_second_order_equals_direct_differentiation(kind: str, m: int) -> None:
    assert family.concrete_second_order_agrees(kind, m, seed=20 + m)


def test_a_wrong_closed_form_is_rejected() -> None:
    """The comparison can fail: drop the path through the variance from the family's dx."""
    fo = family.first_order(family.CENTERED)
    gam = family.GAM
    wrong = fo.dx.subs(batch_sum(DELTA[I] * gam[I] * X_HAT[I]), 0)
    assert wrong != fo.dx
    point = family.random_point(3, seed=5)
    direct = sp.diff(family.concrete_loss(family.CENTERED, 3), X[2]).xreplace(point.values)
    right = family.evaluate(family.CENTERED, fo.dx, point, {K: 2})
    assert symbolic.exactly_equal(direct, right)
    assert not symbolic.exactly_equal(
        direct, family.evaluate(family.CENTERED, wrong, point, {K: 2})
    )


def test_rms_has_no_mean_path_and_no_beta() -> None:
    fo = family.first_order(family.RMS)
    assert fo.dbeta == 0
    assert not fo.dx.has(batch_sum(DELTA[I] * family.GAM[I]))  # no Σ delta·gamma: no mean
    assert M in fo.dx.free_symbols and not fo.dx.has(sp.KroneckerDelta)


def test_one_gamma_per_set_gives_batch_norm() -> None:
    bn = symbolic.first_order()
    assert family.specializes_to_batch_norm(bn.dx, bn.dgamma)
    # and a wrong BN result is not accepted
    assert not family.specializes_to_batch_norm(bn.dx * 2, bn.dgamma)
    assert INV_STD in bn.dx.free_symbols and GAMMA in bn.dx.free_symbols


# --- the generated reference ---------------------------------------------------------------

EPS = 1e-3


def _inputs(seed: int, m: int = 5, k: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    names = ("x", "delta", "gamma", "beta", "v_x", "v_gamma", "v_beta")
    return {n: rng.standard_normal((m, k)) for n in names}


def _textbook(kind: str, a: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """Forward and backward written directly (not from SymPy)."""
    x, d, g = a["x"], a["delta"], a["gamma"]
    if kind == family.CENTERED:
        xc = x - x.mean(0)
        inv = 1 / np.sqrt((xc**2).mean(0) + EPS)
        xh = xc * inv
        y = g * xh + a["beta"]
    else:
        inv = 1 / np.sqrt((x**2).mean(0) + EPS)
        xh = x * inv
        y = g * xh
    gd = g * d
    proj = (gd * xh).mean(0)
    dx = inv * (gd - gd.mean(0) - xh * proj) if kind == family.CENTERED else inv * (gd - xh * proj)
    return y, dx, d * xh


@pytest.mark.parametrize("kind", KINDS)
def test_reference_matches_the_textbook_forms(kind: str) -> None:
    a = _inputs(1)
    y, dx, dgamma = _textbook(kind, a)
    if kind == family.CENTERED:
        got_y = ref.centered_forward(a["x"], a["gamma"], a["beta"], EPS)
        got_dx, got_dg, got_db = ref.centered_backward(a["delta"], a["x"], a["gamma"], EPS)
        np.testing.assert_array_equal(got_db, a["delta"])
    else:
        got_y = ref.rms_forward(a["x"], a["gamma"], EPS)
        got_dx, got_dg = ref.rms_backward(a["delta"], a["x"], a["gamma"], EPS)
    # two float64 evaluations of the same formula: a few units of 1e-16 relative
    for got, want in ((got_y, y), (got_dx, dx), (got_dg, dgamma)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


def _j(kind: str, a: dict[str, np.ndarray]) -> float:
    if kind == family.CENTERED:
        y = ref.centered_forward(a["x"], a["gamma"], a["beta"], EPS)
    else:
        y = ref.rms_forward(a["x"], a["gamma"], EPS)
    return float(np.sum(a["delta"] * y))


def _g(kind: str, a: dict[str, np.ndarray]) -> float:
    """G = <dx, v_x> + <dgamma, v_gamma> (+ <dbeta, v_beta>)."""
    if kind == family.CENTERED:
        dx, dg, db = ref.centered_backward(a["delta"], a["x"], a["gamma"], EPS)
        return float(np.sum(dx * a["v_x"] + dg * a["v_gamma"] + db * a["v_beta"]))
    dx, dg = ref.rms_backward(a["delta"], a["x"], a["gamma"], EPS)
    return float(np.sum(dx * a["v_x"] + dg * a["v_gamma"]))


def _fd(f, a: dict[str, np.ndarray], name: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Central differences of f with respect to every entry of a[name] (step 1e-6)."""
    out = np.empty_like(a[name])
    h = 1e-6
    for idx in np.ndindex(out.shape):
        up = {k: v.copy() for k, v in a.items()}
        dn = {k: v.copy() for k, v in a.items()}
        up[name][idx] += h
        dn[name][idx] -= h
        out[idx] = (f(up) - f(dn)) / (2 * h)
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_reference_gradients_match_finite_differences(kind: str) -> None:
    """Central differences err by O(h²)·f''' + O(u/h)·|f|: about 1e-9 here; rtol 1e-6."""
    a = _inputs(2)
    if kind == family.CENTERED:
        dx, dg, _ = ref.centered_backward(a["delta"], a["x"], a["gamma"], EPS)
        d_delta, d_x, d_gamma = ref.centered_double_backward(
            a["delta"], a["x"], a["gamma"], EPS, a["v_x"], a["v_gamma"], a["v_beta"]
        )
    else:
        dx, dg = ref.rms_backward(a["delta"], a["x"], a["gamma"], EPS)
        d_delta, d_x, d_gamma = ref.rms_double_backward(
            a["delta"], a["x"], a["gamma"], EPS, a["v_x"], a["v_gamma"]
        )
    pairs = (
        (dx, _fd(lambda b: _j(kind, b), a, "x")),
        (dg, _fd(lambda b: _j(kind, b), a, "gamma")),
        (d_x, _fd(lambda b: _g(kind, b), a, "x")),
        (d_gamma, _fd(lambda b: _g(kind, b), a, "gamma")),
        (d_delta, _fd(lambda b: _g(kind, b), a, "delta")),
    )
    for got, want in pairs:
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
