"""The held-out corpora: BNs written by someone who had not read the verifier, in styles no
issue listed, half of them wrong, each verdict established by the corpus' own independent
checker. tests/impls/heldout/ (30 files; options a user would give in selfcheck/targets.tsv;
BASELINE.md: 12 of 30 right before the discovery by behaviour was written) and
tests/impls/heldout2/ (16 files in styles the first corpus did not cover, written once the
discovery existed; run_all.sh; FIRST_RUN.md: 11 of 16 right, 1 incomplete, on first contact).
Each must get its expected verdict."""

from __future__ import annotations

import re
import shlex

import pytest

from bncheck.check import verify
from tests.paths import IMPLS

CORPUS = IMPLS / "heldout"

#: Files the verifier does not get right yet, and why (strict: a fix makes the test fail until
#: the entry is removed).
NOT_YET: dict[str, str] = {}


CORPUS2 = IMPLS / "heldout2"


def _expected() -> dict[str, str]:
    out = {}
    for manifest in (CORPUS / "MANIFEST.md", CORPUS2 / "MANIFEST.md"):
        for line in manifest.read_text(encoding="utf-8").splitlines():
            match = re.match(r"\| ([hn]\d\d)_\S+ \|.*?\| \**(PASS|FAIL)\**[ (]", line)
            if match:
                out[match.group(1)] = match.group(2).lower()
    return out


def _cases() -> list[tuple[str, str, list[str]]]:
    rows = (CORPUS / "selfcheck" / "targets.tsv").read_text(encoding="utf-8").splitlines()
    first = [
        (k, str(CORPUS / spec), shlex.split(opts))
        for k, spec, opts in (r.split("\t") for r in rows if r)
    ]
    second = []
    for line in (CORPUS2 / "run_all.sh").read_text(encoding="utf-8").splitlines():
        words = shlex.split(line.rstrip("&").strip())
        if words and words[0] == "./run_one.sh":
            second.append((words[1], str(CORPUS2 / words[2]), words[3:]))
    return first + second


EXPECTED = _expected()


def _kwargs(options: list[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for flag, value in zip(options[::2], options[1::2], strict=True):
        if flag == "--convention":
            out["convention"] = value
        elif flag == "--axis":
            out["axis"] = int(value)
        else:
            raise AssertionError(f"an option the corpus test does not map: {flag}")
    return out


def test_the_corpora_are_complete() -> None:
    assert len(EXPECTED) == 46 and {c[0] for c in _cases()} == set(EXPECTED)
    assert sum(v == "pass" for v in EXPECTED.values()) == 14 + 8


@pytest.mark.slow
@pytest.mark.parametrize(("key", "spec", "options"), _cases(), ids=[c[0] for c in _cases()])
def test_each_corpus_bn_gets_its_expected_verdict(
    key: str, spec: str, options: list[str], request: pytest.FixtureRequest
) -> None:
    if key in NOT_YET:  # still run: strict, so a fix shows as a failure until listed
        request.applymarker(pytest.mark.xfail(reason=NOT_YET[key], strict=True))
    report = verify(
        str(CORPUS / spec.split(":")[0]) + spec[len(spec.split(":")[0]) :], **_kwargs(options)
    )
    assert report.result == EXPECTED[key], report.to_text()
