"""Fitted constants named as sizes of the batch or as a sign (issue 20: every fitted value
explained or left unexplained).

Three layers, each tested on its own:

- the reader (``bncheck.check._verify.diagnosis.sizes``): which expressions of the sizes a
  constant equals, its tolerance boundary, and expressions equal at these sizes (ambiguous);
- the fits (``diagnose_backward``) on outputs built here from the closed form
  dx = c·gamma·inv·(dy − a·mean(dy) − b·x_hat·mean(dy·x_hat)) with c, a, b computed from the
  shape in this file: each reading is named with its expression and number, a value near but
  not equal to an expression is not, an ambiguous one is said to be ambiguous and not named;
- planted bugs written as real code (tests/impls/fitted_bugs.py), through the fits at chosen
  shapes and through ``verify``.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from bncheck.check import verify
from bncheck.check.tolerances import FIT_COEFFICIENT
from tests.impls import fitted_bugs
from tests.impls.mistake_refs import REFERENCES
from tests.internals import MISTAKES, fits, sizes

EPS = 1e-5


# -- the reader ---------------------------------------------------------------------------------


def test_the_expressions_of_each_rank_have_their_exact_values() -> None:
    two = sizes.Sizes.of_shape((16, 3)).expressions()
    assert "N" not in two and "H·W" not in two  # 2-D: the m values are the N samples
    assert two["m"] == 16 and two["m − 1"] == 15 and two["C"] == 3
    assert two["1/(m − 1)"] == Fraction(1, 15) and two["m/(m − 1)"] == Fraction(16, 15)
    assert two["−1"] == -1 and two["−(m − 1)"] == -15
    four = sizes.Sizes.of_shape((4, 3, 3, 2)).expressions()
    assert (four["m"], four["N"], four["H·W"], four["C"]) == (24, 4, 6, 3)
    assert four["1/(H·W)"] == Fraction(1, 6)
    assert sizes.Sizes.of_shape((4, 3, 5)).expressions()["L"] == 5
    assert sizes.Sizes.of_shape((2, 3, 2, 2, 2)).expressions()["D·H·W"] == 8


def test_a_size_that_is_one_is_left_out() -> None:
    """A factor of 1 cannot be told from its absence: C = 1 and N = 1 are not expressions, and
    −1 reads as a sign only."""
    expressions = sizes.Sizes.of_shape((1, 1, 3, 2)).expressions()
    assert not {"N", "C", "1/N", "1/C", "−N", "−C"} & set(expressions)
    found = sizes.readings([-1.0], sizes.Sizes.of_shape((1, 1, 3, 2)), FIT_COEFFICIENT)
    assert [r.names for r in found] == [("−1",)]


@pytest.mark.parametrize(
    ("value", "read"),
    [
        pytest.param(16 * (1 + 0.99 * FIT_COEFFICIENT), True, id="just-inside"),
        pytest.param(16 * (1 - 0.99 * FIT_COEFFICIENT), True, id="just-inside-below"),
        pytest.param(16 * (1 + 1.01 * FIT_COEFFICIENT), False, id="just-outside"),
        pytest.param(1 / 16 + 0.99 * FIT_COEFFICIENT, True, id="absolute-below-1-inside"),
        pytest.param(1 / 16 + 1.01 * FIT_COEFFICIENT, False, id="absolute-below-1-outside"),
    ],
)
def test_the_reading_tolerance_is_relative_above_1_and_absolute_below(
    value: float, read: bool
) -> None:
    found = sizes.readings([value], sizes.Sizes.of_shape((16, 3)), FIT_COEFFICIENT)
    names = {n for r in found for n in r.names}
    assert (("m" in names) or ("1/m" in names)) is read


def test_a_constant_must_be_the_same_in_every_channel() -> None:
    s = sizes.Sizes.of_shape((16, 3))
    assert [str(r) for r in sizes.readings([16.0, 16.0, 16.0], s, FIT_COEFFICIENT)] == ["m = 16"]
    assert sizes.readings([16.0, 16.0, 15.0], s, FIT_COEFFICIENT) == []
    assert sizes.readings([16.0, np.nan, 16.0], s, FIT_COEFFICIENT) == []
    assert sizes.readings([], s, FIT_COEFFICIENT) == []
    assert sizes.readings([2.5], s, FIT_COEFFICIENT) == []  # no expression is 5/2 here


@pytest.mark.parametrize(
    ("shape", "value", "names"),
    [
        pytest.param((1, 3, 3, 2), 6.0, ("m", "H·W"), id="N=1:m=H·W"),
        pytest.param((16, 16), 16.0, ("m", "C"), id="C=m"),
        pytest.param((1, 3, 3, 2), 1 / 6, ("1/m", "1/(H·W)"), id="N=1:1/m=1/(H·W)"),
        pytest.param((4, 3, 3, 2), 6.0, ("H·W",), id="N=4:H·W-alone"),
        pytest.param((4, 3, 3, 2), 24.0, ("m",), id="N=4:m-alone"),
    ],
)
def test_expressions_equal_at_these_sizes_are_one_ambiguous_reading(
    shape: tuple[int, ...], value: float, names: tuple[str, ...]
) -> None:
    (reading,) = sizes.readings([value], sizes.Sizes.of_shape(shape), FIT_COEFFICIENT)
    assert reading.names == names
    assert reading.ambiguous is (len(names) > 1)


def test_values_the_tolerance_cannot_tell_apart_are_all_offered_nearest_first() -> None:
    """At m = 2000, 1 and m/(m − 1) differ by 5e-4 < FIT_COEFFICIENT: both are offered, the
    nearer first; the fits let the models decide."""
    found = sizes.readings([1.0], sizes.Sizes.of_shape((2000, 3)), FIT_COEFFICIENT)
    assert [r.names[0] for r in found] == ["1", "(m − 1)/m", "m/(m − 1)"]


def test_a_reading_prints_its_names_and_its_exact_value() -> None:
    assert str(sizes.Reading(Fraction(16), ("m",))) == "m = 16"
    assert str(sizes.Reading(Fraction(-1), ("−1",))) == "−1"
    assert str(sizes.Reading(Fraction(16, 15), ("m/(m − 1)",))) == "m/(m − 1) = 16/15"
    assert str(sizes.Reading(Fraction(-1, 4), ("−1/N",))) == "−1/N = −1/4"


@pytest.mark.parametrize("shape", [(3,), (0, 3), (4, 0, 2)])
def test_a_shape_that_is_no_batch_is_refused_by_name(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"shape must be \(N, C, \.\.\.\)"):
        sizes.Sizes.of_shape(shape)


# -- the fits on closed forms -------------------------------------------------------------------


class Batch:
    """An (N, C, ...) batch, its per-channel statistics computed here, and the closed form."""

    def __init__(self, shape: tuple[int, ...], scale: float = 1.0, seed: int = 3) -> None:
        rng = np.random.default_rng(seed)
        self.shape = shape
        c = shape[1]
        self.x = rng.normal(0.5, scale, size=shape)
        self.dy = rng.normal(0.2, 1.0, size=shape)
        self.gamma = rng.uniform(0.5, 2.0, c) * np.resize([1.0, -1.0], c)
        self.beta = rng.normal(size=c)
        self.m = math.prod(shape) // c
        self.n, self.hw = shape[0], math.prod(shape[2:])
        cols = lambda a: np.moveaxis(a, 1, -1).reshape(-1, c)  # noqa: E731
        self.xc = cols(self.x) - cols(self.x).mean(axis=0)
        self.var = (self.xc**2).mean(axis=0)
        self.inv = 1.0 / np.sqrt(self.var + EPS)
        self.x_hat = self.xc * self.inv
        self.dyc = cols(self.dy)
        self.s1 = self.dyc.sum(axis=0)
        self.s2 = (self.dyc * self.x_hat).sum(axis=0)

    def layout(self, columns: Any) -> Any:
        moved = (self.shape[0], *self.shape[2:], self.shape[1])
        return np.moveaxis(columns.reshape(moved), -1, 1)

    def dx(self, c: Any = 1.0, a: Any = 1.0, b: Any = 1.0) -> Any:
        g = self.gamma * self.inv
        mean_dy, mean_dyx = self.s1 / self.m, self.s2 / self.m
        return self.layout(c * g * (self.dyc - a * mean_dy - b * self.x_hat * mean_dyx))

    def diagnose(self, dx: Any, dgamma: Any = None, dbeta: Any = None, failed: Any = None) -> Any:
        return fits.diagnose_backward(
            self.x,
            self.gamma,
            self.beta,
            EPS,
            self.dy,
            dx,
            self.s2 if dgamma is None else dgamma,
            self.s1 if dbeta is None else dbeta,
            failed or ["dx"],
        )


TWO, FOUR = Batch((16, 3)), Batch((4, 3, 3, 2))


def _coefficients(name: str, b: Batch) -> tuple[float, float, float, list[str], str]:
    """(c, a, b), the ids they mean and the phrase with its expression and number, from the
    shape alone."""
    m, n, hw = b.m, b.n, b.hw
    return {
        "c=m": (m, 1, 1, ["dx-not-divided-by-m"], f"dx not divided by m: c = m = {m}"),
        "c=-m": (-m, 1, 1, ["dx-sign", "dx-not-divided-by-m"], f"c = −m = −{m}"),
        "c=-1": (-1, 1, 1, ["dx-sign"], "sign error on dx: c = −1"),
        "c=m-1": (m - 1, 1, 1, ["dx-scaled"], f"c = m − 1 = {m - 1}"),
        "c=1/m": (1 / m, 1, 1, ["dx-scaled"], f"c = 1/m = 1/{m}"),
        "a=-1": (1, -1, 1, ["dmu-path-sign"], "sign error on the mean(dy) term: a = −1"),
        "b=-1": (1, 1, -1, ["dvar-path-sign"], "sign error on the x_hat term: b = −1"),
        "a=b=-1": (1, -1, -1, ["dmu-path-sign", "dvar-path-sign"], "b = −1"),
        "a=b=m": (1, m, m, ["backward-sums-not-means"], f"a = b = m = {m}"),
        "a=m": (1, m, 1, ["dmu-path-scaled"], f"a = m = {m}"),
        "b=1/C": (1, 1, 1 / 3, ["dvar-path-scaled"], "b = 1/C = 1/3"),
        "a=b=H·W": (
            1,
            hw,
            hw,
            ["backward-means-over-n"],
            f"statistics over N instead of N·H·W: a = b = H·W = {hw}",
        ),
        "a=b=N": (1, n, n, ["backward-means-scaled"], f"a = b = N = {n}"),
        "a=N": (1, n, 1, ["dmu-path-scaled"], f"a = N = {n}"),
        "c=m,a=0": (m, 0, 1, ["dx-not-divided-by-m", "missing-mu-path"], f"c = m = {m}"),
    }[name]


EVERY_RANK = ["c=m", "c=-m", "c=-1", "c=m-1", "c=1/m", "a=-1", "b=-1", "a=b=-1", "a=b=m", "a=m"]


@pytest.mark.parametrize("name", [*EVERY_RANK, "b=1/C", "c=m,a=0"])
@pytest.mark.parametrize("batch", [TWO, FOUR], ids=["2d", "4d"])
def test_a_size_or_sign_in_dx_is_named_with_its_expression_and_number(
    name: str, batch: Batch
) -> None:
    c, a, b, ids, phrase = _coefficients(name, batch)
    found = batch.diagnose(batch.dx(c, a, b))
    assert found.ids == ids, found.fitted
    assert phrase in found.fitted


@pytest.mark.parametrize("name", ["a=b=H·W", "a=b=N", "a=N"])
def test_the_sizes_of_a_4d_batch_are_named_apart(name: str) -> None:
    c, a, b, ids, phrase = _coefficients(name, FOUR)
    found = FOUR.diagnose(FOUR.dx(c, a, b))
    assert found.ids == ids, found.fitted
    assert phrase in found.fitted


@pytest.mark.parametrize(
    ("c", "a", "b"),
    [
        pytest.param(16 * (1 + 1e-3), 1, 1, id="c-within-the-reading-tolerance-of-m"),
        pytest.param(1, 1, -(1 + 5e-3), id="b-within-its-tolerance-of-minus-1"),
        pytest.param(2.5, 1, 1, id="c=2.5"),
        pytest.param(1, math.sqrt(16), 1, id="a=sqrt(m)=4-is-no-size-of-(16,3)"),
        pytest.param(1, 1, math.pi, id="b=pi"),
    ],
)
def test_a_constant_that_no_model_reproduces_is_not_named(c: float, a: float, b: float) -> None:
    """Near an expression (within the reading tolerance) is not equal to it: the model with the
    exact value must reproduce dx, and 1e-3 of dx is far outside float64's budget."""
    found = TWO.diagnose(TWO.dx(c, a, b))
    assert found.ids == [], found.fitted


