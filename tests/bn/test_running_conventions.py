"""bncheck.bn.running.CONVENTIONS is the one conventions table: rows built by keyword, and every
list of convention choices (CLI, verify, its diagnosis, the report) derived from it."""

from __future__ import annotations

import argparse

import pytest

from bncheck.bn.running import CONVENTIONS, Convention
from bncheck.cli import build_parser
from tests.internals import ALTERNATIVES, CONVENTION_CHOICES, DEFAULT_BIAS


def test_rows_are_built_with_keywords_only() -> None:
    with pytest.raises(TypeError):
        Convention("torch", 0.1, True, True, True, True, "")  # type: ignore[misc]
    assert all(name == conv.name for name, conv in CONVENTIONS.items())


def _verify_choices() -> list[str]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    verify = sub.choices["verify"]
    action = next(a for a in verify._actions if a.dest == "convention")
    assert action.choices is not None
    return list(action.choices)


def test_every_list_of_choices_is_the_table_plus_any() -> None:
    assert CONVENTION_CHOICES == (*CONVENTIONS, "any")
    assert _verify_choices() == [*CONVENTIONS, "any"]
    assert list(ALTERNATIVES) == list(DEFAULT_BIAS) == list(CONVENTIONS)
    assert DEFAULT_BIAS == {name: conv.unbiased for name, conv in CONVENTIONS.items()}


@pytest.mark.parametrize("declared", list(CONVENTIONS))
def test_the_diagnosis_alternatives_follow_the_table(declared: str) -> None:
    conv = CONVENTIONS[declared]
    first, *others = ALTERNATIVES[declared]
    assert first == (declared, not conv.unbiased, ["running-var-bias"])
    for name, unbiased, mistakes in others:
        other = CONVENTIONS[name]
        # only a convention that takes momentum, in the other meaning, swaps it
        assert conv.allows_momentum and other.allows_momentum
        assert other.schedule == conv.schedule  # a zero-debiased average is no swapped one
        assert other.momentum_is_new_weight != conv.momentum_is_new_weight
        assert mistakes[0] == "momentum-swapped"
        assert ("running-var-bias" in mistakes) == (unbiased != conv.unbiased)
    swapped = [
        c
        for c in CONVENTIONS.values()
        if c.allows_momentum
        and c.schedule == conv.schedule
        and c.momentum_is_new_weight != conv.momentum_is_new_weight
    ]
    assert len(others) == (2 * len(swapped) if conv.allows_momentum else 0)


def test_the_running_report_lists_every_convention() -> None:
    pytest.importorskip("tabulate")
    from tests.internals import running_stats_intro

    text = "\n".join(running_stats_intro())
    for conv in CONVENTIONS.values():
        assert f"| {conv.name} " in text and conv.description in text
