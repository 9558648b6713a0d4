"""A VerificationReport as text and JSON (``report.to_text()``, ``report.to_json()``): what
``bncheck verify`` prints and what ``assert_batchnorm_correct`` raises with.

The expected texts are the bytes that the former renderer (``bncheck.report.verification``,
tabulate's "simple" table) printed for these reports, which take every branch of the text:
moving the rendering beside the report and off tabulate changed no byte of it. Since then the
one change is an addition: the "Coverage" section (what ran, per check family) before the
result, and the JSON's "coverage"."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from bncheck.check import CheckResult, VerificationReport
from bncheck.check.testing import BatchNormVerificationError, assert_batchnorm_correct
from tests.paths import IMPLS, REPO

F = str(IMPLS / "functional.py")


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

#: what the former renderer printed for each report of SYNTHETIC
EXPECTED = {
    "empty": """\
bncheck verify t.py (functional), 0.0 s

check    result    worst error    budget    note
-------  --------  -------------  --------  ------

Result: PASS""",
    "everything": """\
bncheck verify mine.py:MyBN (layer class), 12.3 s

Plugged in as:
  - forward(x) -> y
  - backward(dy) -> (dx, dgamma, dbeta)
  - gamma = .weight

check                   result    worst error    budget        note
----------------------  --------  -------------  ------------  ----------------------------
forward/2d/float64      pass      0.49 ulp       4 ulp
forward/2d/float32      pass      1e-09 ulp      1.23e+05 ulp  padded
backward/2d/float32     FAIL      3.1e+03 ulp    4 ulp
backward-fd/2d/float32  skip                                   no float64 twin
identities/2d/float32   FAIL      2.5 rel        1 rel
running/2d/float64      pass      0.125 ×budget  1 ×budget     follows torch (momentum 0.1)
eval/2d/float64         FAIL      nan ulp        4 ulp
contract                pass

FAIL backward/2d/float32: dx is 3.1e+03 ulp off
    second line?[31m red
  shrunk counterexample: shape (4, 3), float32, regime large-mean, eps 1e-05
    x = [0.25, 1.25, 2.25, 0.25, 1.25, 2.25, 0.25, 1.25, 2.25, 0.25, 1.25, 2.25, …]
    gamma = [1.0, 2.0, 3.0]
    dy = [0.5, -0.5, nan]
  worst entries on that counterexample:
    dx(0, 1): got 1.5, truth 1.25
    dgamma(2,): got inf, truth -3.0
  fit: c = 1, a = 0.00, b = 1

FAIL identities/2d/float32: sum(dx) is not 0
  fit: nothing fits
    at all

FAIL eval/2d/float64: NaN in y

Interface deviations (warnings; the numbers were checked as returned):
  - returned dtype float64 for float32 input
  - dgamma has shape (1, C)

Diagnosis:
  - missing-mu-path: dx lacks the path through mu_B (the −Σdy/m term) (seen in backward/2d/float32)
    fix: add dL/dmu_B · dmu_B/dx_i = −(gamma·inv_std/m)·Σ dy
Unexplained: no known mistake reproduces identities/2d/float32 (the fit lines above say what the target computes).
Coverage (what ran, per check family):
  - forward: ran on 2d/float64, 2d/float32
  - backward: ran on 2d/float32
  - backward-fd: ran on nothing; not run: 2d/float32 (skip: no float64 twin)
  - identities: ran on 2d/float32
  - running: ran on 2d/float64
  - eval: ran on 2d/float64
  - contract: ran on -

Result: FAIL (3 checks failed)""",
    "passing": """\
bncheck verify bncheck.BatchNorm (layer), 1.0 s

check               result    worst error    budget    note
------------------  --------  -------------  --------  ------
forward/2d/float64  pass      0.5 ulp        4 ulp
no-mutation         pass

Coverage (what ran, per check family):
  - forward: ran on 2d/float64
  - no-mutation: ran on -

Result: PASS""",
    "strict": """\
bncheck verify pkg.bn (functional), 0.0 s

check     result    worst error    budget    note
--------  --------  -------------  --------  ------
contract  FAIL

FAIL contract: interface deviations under --strict

Interface deviations (failures under --strict):
  - returned dtype float64 for float32 input

Coverage (what ran, per check family):
  - contract: ran on -

Result: FAIL (1 check failed)""",
}

#: what it printed as JSON for SYNTHETIC["strict"]
EXPECTED_JSON = """\
{
  "checks": [
    {
      "budget": null,
      "counterexample": null,
      "diagnosis": [],
      "explanation": "",
      "id": "contract",
      "message": "interface deviations under --strict",
      "passed": false,
      "status": "fail",
      "unit": "ulp",
      "worst": null,
      "worst_entries": []
    }
  ],
  "contract": [
    "returned dtype float64 for float32 input"
  ],
  "coverage": {
    "contract": {
      "not_run": {},
      "ran": [
        "-"
      ]
    }
  },
  "diagnosis": [],
  "kind": "functional",
  "mapping": [],
  "options": {
    "strict": true
  },
  "passed": false,
  "result": "fail",
  "seconds": 0.04,
  "target": "pkg.bn",
  "unexplained": []
}"""


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_the_text_is_byte_for_byte_what_verify_printed_before(name: str) -> None:
    assert SYNTHETIC[name].to_text() == EXPECTED[name]


def test_the_json_is_what_verify_printed_before_with_inf_and_nan_as_strings() -> None:
    assert SYNTHETIC["strict"].to_json() == EXPECTED_JSON
    data = json.loads(SYNTHETIC["everything"].to_json())
    assert data["checks"][2]["worst_entries"][1]["got"] == "inf"
    assert data["checks"][6]["worst"] == "nan"
    assert data["unexplained"] == ["identities/2d/float32"]


def test_a_failed_assertion_carries_the_text_of_its_report() -> None:
    with pytest.raises(BatchNormVerificationError) as caught:
        assert_batchnorm_correct(f"{F}:missing_mu_path", ndims=(2,), dtypes=("float64",))
    text = str(caught.value)
    assert text == caught.value.report.to_text()
    assert "missing-mu-path" in text and text.endswith("failed)")


def test_verify_prints_its_text_without_the_report_extra() -> None:
    """`bncheck verify` needs the [verify] extra alone: with tabulate, matplotlib and SymPy
    unimportable it verifies and prints its report, and no module of bncheck.report loads."""
    code = textwrap.dedent(
        """
        import sys
        for name in ("tabulate", "matplotlib", "sympy"):
            sys.modules[name] = None  # `import name` now raises ModuleNotFoundError
        from bncheck.cli import main
        code = main(["verify", "bncheck.BatchNorm", "--ndims", "2", "--dtypes", "float64"])
        print("loaded:", *sorted(m for m in sys.modules if m.startswith("bncheck.report")))
        raise SystemExit(code)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Result: PASS" in done.stdout
    assert done.stdout.rstrip().endswith("loaded:"), done.stdout