def test_m_equal_to_h_w_when_n_is_1_is_ambiguous_and_not_named() -> None:
    one = Batch((1, 3, 3, 2))
    found = one.diagnose(one.dx(1, 6, 6))
    assert found.ids == []
    assert "ambiguous at these sizes" in found.fitted
    assert "a = b = m = 6" in found.fitted and "a = b = H·W = 6" in found.fitted
    # the same mistake on a batch of four: m = 24 and H·W = 6 tell it apart
    assert FOUR.diagnose(FOUR.dx(1, 6, 6)).ids == ["backward-means-over-n"]


def test_m_equal_to_c_is_ambiguous_and_another_width_tells_it_apart() -> None:
    square = Batch((16, 16))
    found = square.diagnose(square.dx(16, 1, 1))
    assert found.ids == [] and "ambiguous at these sizes" in found.fitted
    assert TWO.diagnose(TWO.dx(16, 1, 1)).ids == ["dx-not-divided-by-m"]


# where eps sits in the backward only: c = D/D', with b = c² (x_hat recomputed) or 1 (cached)
SMALL = Batch((16, 3), scale=3e-3)  # var ~ 1e-5 ~ eps: where eps sits matters
PLACEMENTS = {
    "backward-eps-outside-sqrt": lambda var: np.sqrt(var) + EPS,
    "backward-eps-missing": lambda var: np.sqrt(var),
    "backward-eps-twice": lambda var: np.sqrt(var + 2 * EPS),
}


