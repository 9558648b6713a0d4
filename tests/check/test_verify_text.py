"""A VerificationReport as text and JSON (``report.to_text()``, ``report.to_json()``): what
``bncheck verify`` prints and what ``assert_batchnorm_correct`` raises with.

While both exist, the new rendering (beside the report, no tabulate) must give exactly the
bytes that ``bncheck.report.verification`` gives, on reports that take every branch."""

from __future__ import annotations

import pytest

from bncheck.check import CheckResult, VerificationReport, verify
from tests.paths import IMPLS

F = str(IMPLS / "functional.py")
L = str(IMPLS / "layers.py")


def _synthetic() -> dict[str, VerificationReport]:
    """Reports built by hand, one per kind of content the text shows."""
    counterexample = {
        "shape": [4, 3],
        "dtype": "float32",
        "regime": "large-mean",
        "eps": 1e-5,
        "x": [[float(i) + 0.25 for i in range(3)] for _ in range(5)],
        "gamma": [1.0, 2.0, 3.0],
        "beta": None,
        "dy": [[0.5, -0.5, float("nan")]],
    }
    entries = [
        {"output": "dx", "index": [0, 1], "got": 1.5, "truth": 1.25},
        {"output": "dgamma", "index": [2], "got": float("inf"), "truth": -3.0},
    ]
    everything = VerificationReport(
        target="mine.py:MyBN",
        kind="layer class",
        seconds=12.345,
        options={"strict": False, "dtypes": ["float64", "float32"]},
        mapping=["forward(x) -> y", "backward(dy) -> (dx, dgamma, dbeta)", "gamma = .weight"],
        contract=["returned dtype float64 for float32 input", "dgamma has shape (1, C)"],
        checks=[
            CheckResult("forward/2d/float64", "pass", 0.49, 4.0),
            CheckResult("forward/2d/float32", "pass", 1.0e-9, 123456.0, message="  padded  "),
            CheckResult(
                "backward/2d/float32",
                "fail",
                3.1e3,
                4.0,
                message="dx is 3.1e+03 ulp off\nsecond line\x1b[31m red",
                counterexample=counterexample,
                worst_entries=entries,
                diagnosis=["missing-mu-path"],
                explanation="c = 1, a = 0.00, b = 1",
            ),
            CheckResult("backward-fd/2d/float32", "skip", message="no float64 twin"),
            CheckResult(
                "identities/2d/float32",
                "fail",
                2.5,
                1.0,
                unit="rel",
                message="sum(dx) is not 0",
                explanation="nothing fits\nat all",
            ),
            CheckResult(
                "running/2d/float64",
                "pass",
                0.125,
                1.0,
                unit="×budget",
                message="follows torch (momentum 0.1)",
            ),
            CheckResult(
                "eval/2d/float64",
                "fail",
                float("nan"),
                4.0,
                message="NaN in y",
                diagnosis=["not-a-known-id"],
            ),
            CheckResult("contract", "pass"),
        ],
    )
    strict = VerificationReport(
        target="pkg.bn",
        kind="functional",
        seconds=0.04,
        options={"strict": True},
        contract=["returned dtype float64 for float32 input"],
        checks=[CheckResult("contract", "fail", message="interface deviations under --strict")],
    )
    passing = VerificationReport(
        target="bncheck.BatchNorm",
        kind="layer",
        seconds=1.0,
        checks=[
            CheckResult("forward/2d/float64", "pass", 0.5, 4.0),
            CheckResult("no-mutation", "pass"),
        ],
    )
    return {
        "everything": everything,
        "strict": strict,
        "passing": passing,
        "empty": VerificationReport(target="t.py", kind="functional", checks=[], seconds=0.0),
    }


SYNTHETIC = _synthetic()


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_the_text_and_json_are_those_of_the_report_package(name: str) -> None:
    from bncheck.report.verification import render_json, render_text

    report = SYNTHETIC[name]
    assert report.to_text() == render_text(report)
    assert report.to_json() == render_json(report)


@pytest.mark.parametrize(
    ("target", "options"),
    [
        (f"{F}:missing_mu_path", {"ndims": (2,)}),
        (f"{L}:torch_swapped_momentum", {"convention": "torch", "ndims": (2,)}),
        (f"{L}:torch_layer", {"convention": "torch", "ndims": (2, 4), "dtypes": ("float32",)}),
    ],
    ids=["missing_mu_path", "torch_swapped_momentum", "torch_layer"],
)
def test_verified_reports_render_as_before(target: str, options: dict[str, object]) -> None:
    from bncheck.report.verification import render_json, render_text

    report = verify(target, **options)  # type: ignore[arg-type]
    assert report.to_text() == render_text(report)
    assert report.to_json() == render_json(report)
