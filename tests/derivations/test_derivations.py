"""Tests of derivations/: symbolic m vs concrete m, computed audit verdicts, reproducible output."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import bncheck.derivations
import pytest
import sympy as sp
from bncheck.derivations import audit, second_order, symbolic
from bncheck.derivations.algebra import DELTA, GAMMA, I, K, M, X, batch_sum
from bncheck.derivations.source import CLAIMS, EQ18_FIXED, P
from bncheck.derivations.symbolic import MU_B, VAR_B, N

REPO = Path(bncheck.derivations.__file__).resolve().parent.parent


@pytest.mark.parametrize("m", [2, 3, 5])
def test_symbolic_m_first_order_equals_direct_differentiation_at_concrete_m(m: int) -> None:
    assert symbolic.concrete_first_order_agrees(m, seed=m)


def test_first_order_closed_forms_keep_m_symbolic_and_have_no_kronecker_delta() -> None:
    fo = symbolic.first_order()
    assert fo.raw_dx.has(sp.KroneckerDelta)  # SymPy's own derivative, before our reduction
    for expr in (fo.dx, fo.dgamma, fo.dbeta):
        assert not expr.has(sp.KroneckerDelta) and not expr.has(sp.Piecewise)
    assert M in fo.dx.free_symbols


def test_a_wrong_closed_form_is_rejected_by_the_concrete_m_comparison() -> None:
    fo = symbolic.first_order()
    wrong = fo.dx.subs(batch_sum(DELTA[I] * sp.IndexedBase("x_hat", real=True)[I]), 0)
    assert wrong != fo.dx
    point = symbolic.random_point(3, seed=1)
    direct = sp.diff(symbolic.concrete_train_loss(3), X[2]).xreplace(point.substitutions())
    assert symbolic.exactly_equal(direct, symbolic.evaluate(fo.dx, point, {K: 2}))
    assert not symbolic.exactly_equal(direct, symbolic.evaluate(wrong, point, {K: 2}))


@pytest.mark.parametrize("m", [2, 3, pytest.param(5, marks=pytest.mark.slow)])
def test_symbolic_m_second_order_equals_direct_differentiation_at_concrete_m(m: int) -> None:
    assert second_order.concrete_second_order_agrees(m, seed=m)


def test_eval_mode_has_no_pure_x_hessian_and_j_is_linear_in_gamma_and_beta() -> None:
    eso, so = second_order.eval_second_order(), second_order.second_order()
    assert eso.hvp_x == 0
    assert so.hvp_x != 0
    assert so.d2_gamma == 0 and so.d2_beta == 0


# --- audit ----------------------------------------------------------------------------------


def test_audit_ids_cover_eq10_to_eq21_with_the_a_suffix_for_earlier_forms() -> None:
    ids = {c.id for c in CLAIMS}
    assert {f"eq{n}" for n in range(10, 22)} <= ids
    assert {"eq13a", "eq14a", "eq18a"} <= ids
    assert len(ids) == len(CLAIMS)


def test_every_failure_has_an_exact_counterexample_and_a_checked_correction() -> None:
    for v in audit.audit():
        assert v.verdict in ("holds", "fails")
        if v.verdict == "fails":
            assert v.counterexample and v.corrected
            assert v.counterexample["printed"] != v.counterexample["derived"]
        else:
            assert v.counterexample is None and v.corrected is None


@pytest.mark.parametrize(
    ("sides", "holds"),
    [
        pytest.param((P["dJ/dmu"], EQ18_FIXED), True, id="eq18-with-the-sum"),
        pytest.param((P["dJ/dgamma"], batch_sum(DELTA[I] * N[I])), True, id="eq11"),
        pytest.param((P["dJ/dgamma"], batch_sum(DELTA[I])), False, id="eq11-without-n"),
        pytest.param(
            (P["dn/dx"][K], 2 / sp.sqrt(VAR_B + sp.Symbol("epsilon", positive=True))),
            False,
            id="eq15-doubled",
        ),
        pytest.param((P["dvar/dx"][K], 2 * (X[K] - MU_B) / (M - 1)), False, id="eq17-m-minus-1"),
        pytest.param((P["dJ/dn"][K], DELTA[K] * GAMMA), True, id="eq14a"),
    ],
)
def test_identity_verdicts_are_computed(sides: tuple[sp.Expr, ...], holds: bool) -> None:
    assert audit.check("identity", sides, {}).holds is holds


@pytest.mark.parametrize(
    ("kind", "params", "holds"),
    [
        ("normal_mass", {"mean": 0, "variance": 1, "lo": -1, "hi": 1, "percent": 68}, True),
        ("normal_mass", {"mean": 0, "variance": 1, "lo": -1, "hi": 1, "percent": 64}, False),
        ("normal_mass", {"mean": -6, "variance": 1, "lo": -8, "hi": -4, "percent": 95}, True),
        ("sigmoid_bound", {"outside": 3, "bound": sp.Rational(1, 10)}, True),
        ("sigmoid_bound", {"outside": 2, "bound": sp.Rational(1, 10)}, False),
        ("variance", {"variance": 1}, True),
        ("variance", {"variance": -1}, False),
        ("ema", {"update": MU_B, "target": P["E[x]"]}, True),
        ("ema", {"update": M / (M - 1) * VAR_B, "target": P["Var[x]"]}, True),
        ("ema", {"update": VAR_B, "target": P["Var[x]"]}, False),
        ("ema", {"update": sp.sqrt(VAR_B), "target": P["Var[x]"]}, False),
        ("eps_guard", {"guard": VAR_B}, True),
        ("eps_guard", {"guard": MU_B**2}, False),
        ("shape", {"quantity": "Z", "printed": ("batchSize", "Features")}, True),
        ("shape", {"quantity": "Z", "printed": ("1", "Features")}, False),
    ],
)
def test_claim_verdicts_are_computed(kind: str, params: dict[str, object], holds: bool) -> None:
    assert audit.check(kind, (), params).holds is holds


def test_expectation_verdicts_are_computed() -> None:
    E = sp.Function("E")
    bessel = (P["Var[x]"], M / (M - 1) * E(VAR_B))
    biased = (P["Var[x]"], E(VAR_B))
    assert audit.check("expectation", bessel, {}).holds
    assert not audit.check("expectation", biased, {}).holds


def test_the_sigmoid_counterexample_lies_just_outside_two() -> None:
    out = audit.check("sigmoid_bound", (), {"outside": 2, "bound": sp.Rational(1, 10)})
    assert out.counterexample is not None
    x = sp.Rational(out.counterexample["x"])
    assert x > 2 and sp.exp(x) / (1 + sp.exp(x)) ** 2 > sp.Rational(1, 10)


def test_eq20_is_identically_zero_at_the_batch_mean() -> None:
    value = audit.resolve(-2 / M * batch_sum(X[I] - MU_B))
    assert audit.is_identically_zero(value)


# --- generated files --------------------------------------------------------------------------


def test_generated_files_match_a_fresh_run_in_another_process(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run(
        [sys.executable, "-m", "bncheck.derivations", "--root", str(tmp_path)],
        check=True,
        cwd=tmp_path,
        env=env,
        capture_output=True,
    )
    for rel in bncheck.derivations.OUTPUTS:
        assert (tmp_path / rel).read_bytes() == (REPO / rel).read_bytes(), rel


def test_run_writes_the_committed_bytes_again(tmp_path: Path) -> None:
    written = bncheck.derivations.run(tmp_path)
    assert [p.relative_to(tmp_path) for p in written] == list(bncheck.derivations.OUTPUTS)
    for rel in bncheck.derivations.OUTPUTS:
        assert (tmp_path / rel).read_bytes() == (REPO / rel).read_bytes(), rel


def test_generated_module_imports_only_numpy_and_the_standard_library() -> None:
    path = REPO / "bncheck/check/reference.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    assert roots <= {"__future__", "math", "numpy"}
    doc = ast.get_docstring(tree) or ""
    assert "generated — do not edit" in doc and "bncheck derive" in doc


def test_audit_json_rows_have_exactly_the_documented_keys() -> None:
    rows = json.loads((REPO / "reports/source_audit.json").read_text(encoding="utf-8"))
    assert [r["id"] for r in rows] == [c.id for c in CLAIMS]
    for row in rows:
        assert set(row) == {"id", "claim", "verdict", "counterexample", "corrected"}