@pytest.mark.parametrize("recomputed", [True, False], ids=["x_hat-recomputed", "x_hat-cached"])
@pytest.mark.parametrize("mistake_id", sorted(PLACEMENTS))
def test_where_the_backward_alone_puts_eps_is_named_unless_the_whole_mistake_reads_alike(
    mistake_id: str, recomputed: bool
) -> None:
    """With x_hat recomputed from eps moved to sqrt(var + 2·eps) or sqrt(var), the backward is
    exactly the backward of a BN with that mistake throughout (its catalogue row): only the
    forward tells them apart, so the backward alone names neither. sqrt(var) + eps throughout
    differentiates the root (b = sqrt(var + eps)/sqrt(var), not c²): told apart, named."""
    r = np.sqrt(SMALL.var + EPS) / PLACEMENTS[mistake_id](SMALL.var)
    assert np.all(np.abs(r - 1) > 0.1)  # eps matters at this scale
    dgamma = SMALL.s2 * r if recomputed else SMALL.s2
    failed = ["dx", "dgamma"] if recomputed else ["dx"]
    found = SMALL.diagnose(SMALL.dx(r, 1, r**2 if recomputed else 1), dgamma, failed=failed)
    whole = mistake_id.removeprefix("backward-")
    if recomputed and whole in ("eps-twice", "eps-missing"):
        assert found.ids == [], found.fitted
        assert f"{mistake_id} (eps moved in the backward only) or {whole}" in found.fitted
    else:
        assert found.ids == [mistake_id], found.fitted
        assert "in the backward only" in found.fitted


