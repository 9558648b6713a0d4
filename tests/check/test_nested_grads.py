"""A backward that returns dx beside the parameters' gradients kept together, as a pair or a
dict, is read as (dx, dgamma, dbeta): such correct BNs pass, a wrong dbeta still fails (was: a
correct functional failed every backward check, a layer was refused)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bncheck.check.testing import verify
from tests.internals import family_targets, target_common
from tests.paths import IMPLS

split_grads = target_common.split_grads
common = target_common
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


def test_a_backward_dict_may_key_the_gradients_by_what_they_are_of() -> None:
    dx, g, b = np.zeros((4, 2)), np.ones(2), np.full(2, 3.0)
    got = common.grads_from_dict({"x": dx, "scale": g, "shift": b}, "backward")
    assert got[0].shape == dx.shape and got[1].tolist() == [1.0, 1.0]
    assert got[2].tolist() == [3.0, 3.0]
    # the gradients' own names win over the parameters' where both are there
    named = {"dx": dx, "dgamma": g, "dbeta": b, "gamma": b, "beta": g}
    assert common.grads_from_dict(named, "backward")[1].tolist() == [1.0, 1.0]
    with pytest.raises(TypeError, match="keys"):
        common.grads_from_dict({"x": dx, "scale": g}, "backward")


def test_y_is_the_one_of_a_forwards_pair_with_x_shape_else_the_first() -> None:
    y, cache = np.ones((4, 2)), {"xc": np.zeros((4, 2))}
    assert common.y_and_cache((cache, y), (4, 2))[0] is y
    assert common.y_and_cache((y, cache), (4, 2))[0] is y
    other = np.zeros((4, 2))  # both of x's shape: the order written
    assert common.y_and_cache((other, y), (4, 2))[0] is other
    assert common.y_and_cache((cache, [y]), (4, 2))[0] is cache  # neither: the first


def test_a_backward_is_called_in_the_order_that_runs_and_gives_dx() -> None:
    dout = np.ones((2, 3))

    def cache_first(saved_stats: dict[str, float], g: np.ndarray) -> tuple[np.ndarray, None, None]:
        return g * saved_stats["rs"], None, None

    def dx_of(r: Any) -> Any:
        return r[0]

    # its names say nothing: (dout, cache) raises, (cache, dout) runs
    result, first = common.backward_in_order(cache_first, {"rs": 2.0}, dout, dx_of)
    assert first is True and result[0].tolist() == (2 * dout).tolist()

    def either(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, None, None]:
        return a, None, None

    def either_res(res: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, None, None]:
        return res, None, None

    # both orders run: (dout, cache) unless the first parameter is named as residuals
    assert common.backward_in_order(either, np.zeros((2, 3)), dout, dx_of)[1] is False
    assert common.backward_in_order(either_res, np.zeros((2, 3)), dout, dx_of)[1] is True
    # an order decided by an earlier call is kept
    assert common.backward_in_order(either, np.zeros((2, 3)), dout, dx_of, True)[1] is True

    def broken(a: Any, b: Any) -> Any:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        common.backward_in_order(broken, None, dout, dx_of)
