"""Each framework's BN in the other forms users write (issue 25: "user subclasses, instances and
factories of each"): factory functions of Keras, Flax linen and nnx, Equinox and Haiku layers,
Haiku transformed functions whose mode argument is keyword-only or an eval flag, and a user's
plain class holding an Equinox model; the registry's own decisions on factories and held layers.
Targets in tests/impls/frameworks/*_factories.py, *_forms.py."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from bncheck.check import VerificationReport, verify
from bncheck.exceptions import LoadError
from tests.frameworks import needs
from tests.internals import frameworks
from tests.paths import IMPLS

FW = IMPLS / "frameworks"
SLOW = pytest.mark.slow


def _run(target: str, **kwargs: Any) -> VerificationReport:
    return verify(str(FW / target), seed=0, timeout=60, **{"ndims": (2,), **kwargs})


def _ids(report: VerificationReport) -> set[str]:
    return {d["id"] for d in report.diagnosis}


def _one(c: int) -> int:
    return c


def _none() -> int:
    return 0


def _two(c: int, d: int) -> int:
    return c + d


def _keyword(*, c: int) -> int:
    return c


def _defaults(c: int, momentum: float = 0.1) -> float:
    return c * momentum


@pytest.mark.parametrize(
    ("factory", "arity"),
    [
        (_one, 1),
        (_none, 0),
        (_defaults, 1),
        (functools.partial(_two, 1), 1),
        (_two, None),  # two required arguments: not a factory bncheck calls
        (_keyword, None),  # C by keyword only: not guessed
        (int, None),  # a class is constructed, not called as a factory
        (object(), None),
    ],
    ids=["one", "none", "defaults", "partial", "two", "keyword-only", "class", "object"],
)
def test_factory_arity_says_how_a_factory_is_called(factory: Any, arity: int | None) -> None:
    assert frameworks.factory_arity(factory) == arity


def test_call_factory_passes_c_only_to_a_factory_taking_it() -> None:
    assert frameworks.call_factory(_one, 5) == 5
    assert frameworks.call_factory(_none, 5) == 0


def test_a_factory_of_no_framework_object_is_not_a_framework_target() -> None:
    assert frameworks.factory_framework(_one) is None
    assert frameworks.factory_framework(_two) is None


def test_a_factory_that_raises_raises_its_own_error_when_no_framework_builds_it() -> None:
    def broken(c: int) -> None:
        raise RuntimeError("the factory's own failure")

    with pytest.raises(RuntimeError, match="the factory's own failure"):
        frameworks.factory_framework(broken)


@pytest.mark.parametrize(
    "obj", [object(), {"a": 1}, [1, 2], int], ids=["object", "dict", "list", "class"]
)
def test_held_by_finds_nothing_in_objects_that_hold_no_framework_layer(obj: Any) -> None:
    assert frameworks.held_by(obj) == {}


# -- each framework, through verify --------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "options", "said"),
    [
        ("keras_factories.py:channels_last", {"ndims": (4,)}, "moved to the last axis"),
        ("keras_factories.py:default_bn", {}, "default_bn(), the factory's layer"),
    ],
    ids=["channels-last", "no-argument"],
)
@SLOW
@needs("keras")
def test_a_keras_factory_is_built_per_channel_count_and_passes(
    target: str, options: dict[str, Any], said: str
) -> None:
    report = _run(target, dtypes=("float32",), convention="keras", **options)
    assert report.kind == "keras"
    assert report.passed, [(c.id, c.message[:200]) for c in report.failed]
    assert said in "\n".join(report.mapping)


@pytest.mark.parametrize(
    ("target", "kind"),
    [("flax_factories.py:linen_bn", "flax.linen"), ("flax_factories.py:nnx_bn", "flax.nnx")],
    ids=["linen", "nnx"],
)
@SLOW
@needs("jax")
def test_a_flax_factory_is_plugged_in_as_its_module_and_passes(target: str, kind: str) -> None:
    report = _run(target, dtypes=("float64",))
    assert report.kind == kind
    assert report.passed, [(c.id, c.message[:200]) for c in report.failed]
    assert "the factory's module" in report.mapping[0] or "nnx_bn(C)" in report.mapping[0]


@SLOW
@needs("equinox")
def test_an_equinox_factory_is_built_with_its_state_and_passes() -> None:
    report = _run("equinox_forms.py:make_bn", dtypes=("float64",))
    assert report.kind == "equinox"
    assert report.passed, [(c.id, c.message[:200]) for c in report.failed]
    assert "make_bn(C)" in report.mapping[0]


@SLOW
@needs("equinox")
def test_a_plain_class_holding_an_equinox_model_gets_the_equinox_finding_only() -> None:
    report = _run("equinox_forms.py:Trainer", dtypes=("float32",))
    said = "\n".join(report.mapping)
    assert "parameters: net.bn.weight (set by eqx.tree_at), net.bn.bias" in said, said
    assert "eps: net.bn.eps" in said and "momentum: net.bn.momentum" in said
    assert {c.id for c in report.failed} == {"running/2d/float32"}, report.failed
    assert _ids(report) == {"debias-nonzero-start"}
    assert not report.unexplained


@pytest.mark.parametrize(
    ("target", "said"),
    [
        ("haiku_forms.py:keyword_only", "apply(params, state, x, is_training=train)"),
        ("haiku_forms.py:eval_flag", "apply(params, state, None, x, inference=not train)"),
        ("haiku_forms.py:make_bn", "make_bn(C) inside hk.transform_with_state"),
    ],
    ids=["keyword-only", "eval-flag", "factory"],
)
@SLOW
@needs("haiku")
def test_haiku_forms_are_plugged_in_and_judged_under_its_conventions(
    target: str, said: str
) -> None:
    report = _run(target, dtypes=("float64",))
    assert report.kind == "haiku"
    text = "\n".join(report.mapping)
    assert said in text, text
    assert "convention: 'zero-debiased'" in text and "decay_rate: 0.9" in text
    assert _ids(report) == {"one-pass-variance"}  # Haiku's own E[x²] − E[x]²
    running = [c for c in report.checks if c.id.startswith(("running/", "eval/"))]
    assert running and all(c.status == "pass" for c in running), running


@needs("haiku")
def test_a_haiku_function_whose_flag_says_nothing_is_refused_naming_it() -> None:
    with pytest.raises(LoadError, match=r"takes \(x, flag\).*name its flag so"):
        _run("haiku_forms.py:unnamed_flag", dtypes=("float64",))
