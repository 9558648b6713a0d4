"""How a layer's names are found (``bncheck.check._verify.targets.names``), tested directly
on small objects: a pair is taken only when both of its names hold C values, C values are
told from arrays that merely have C elements, containers are searched after attributes, and
a lazy layer's unset values are taken only when asked for.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from tests.internals import names

C = 4
PARAMS = (("gamma", "beta"), ("weight", "bias"))


def labels(found: Any) -> tuple[str, str] | None:
    return None if found is None else (found[0].label(), found[1].label())


# -- what counts as C values ------------------------------------------------------------------

C_VALUES = [
    pytest.param(np.ones(C), True, id="(C,)"),
    pytest.param(np.ones((1, C)), True, id="(1, C)"),
    pytest.param(np.ones((1, C, 1, 1)), True, id="(1, C, 1, 1)"),
    pytest.param(np.ones(C, np.int32), True, id="ints"),
    pytest.param([1.0] * C, True, id="a-list"),
    pytest.param(np.ones((2, 2)), False, id="(2, 2): C elements, not C values"),
    pytest.param(np.ones(C + 1), False, id="C + 1 values"),
    pytest.param(np.ones(C - 1), False, id="C - 1 values"),
    pytest.param(np.ones(C, bool), False, id="bools"),
    pytest.param(np.array(1.0), False, id="a-0-d-array"),
    pytest.param("abcd", False, id="a-string"),
    pytest.param(SimpleNamespace(data=np.ones(C)), True, id="a-parameter-object-with-data"),
]


@pytest.mark.parametrize(("value", "is_c"), C_VALUES)
def test_a_value_is_c_values_only_when_it_has_c_elements_along_one_axis(
    value: Any, is_c: bool
) -> None:
    obj = SimpleNamespace(gamma=value, beta=np.zeros(C))
    assert (names.find_pair(obj, PARAMS, (), C, allow_none=False) is not None) == is_c
    assert ("gamma" in names.c_valued_slots(obj, C)) == is_c


# -- a pair: both names, both C values --------------------------------------------------------

PAIRS = [
    pytest.param({"gamma": np.ones(C), "beta": np.zeros(C)}, ("gamma", "beta"), id="both"),
    pytest.param({"gamma": np.ones(C), "beta": np.zeros(C + 1)}, None, id="beta-the-wrong-size"),
    pytest.param({"gamma": np.ones(C + 1), "beta": np.zeros(C)}, None, id="gamma-the-wrong-size"),
    pytest.param({"gamma": np.ones(C)}, None, id="beta-absent"),
    pytest.param(
        {"gamma": np.ones(C), "beta": np.zeros(3), "weight": np.ones(C), "bias": np.zeros(C)},
        ("weight", "bias"),
        id="the-first-pair-half-valid-the-second-whole",
    ),
    pytest.param(
        {"gamma": np.ones(C), "beta": np.zeros(C), "weight": np.ones(C), "bias": np.zeros(C)},
        ("gamma", "beta"),
        id="two-whole-pairs-the-tables-order",
    ),
]


@pytest.mark.parametrize(("attrs", "expected"), PAIRS)
def test_find_pair_takes_a_pair_only_when_both_names_hold_c_values(
    attrs: dict[str, Any], expected: tuple[str, str] | None
) -> None:
    obj = SimpleNamespace(**attrs)
    assert labels(names.find_pair(obj, PARAMS, (), C, allow_none=False)) == expected


@pytest.mark.parametrize(
    ("beta", "allow_none", "found"),
    [
        pytest.param(None, True, True, id="None-allowed"),
        pytest.param(None, False, False, id="None-not-allowed"),
        pytest.param(0.0, True, True, id="a-scalar-allowed"),
        pytest.param(0.0, False, False, id="a-scalar-not-allowed"),
        pytest.param(True, True, False, id="a-bool-is-not-a-number-here"),
        pytest.param("zeros", True, False, id="a-string-never"),
    ],
)
def test_an_unset_value_counts_only_for_a_lazy_layer(
    beta: Any, allow_none: bool, found: bool
) -> None:
    obj = SimpleNamespace(gamma=np.ones(C), beta=beta)
    got = names.find_pair(obj, PARAMS, (), C, allow_none=allow_none)
    assert (got is not None) == found


def test_find_pair_looks_in_attributes_first_then_in_containers() -> None:
    inside = SimpleNamespace(params={"gamma": np.ones(C), "beta": np.zeros(C)})
    assert labels(names.find_pair(inside, PARAMS, ("params",), C, allow_none=False)) == (
        "params['gamma']",
        "params['beta']",
    )
    both = SimpleNamespace(
        weight=np.ones(C), bias=np.zeros(C), params={"gamma": np.ones(C), "beta": np.zeros(C)}
    )
    assert labels(names.find_pair(both, PARAMS, ("params",), C, allow_none=False)) == (
        "weight",
        "bias",
    )
    assert labels(
        names.find_pair(both, PARAMS, ("params",), C, allow_none=False, attributes=False)
    ) == ("params['gamma']", "params['beta']")


def test_a_pair_split_between_an_attribute_and_a_container_is_not_a_pair() -> None:
    obj = SimpleNamespace(gamma=np.ones(C), params={"beta": np.zeros(C)})
    assert names.find_pair(obj, PARAMS, ("params",), C, allow_none=False) is None


def test_any_number_of_channels_when_c_is_not_known() -> None:
    obj = SimpleNamespace(gamma=np.ones(7), beta=np.zeros(7))
    assert labels(names.find_pair(obj, PARAMS, (), None, allow_none=False)) == ("gamma", "beta")


# -- slots ------------------------------------------------------------------------------------


def test_a_slot_writes_in_the_shape_the_layer_holds_and_the_dtype_given() -> None:
    obj = SimpleNamespace(gamma=np.ones((1, C, 1, 1)), params={"beta": np.zeros((1, C))})
    names.Slot("gamma").set(obj, np.arange(C, dtype=np.float32))
    names.Slot("beta", "params").set(obj, np.arange(C, dtype=np.float64))
    assert obj.gamma.shape == (1, C, 1, 1) and obj.gamma.dtype == np.float32
    assert obj.params["beta"].shape == (1, C)
    assert obj.gamma.ravel().tolist() == [0.0, 1.0, 2.0, 3.0]


def test_scalar_attr_takes_the_first_name_present_attributes_before_containers() -> None:
    obj = SimpleNamespace(epsilon=1e-3, params={"eps": 1e-5})
    assert names.scalar_attr(obj, ("eps", "epsilon")) == ("epsilon", 1e-3)
    obj2 = SimpleNamespace(params={"eps": 1e-5})
    assert names.scalar_attr(obj2, ("eps", "epsilon")) == ("params['eps']", 1e-5)
    assert names.scalar_attr(SimpleNamespace(eps=lambda: 1), ("eps",)) is None
