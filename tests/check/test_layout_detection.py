"""How a layer is called and built (``bncheck.check._verify.targets.layout``), tested directly:
every branch of the mode detection, the order between them, what each mode's call does, and
the constructions tried for each signature.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.internals import layout


class Recorder:
    """A forward that records how it was called, and its mode attribute."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []


def method(name: str) -> Any:
    def fn(self: Any, *args: Any) -> Any:
        self.calls.append((name, *args))
        return "y"

    return fn


class Plain(Recorder):
    def forward(self, x: Any) -> Any:
        self.calls.append(("forward", x))
        return "y"


def plain(**members: Any) -> Any:
    cls = type("Layer", (Plain,), {k: v for k, v in members.items() if callable(v)})
    obj = cls()
    for k, v in members.items():
        if not callable(v):
            setattr(obj, k, v)
    return obj


def kw_layer(param: str) -> Any:
    scope: dict[str, Any] = {}
    exec(
        f"def forward(self, x, {param}=None):\n"
        f"    self.calls.append(('forward', x, {param}))\n"
        "    return 'y'",
        scope,
    )
    return type("Layer", (Recorder,), {"forward": scope["forward"]})()


# -- the detected mode ------------------------------------------------------------------------

MODES = [
    pytest.param(lambda: kw_layer("train"), "kwarg", "train", id="train=-kwarg"),
    pytest.param(lambda: kw_layer("train_flg"), "kwarg", "train_flg", id="train_flg=-kwarg"),
    pytest.param(lambda: kw_layer("is_test"), "inverted", "is_test", id="is_test=-inverted"),
    pytest.param(lambda: kw_layer("mode"), "string", "mode", id="mode=-string"),
    pytest.param(
        lambda: plain(train=method("train"), eval=method("eval")), "methods", "", id="train+eval"
    ),
    pytest.param(
        lambda: plain(train=method("train"), training=True),
        "attribute",
        "training",
        id="train()-alone-and-a-training-flag",
    ),
    pytest.param(lambda: plain(eval=method("eval")), "none", "", id="eval()-alone"),
    pytest.param(lambda: plain(train=method("train")), "none", "", id="train()-alone"),
    pytest.param(lambda: plain(is_training=False), "attribute", "is_training", id="bool-attribute"),
    pytest.param(lambda: plain(training=1), "none", "", id="an-int-flag-is-not-a-mode"),
    pytest.param(lambda: plain(mode="train"), "string-attribute", "mode", id="mode='train'"),
    pytest.param(lambda: plain(phase="TEST"), "string-attribute", "phase", id="phase='TEST'"),
    pytest.param(lambda: plain(mode="fast"), "none", "", id="mode='fast'-is-not-a-mode"),
    pytest.param(lambda: plain(predict=method("predict")), "eval-method", "predict", id="predict"),
    pytest.param(lambda: plain(), "none", "", id="nothing"),
]


@pytest.mark.parametrize(("make", "mode", "name"), MODES)
def test_mode_of_finds_each_kind_of_mode_switch(make: Any, mode: str, name: str) -> None:
    found = layout.mode_of(make())
    assert (found.mode, found.mode_name) == (mode, name)


def test_a_bool_parameter_wins_over_an_inverted_one_and_a_method_switch() -> None:
    scope: dict[str, Any] = {}
    exec("def forward(self, x, test=False, training=True):\n    return x", scope)
    cls = type("L", (), {"forward": scope["forward"], "train": method("t"), "eval": method("e")})
    found = layout.mode_of(cls())
    assert (found.mode, found.mode_name) == ("kwarg", "training")


def test_a_callable_without_forward_is_called_and_an_object_with_neither_has_no_forward() -> None:
    class Callable_:
        def __call__(self, x: Any, training: bool = True) -> Any:
            return x

    found = layout.mode_of(Callable_())
    assert (found.forward_name, found.mode, found.mode_name) == ("__call__", "kwarg", "training")
    bare = layout.mode_of(object())
    assert (bare.forward_name, bare.mode) == ("forward", "none")