def test_a_backward_eps_that_does_not_matter_is_not_named() -> None:
    """At var ~ 1 moving eps changes c by ~5e-6: no placement is proposed, and nothing named."""
    r = np.sqrt(TWO.var + EPS) / (np.sqrt(TWO.var) + EPS)
    assert np.all(np.abs(r - 1) < 1e-4)
    found = TWO.diagnose(TWO.dx(r, 1, r**2))
    assert not any(i.startswith("backward-eps") for i in found.ids), found.fitted


# dgamma and dbeta: the sum times a size or a sign
@pytest.mark.parametrize(
    ("batch", "failed", "factor", "ids", "phrase"),
    [
        pytest.param(TWO, "dgamma", 16, ["dgamma-scaled"], "= m = 16", id="dgamma*m"),
        pytest.param(TWO, "dgamma", 1 / 16, ["dgamma-mean"], "= 1/m = 1/16", id="dgamma/m"),
        pytest.param(FOUR, "dgamma", 1 / 4, ["dgamma-scaled"], "= 1/N = 1/4", id="dgamma/N"),
        pytest.param(TWO, "dgamma", -1, ["dgamma-sign"], "= −1", id="dgamma-sign"),
        pytest.param(FOUR, "dbeta", 4, ["dbeta-scaled"], "= N = 4", id="dbeta*N"),
        pytest.param(FOUR, "dbeta", -1 / 24, ["dbeta-sign", "dbeta-mean"], "−1/m", id="-dbeta/m"),
        pytest.param(TWO, "dgamma", 2, [], "", id="dgamma*2-is-nothing"),
        pytest.param(TWO, "dgamma", 16.02, [], "", id="dgamma*16.02-is-nothing"),
    ],
)
def test_the_parameter_gradients_are_read_as_a_size_or_a_sign(
    batch: Batch, failed: str, factor: float, ids: list[str], phrase: str
) -> None:
    dgamma = batch.s2 * factor if failed == "dgamma" else None
    dbeta = batch.s1 * factor if failed == "dbeta" else None
    found = batch.diagnose(batch.dx(), dgamma, dbeta, [failed])
    assert found.ids == ids, found.fitted
    assert phrase in found.fitted


