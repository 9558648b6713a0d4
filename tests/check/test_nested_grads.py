"""A backward that returns dx beside the parameters' gradients kept together, as a pair or a
dict, is read as (dx, dgamma, dbeta): such correct BNs pass, a wrong dbeta still fails (was: a
correct functional failed every backward check, a layer was refused)."""

from __future__ import annotations

import numpy as np
import pytest

from bncheck.check.testing import verify
from tests.internals import family_targets, target_common
from tests.paths import IMPLS

split_grads = target_common.split_grads
returned_grads = family_targets.returned_grads

T = str(IMPLS / "nested_grads.py")


@pytest.mark.parametrize(
    ("target", "returned"),
    [
        ("pair", "backward(dy, cache)"),
        ("TupleBN", "backward(dy) -> (dx, (dgamma, dbeta))"),
        ("DictBN", "backward(dy) -> (dx, a dict of dgamma and dbeta)"),
    ],
)
def test_a_bn_returning_its_parameter_gradients_together_passes(target: str, returned: str) -> None:
    report = verify(f"{T}:{target}", dtypes=("float64",), ndims=(2, 4))
    assert report.passed, report.text
    assert any(returned in line for line in report.mapping), report.mapping
    checked = {c.id for c in report.checks if c.status == "pass"}
    assert {"backward/2d/float64", "backward/4d/float64", "identities/2d/float64"} <= checked


def test_a_wrong_dbeta_in_the_pair_still_fails_on_dbeta() -> None:
    report = verify(f"{T}:WrongDbetaBN", dtypes=("float64",), ndims=(2,))
    assert not report.passed
    bwd = next(c for c in report.checks if c.id == "backward/2d/float64")
    assert bwd.status == "fail" and "dbeta" in bwd.message + str(bwd.diagnosis), bwd


def test_a_layernorm_returning_a_dict_of_its_parameters_gradients_passes() -> None:
    report = verify(f"{T}:layernorm", dtypes=("float64",))
    assert report.passed, report.text


def test_the_returned_forms_are_read_and_nothing_else_is_guessed() -> None:
    dx, g, b = np.zeros((4, 2)), np.ones(2), np.full(2, 3.0)
    for form in ((dx, g, b), (dx, (g, b)), (dx, [g, b]), (dx, {"dgamma": g, "dbeta": b})):
        _, dg, db = split_grads(form, "backward")
        assert dg.tolist() == [1.0, 1.0] and db.tolist() == [3.0, 3.0]
    for bad in ((dx, None), (dx, [g]), (dx, (g, b, b)), dx, (dx, g)):
        with pytest.raises(TypeError, match="backward"):
            split_grads(bad, "backward")
    with pytest.raises(TypeError, match="keys"):
        split_grads((dx, {"first": g, "second": b}), "backward")
    # the family: dx alone, dx with dgamma (RMSNorm), nested pairs and dicts
    assert returned_grads(dx)[1:] == [None, None]
    assert returned_grads((dx, (g,)))[1] is g
    weight = returned_grads((dx, {"weight": g}))
    assert weight[1] is g and weight[2] is None
    assert returned_grads((dx, {"first": g}))[1:] == [None, None]  # no name it knows: none