# -- what each mode's call does ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("param", "train_value", "eval_value"),
    [
        pytest.param("training", True, False, id="kwarg"),
        pytest.param("is_test", False, True, id="inverted"),
        pytest.param("mode", "train", "test", id="string"),
    ],
)
def test_call_forward_passes_the_mode_each_way(
    param: str, train_value: Any, eval_value: Any
) -> None:
    obj = kw_layer(param)
    found = layout.mode_of(obj)
    layout.call_forward(obj, found, "x1", True)
    layout.call_forward(obj, found, "x2", False)
    assert obj.calls == [("forward", "x1", train_value), ("forward", "x2", eval_value)]


def test_call_forward_switches_methods_attributes_and_eval_methods() -> None:
    obj = plain(train=method("train"), eval=method("eval"))
    found = layout.mode_of(obj)
    layout.call_forward(obj, found, "a", True)
    layout.call_forward(obj, found, "b", False)
    assert obj.calls == [("train",), ("forward", "a"), ("eval",), ("forward", "b")]

    flag = plain(training=True)
    layout.call_forward(flag, layout.mode_of(flag), "c", False)
    assert flag.training is False and flag.calls == [("forward", "c")]

    text = plain(mode="train")
    layout.call_forward(text, layout.mode_of(text), "d", False)
    assert text.mode == "test"

    pred = plain(predict=method("predict"))
    layout.call_forward(pred, layout.mode_of(pred), "e", True)
    layout.call_forward(pred, layout.mode_of(pred), "f", False)
    assert pred.calls == [("forward", "e"), ("predict", "f")]


def test_without_a_mode_switch_eval_is_refused_and_training_is_a_plain_call() -> None:
    obj = plain()
    found = layout.mode_of(obj)
    assert layout.call_forward(obj, found, "x", True) == "y"
    with pytest.raises(NotImplementedError, match="no eval mode"):
        layout.call_forward(obj, found, "x", False)


# -- construction -----------------------------------------------------------------------------


def ctor(signature: str) -> Any:
    scope: dict[str, Any] = {}
    exec(f"def __init__(self, {signature}):\n    pass", scope)
    return type("Layer", (), {"__init__": scope["__init__"]})


CONSTRUCTIONS = [
    pytest.param("gamma, beta", ("params", None), id="(gamma, beta)"),
    pytest.param("weight, bias, eps=1e-5", ("params", None), id="(weight, bias)"),
    pytest.param("C, num_dims", ("channels+rank", None), id="(C, num_dims)"),
    pytest.param("C, something", ("channels", None), id="two-required-not-a-rank"),
    pytest.param("num_features, eps=1e-5", ("channels", None), id="(num_features)"),
    pytest.param("num_features=8, eps=1e-5", ("channels", "num_features"), id="keyword-default"),
    pytest.param("eps=1e-5", ("lazy", None), id="nothing-required"),
]


@pytest.mark.parametrize(("signature", "first"), CONSTRUCTIONS)
def test_construction_of_tries_the_signatures_own_form_first(
    signature: str, first: tuple[str, str | None]
) -> None:
    tried = layout.construction_of(ctor(signature))
    assert (tried[0].form, tried[0].keyword) == first
    forms = [t.form for t in tried]
    assert {"channels", "lazy", "params"} <= set(forms)
    assert len(tried) == len(set((t.form, t.keyword) for t in tried))  # each once


def test_a_construction_builds_with_the_arguments_its_form_names() -> None:
    seen: list[Any] = []

    def factory(*args: Any, **kwargs: Any) -> None:
        seen.append((args, kwargs))

    layout.Construction("channels").build(factory, 3, "float64")
    layout.Construction("channels", "num_features").build(factory, 3, "float64")
    layout.Construction("channels+rank").build(factory, 3, "float64", ndim=4)
    layout.Construction("lazy").build(factory, 3, "float64")
    assert seen == [((3,), {}), ((), {"num_features": 3}), ((3, 4), {}), ((), {})]
    layout.Construction("params").build(factory, 3, "float32")
    (g, b), _ = seen[-1]
    assert g.tolist() == [1.0] * 3 and b.tolist() == [0.0] * 3 and g.dtype == "float32"