def test_dgamma_over_h_w_when_n_is_1_is_ambiguous() -> None:
    one = Batch((1, 3, 3, 2))
    found = one.diagnose(one.dx(), one.s2 / 6, None, ["dgamma"])
    assert found.ids == [] and "ambiguous at these sizes" in found.fitted


def test_every_name_the_fits_give_is_a_row_of_the_catalogue() -> None:
    ids = {m.id for m in MISTAKES}
    new = {
        "dx-not-divided-by-m",
        "dx-scaled",
        "dmu-path-sign",
        "dvar-path-sign",
        "dmu-path-scaled",
        "dvar-path-scaled",
        "backward-sums-not-means",
        "backward-means-over-n",
        "backward-means-scaled",
        "dgamma-scaled",
        "dbeta-scaled",
        *PLACEMENTS,
    }
    assert new <= ids


# -- planted bugs, written as code --------------------------------------------------------------


def _planted(prefix: str, shape: tuple[int, ...], scale: float = 1.0) -> Any:
    """Run a planted bug on a batch of ``shape``; diagnose the outputs that differ from the
    correct ones (computed here in closed form)."""
    b = Batch(shape, scale=scale)
    forward = getattr(fitted_bugs, f"{prefix}_forward")
    backward = getattr(fitted_bugs, f"{prefix}_backward")
    _, cache = forward(b.x, b.gamma, b.beta, EPS)
    dx, dgamma, dbeta = backward(b.dy, cache)
    right = {"dx": b.dx(), "dgamma": b.s2, "dbeta": b.s1}
    got = {"dx": dx, "dgamma": dgamma, "dbeta": dbeta}
    failed = [k for k in right if not np.allclose(got[k], right[k], rtol=1e-9, atol=1e-12)]
    return b.diagnose(dx, dgamma, dbeta, failed), failed


#: (prefix, shape, scale of x, ids, a phrase the fit line must carry, from the shape)
PLANTED = [
    ("not_divided_by_m", (16, 3), 1.0, ["dx-not-divided-by-m"], "c = m = 16"),
    ("not_divided_by_m", (5, 2, 4, 3), 1.0, ["dx-not-divided-by-m"], "c = m = 60"),
    ("means_over_n", (4, 3, 3, 2), 1.0, ["backward-means-over-n"], "a = b = H·W = 6"),
    ("means_over_n", (3, 2, 7), 1.0, ["backward-means-over-n"], "N·L: a = b = L = 7"),
    ("sums_not_means", (16, 3), 1.0, ["backward-sums-not-means"], "a = b = m = 16"),
    ("xhat_term_sign", (16, 3), 1.0, ["dvar-path-sign"], "sign error on the x_hat term: b = −1"),
    ("xhat_term_sign", (4, 3, 3, 2), 1.0, ["dvar-path-sign"], "b = −1"),
    ("mean_term_sign", (16, 3), 1.0, ["dmu-path-sign"], "sign error on the mean(dy) term: a = −1"),
    ("backward_eps_on_std", (16, 3), 3e-3, ["backward-eps-outside-sqrt"], "standard deviation"),
    ("backward_eps_on_std_cached", (4, 3, 3, 2), 3e-3, ["backward-eps-outside-sqrt"], "b = 1"),
    ("dgamma_over_n", (16, 3), 1.0, ["dgamma-mean"], "= 1/m = 1/16"),
    ("dgamma_over_n", (4, 3, 3, 2), 1.0, ["dgamma-scaled"], "= 1/N = 1/4"),
]


