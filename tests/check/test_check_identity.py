"""A check's identity is typed: its id text and its fields (family, rank, dtype, layout) are one
value, and selecting checks compares fields."""

from __future__ import annotations

import pytest

from bncheck.check import CheckResult, verify
from tests.internals import CheckId


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("forward/2d/float64", ("forward", 2, "float64", None)),
        (
            "backward[batchnorm_backward_alt]/2d/float32",
            ("backward[batchnorm_backward_alt]", 2, "float32", None),
        ),
        ("running/4d/float16", ("running", 4, "float16", None)),
        ("forward/2d/float64/shards=1,2,3,6", ("forward", 2, "float64", "shards=1,2,3,6")),
        ("load", ("load", None, None, None)),
        ("no-mutation", ("no-mutation", None, None, None)),
        ("contract", ("contract", None, None, None)),
    ],
)
def test_an_id_and_its_fields_are_one_value(text: str, fields: tuple[object, ...]) -> None:
    key = CheckId.parse(text)
    assert (key.family, key.ndim, key.dtype, key.layout) == fields
    assert str(key) == text
    assert CheckResult(text, "pass").key == key


def test_a_variant_belongs_to_its_base_family() -> None:
    assert CheckId.parse("backward[batchnorm_backward_alt]/2d/float64").base_family == "backward"
    assert CheckId.parse("backward-fd/2d/float64").base_family == "backward-fd"


def test_every_id_of_a_real_report_round_trips() -> None:
    report = verify("bncheck.BatchNorm", ndims=(2, 4), dtypes=("float64", "float32"))
    for check in report.checks:
        assert str(check.key) == check.id
    ranks = {c.key.ndim for c in report.checks if c.key.family == "forward"}
    assert ranks == {2, 4}