@pytest.mark.parametrize(
    ("prefix", "shape", "scale", "ids", "phrase"),
    PLANTED,
    ids=[f"{p[0]}-{'x'.join(map(str, p[1]))}" for p in PLANTED],
)
def test_each_planted_bug_is_named_by_its_constant(
    prefix: str, shape: tuple[int, ...], scale: float, ids: list[str], phrase: str
) -> None:
    found, failed = _planted(prefix, shape, scale)
    assert failed
    assert found.ids == ids, found.fitted
    assert phrase in found.fitted


def test_means_over_n_is_right_in_2d_and_ambiguous_with_one_sample() -> None:
    assert _planted("means_over_n", (16, 3))[1] == []  # m = N: nothing wrong to name
    found, failed = _planted("means_over_n", (1, 3, 3, 2))
    assert failed == ["dx"] and found.ids == [] and "ambiguous" in found.fitted


@pytest.mark.parametrize("shape", [(16, 3), (4, 3, 3, 2)])
def test_a_backward_with_no_constant_of_the_sizes_stays_unexplained(
    shape: tuple[int, ...],
) -> None:
    """The unbiased variance in the backward alone: c ≈ sqrt((m − 1)/m), a root, while b = c²
    comes within a percent of (m − 1)/m; that coincidence on b alone names nothing."""
    found, failed = _planted("unbiased_inv_backward", shape)
    assert "dx" in failed
    assert found.ids == [], found.fitted


# -- through verify ---------------------------------------------------------------------------

#: the few run by default; every other planted bug is marked slow
QUICK = {"not_divided_by_m", "means_over_n", "backward_eps_on_std", "unbiased_inv_backward"}


@pytest.mark.parametrize(
    "prefix",
    [
        pytest.param(p, marks=() if p in QUICK else pytest.mark.slow)
        for p in sorted(fitted_bugs.DIAGNOSES)
    ],
)
def test_verify_names_each_planted_bug_on_every_failing_backward_check(prefix: str) -> None:
    """Each failing backward/<n>d check carries exactly the rank's expected names, in float64
    and float32 alike; a rank whose expectation is empty fails only in the negative case, and
    stays unexplained there."""
    expected = dict(zip((2, 4), fitted_bugs.DIAGNOSES[prefix], strict=True))
    report = verify(f"{fitted_bugs.__file__}:{prefix}", ndims=(2, 4), timeout=20)
    assert not [c.id for c in report.failed if c.id.startswith("forward/")]
    backward = [c for c in report.failed if c.id.startswith("backward/")]
    negative = not any(expected.values())
    failing_ranks = {c.key.ndim for c in backward}
    assert failing_ranks == ({2, 4} if negative else {n for n, ids in expected.items() if ids})
    for check in backward:
        assert set(check.diagnosis) == expected[check.key.ndim], (check.id, check.explanation)
    assert {d["id"] for d in report.diagnosis} == set().union(*expected.values())
    if negative:
        assert {c.id for c in backward} <= {c.id for c in report.unexplained}
    else:
        assert not report.unexplained


def test_a_whole_bn_mistake_explains_the_outputs_it_changes_and_the_rest_are_read_apart() -> None:
    """eps outside the root throughout (forward too), differentiated exactly (an independent
    reference, by the complex step), plus dbeta a mean: dx and dgamma are that mistake's, dbeta
    is read on its own; the dgamma of eps moved in the backward alone is not named besides."""
    b = SMALL
    wrong = REFERENCES["eps-outside-sqrt"](b.x, b.gamma, b.beta, b.dy, EPS)
    found = b.diagnose(wrong["dx"], wrong["dgamma"], b.s1 / b.m, failed=["dx", "dgamma", "dbeta"])
    assert found.ids == ["eps-outside-sqrt", "dbeta-mean"], found.fitted
