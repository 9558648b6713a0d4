"""Discovery by behaviour: values found wherever they live (index paths), the forward, backward
and train/eval switch found by calling the target and watching it, parameters by the affine
law, running statistics as the values that carry past batches, gradients by value; and the
command-line mapping that names what discovery cannot decide."""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import pytest

from bncheck.check import adapt, verify
from bncheck.cli import main
from tests.internals import (
    backward_arguments,
    layout,
    returned_order,
    target_common,
    target_layer,
    values,
)
from tests.paths import IMPLS

Layout, mode_candidates, string_constants = (
    layout.Layout,
    layout.mode_candidates,
    layout.string_constants,
)
Path, leaves, parse_path = values.Path, values.leaves, values.parse_path

HERE = IMPLS / "discovery.py"
ONE_CASE = {"ndims": (2,), "dtypes": ("float64",)}


# -- paths -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("gamma", ("gamma",)),
        ("params.0", ("params", 0)),
        ("grads[1]", ("grads", 1)),
        ("stats['mean']", ("stats", "mean")),
        ('a.b[-1]["x y"].data', ("a", "b", -1, "x y", "data")),
    ],
)
def test_a_path_is_read_as_attributes_keys_and_indices(text: str, steps: tuple[Any, ...]) -> None:
    assert parse_path(text) == steps


@pytest.mark.parametrize("text", ["", ".a", "a..b", "a[x]", "a[", "1a"])
def test_a_malformed_path_is_refused_with_the_text(text: str) -> None:
    with pytest.raises(ValueError, match="path"):
        parse_path(text)


def test_a_path_writes_in_the_shape_and_kind_the_layer_keeps() -> None:
    param = types.SimpleNamespace(data=np.zeros((1, 3)), grad=None)
    layer = types.SimpleNamespace(
        params=[np.zeros(3), np.ones((1, 3))], pair=(np.zeros(3),), store={"w": param}
    )
    Path.parse("params.1").set(layer, [1.0, 2.0, 3.0])
    assert layer.params[1].shape == (1, 3) and layer.params[1].tolist() == [[1.0, 2.0, 3.0]]
    held = layer.pair[0]
    Path.parse("pair[0]").set(layer, [4.0, 5.0, 6.0])  # a tuple item: written in place
    assert layer.pair[0] is held and held.tolist() == [4.0, 5.0, 6.0]
    Path.parse("store['w']").set(layer, [7.0, 8.0, 9.0])  # a parameter object: its .data
    assert layer.store["w"] is param and param.data.tolist() == [[7.0, 8.0, 9.0]]
    Path.parse("pair[0]").set(layer, np.zeros(3, np.float32))  # fits float64 exactly
    assert layer.pair[0] is held and held.dtype == np.float64
    narrow = types.SimpleNamespace(pair=(np.zeros(3, np.float32),))
    with pytest.raises(TypeError, match="tuple"):
        Path.parse("pair[0]").set(narrow, np.zeros(3))  # float64 does not fit float32
    assert not Path.parse("params.5").exists(layer) and Path.parse("params.5").get(layer) is None


def test_leaves_finds_c_values_in_any_container_once() -> None:
    shared = np.ones(3)
    param = types.SimpleNamespace(data=np.zeros(3), grad=np.full(3, 2.0))
    layer = types.SimpleNamespace(
        a=shared,
        nested={"x": [shared, np.zeros(4), np.arange(3.0)]},
        p=param,
        fn=lambda: np.zeros(3),
        other=np.zeros((5, 3)),
        rows=np.zeros((2, 3)),
    )
    layer.me = layer  # a cycle
    found = {p.label() for p in leaves(layer, 3)}
    assert found == {"a", "nested.x[2]", "p", "p.grad", "rows[0]", "rows[1]"}


# -- switches and entry points -----------------------------------------------------------------


class _Keras:
    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        return self.call(inputs, *args, **kwargs)

    def call(self, inputs: Any, training: Any = None) -> Any:
        return inputs


class _Lasagne:
    phase = "learn"

    def get_output_for(self, x: Any, deterministic: bool = False) -> Any:
        if self.phase == "learn":
            return x
        return x if self.phase != "score" else -x


def test_switches_passed_on_through_kwargs_and_inverted_names_are_candidates() -> None:
    keras = [(c.mode, c.mode_name) for c in mode_candidates(_Keras(), "__call__")]
    assert ("kwarg", "training") in keras
    lasagne = mode_candidates(_Lasagne(), "get_output_for")
    assert (lasagne[0].mode, lasagne[0].mode_name) == ("inverted", "deterministic")
    strings = [(c.train_value, c.eval_value) for c in lasagne if c.mode == "string-attribute"]
    assert ("learn", "score") in strings  # both words read from the code


def test_string_constants_come_from_methods_and_closures() -> None:
    def set_mode(name: str) -> None:
        assert name in ("warm", "frozen")

    words = string_constants(types.SimpleNamespace(set_mode=set_mode))
    assert {"warm", "frozen"} <= set(words)
    assert "score" in string_constants(_Lasagne())


def test_a_layout_describes_its_own_values() -> None:
    layout = Layout("forward", "string-attribute", "stage", "serve", train_value="fit")
    assert layout.describe() == "stage = 'fit'|'serve', then forward(x)"


# -- whole layers found by behaviour -----------------------------------------------------------


def test_lists_a_grad_method_and_call_with_train_are_found() -> None:
    report = verify(f"{HERE}:ListedBN", **ONE_CASE)
    assert report.result == "pass", report.to_text()
    text = "\n".join(report.mapping)
    assert "params[0], params[1]" in text and "grads[0], grads[1]" in text
    assert "stats[0], stats[1]" in text and "__call__(x, train=True|False)" in text


def test_a_sign_error_in_such_a_layer_fails_its_backward_only() -> None:
    report = verify(f"{HERE}:ListedBNSignError", **ONE_CASE)
    assert {c.id.split("/")[0] for c in report.failed} == {"backward", "backward-fd"}


def test_a_mode_in_words_no_table_lists_is_read_from_the_code() -> None:
    report = verify(f"{HERE}:PhaseBN", **ONE_CASE)
    assert report.result == "pass", report.to_text()
    assert any("stage = 'fit'|'serve'" in line for line in report.mapping)
    wrong = verify(f"{HERE}:PhaseBNServeShift", **ONE_CASE)
    assert [c.id for c in wrong.failed] == ["eval/2d/float64"]


def test_a_factory_returning_a_dict_of_functions_is_a_layer() -> None:
    report = verify(f"{HERE}:dict_layer", **ONE_CASE)
    assert report.result == "pass", report.to_text()
    assert any("running.mean, running.var" in line for line in report.mapping)


def test_a_cache_of_the_last_batch_is_not_taken_for_a_running_statistic() -> None:
    # ListedBN also keeps self.inv (1/sqrt(var + eps) of the last batch), blended with nothing
    report = verify(f"{HERE}:ListedBN", **ONE_CASE)
    assert not any("inv" in line for line in report.mapping if "running" in line)


def test_running_statistics_with_no_switch_are_incomplete_and_ask_for_one() -> None:
    report = verify(f"{HERE}:NoSwitchBN", **ONE_CASE)
    assert report.result == "incomplete", report.to_text()
    assert all("--mode NAME" in c.message for c in report.not_checked)


# -- the mapping from the command line ---------------------------------------------------------


def test_mapping_options_replace_the_search(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["verify", f"{HERE}:PhaseBN", "--ndims", "2", "--dtypes", "float64"]
    mapped = [*args, "--mode", "stage", "--train-value", "fit", "--eval-value", "serve"]
    running = ["--running-mean", "ema['m']", "--running-var", "ema['v']"]
    assert main([*mapped, "--gamma", "w", "--beta", "b", *running]) == 0
    assert "as given by --mode" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--gamma", "nope"], "values of numbers found on it: w, b"),
        (["--backward", "nope"], "has no such method; its methods:"),
        (["--mode", "stage", "--train-value", "fit", "--eval-value", "x"], "switches bncheck"),
        (["--train-value", "fit"], "without mode"),
        (["--gamma", "w["], "cannot read"),
    ],
)
def test_a_mapping_that_does_not_hold_is_a_usage_error(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["verify", f"{HERE}:PhaseBN", "--ndims", "2", "--dtypes", "float64", *extra]
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_mapping_options_on_a_functional_target_are_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["verify", f"{IMPLS / 'functional.py'}:compact", "--gamma", "g"]) == 2
    assert "map a layer object" in capsys.readouterr().err


def test_adapt_paths_take_indices() -> None:
    layer = types.SimpleNamespace(params=[np.ones(2), np.zeros(2)])
    wrapped = adapt(
        layer,
        forward=lambda x, train: x,
        backward=lambda dy: (dy, None, None),
        gamma="params.0",
        beta="params[1]",
    )
    wrapped.gamma = [2.0, 3.0]
    assert layer.params[0].tolist() == [2.0, 3.0] and wrapped.beta.tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match=r"params\.7"):
        adapt(layer, forward=lambda x, t: x, backward=lambda dy: dy, gamma="params.7")


def test_a_process_wide_switch_is_found_and_restored_after_each_call() -> None:
    report = verify(f"{HERE}:GlobalSwitchBN", convention="torch", **ONE_CASE)
    assert report.result == "pass", report.to_text()
    assert any("SETTINGS.learning = True|False" in line for line in report.mapping)
    from tests.impls import discovery

    assert discovery.SETTINGS.learning is True  # this process's copy, untouched


def test_statistics_held_in_a_tuple_keep_their_dtype_and_say_so() -> None:
    report = verify(f"{HERE}:ListedBN", ndims=(2,), dtypes=("float32",))
    assert report.result == "pass", report.to_text()
    assert any("stays float64 in a float32 run" in note for note in report.contract)


def test_a_layer_keeping_its_inputs_until_a_flush_is_driven_one_forward_per_step() -> None:
    report = verify(f"{HERE}:KeepsInputsBN", convention="keras", **ONE_CASE)
    assert report.result == "pass", report.to_text()
    assert any("flush_gradients() is called before each" in line for line in report.mapping)


def test_a_stateful_backward_is_left_to_the_second_call_check() -> None:
    # h30 blends its running inverse std into what its backward uses: a mistake, not a protocol
    report = verify(f"{IMPLS / 'heldout' / 'h30_phase_string_inv_std.py'}:BatchNorm", **ONE_CASE)
    assert report.result == "fail"
    assert not any("is called before each" in line for line in report.mapping)


def test_a_registry_keyed_by_the_layers_name_is_reached_for_each_layer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = types.ModuleType("registry_style")
    module.PARAMS = {"bn0/gamma": np.ones(3), "other/gamma": np.ones(3), "bn1/gamma": np.zeros(3)}
    monkeypatch.setitem(__import__("sys").modules, "registry_style", module)
    Layer = type("Layer", (), {"__module__": "registry_style"})
    first, second = Layer(), Layer()
    first.name, second.name = "bn0", "bn1"
    found = [p for p in leaves(first, 3) if p.label().startswith("registry_style")]
    assert [p.label() for p in found] == ["registry_style.PARAMS['{<name>}/gamma']"]
    where = found[0]
    assert where.get(second) is module.PARAMS["bn1/gamma"]  # the same path, the other layer
    where.set(second, [1.0, 2.0, 3.0])
    assert module.PARAMS["bn1/gamma"].tolist() == [1.0, 2.0, 3.0]
    assert module.PARAMS["bn0/gamma"].tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("axis", [-1, None], ids=["given", "found"])
def test_a_channels_last_function_is_driven_channels_last(axis: int | None) -> None:
    kwargs: dict[str, Any] = {"dtypes": ("float64",)} | ({"axis": axis} if axis else {})
    right = verify(f"{IMPLS / 'channels_last.py'}:nhwc", **kwargs)
    assert right.result == "pass", right.to_text()
    wrong = verify(f"{IMPLS / 'channels_last.py'}:nhwc_dgamma4d", **kwargs)
    assert "backward/4d/float64" in {c.id for c in wrong.failed}
    assert not any(c.id.startswith("backward/2d") for c in wrong.failed)
    if axis is None:
        assert any("channel axis: -1 (found" in line for line in right.mapping)


class _Careful:
    """A layer with methods discovery must never call on a guess."""

    def __init__(self) -> None:
        self.touched: list[str] = []

    def save_checkpoint(self, x: Any) -> Any:
        self.touched.append("save_checkpoint")
        return x

    def load_state(self, mode: Any) -> None:
        self.touched.append("load_state")

    def predict(self, x: Any) -> Any:
        return x


def test_methods_that_reach_outside_the_layer_are_never_tried() -> None:
    assert layout.side_effects("save_checkpoint") and layout.side_effects("load_state")
    assert not layout.side_effects("forward") and not layout.side_effects("set_mode")
    careful = _Careful()
    assert all(c.mode_name != "load_state" for c in mode_candidates(careful, "predict"))


def test_rows_of_one_array_are_values_of_their_own() -> None:
    report = verify(f"{HERE}:RowsBN", convention="keras", ndims=(2,), dtypes=("float64", "float32"))
    assert report.result == "pass", report.to_text()
    text = "\n".join(report.mapping)
    assert "affine[0], affine[1]" in text and "d_affine[0], d_affine[1]" in text
    assert "stats[0], stats[1]" in text
    rows = types.SimpleNamespace(a=np.zeros((2, 3)))
    Path.parse("a[1]").set(rows, np.array([1.0, 2.0, 3.0], np.float32))  # fits float64 exactly
    assert rows.a[1].tolist() == [1.0, 2.0, 3.0] and rows.a.dtype == np.float64
    with pytest.raises(TypeError, match="fit its dtype"):
        Path.parse("a[0]").set(types.SimpleNamespace(a=np.zeros((2, 3), np.float32)), np.ones(3))


def test_gradient_paths_can_be_given(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["verify", f"{HERE}:RowsBN", "--ndims", "2", "--dtypes", "float64"]
    assert main([*args, "--dgamma", "d_affine[0]", "--dbeta", "d_affine.1"]) == 0
    assert main([*args, "--dgamma", "d_affine[0]"]) == 2
    assert "give both --dgamma and --dbeta" in capsys.readouterr().err


def test_an_enum_switch_is_tried_with_its_members() -> None:
    report = verify(f"{HERE}:EnumPhaseBN", **ONE_CASE)
    assert report.result == "pass", report.to_text()
    assert any("Phase.SERVE" in line for line in report.mapping)


def test_adapt_refuses_a_written_path_that_is_not_there() -> None:
    layer = types.SimpleNamespace(gamma=np.ones(2), beta=np.zeros(2))
    with pytest.raises(ValueError, match=r"running_mean='stats\.mean'"):
        adapt(layer, forward=lambda x, t: x, backward=lambda dy: dy, running_mean="stats.mean")
    adapt(layer, forward=lambda x, t: x, backward=lambda dy: dy)  # default names may be missing


def test_an_inference_form_made_by_a_method_is_the_eval_mode() -> None:
    report = verify(f"{HERE}:ExportingBN", convention="keras", **ONE_CASE)
    assert report.result == "pass", report.to_text()
    assert any("fold() makes an inference object" in line for line in report.mapping)


def test_the_constructor_and_the_statistic_s_form_can_be_given(
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = str(IMPLS / "heldout" / "h11_lasagne_inv_std.py") + ":BatchNormLayer"
    args = ["verify", target, "--ndims", "2", "--dtypes", "float64"]
    assert main([*args, "--build", "C, epsilon=1e-4", "--running-form", "inv-std"]) == 0
    out = capsys.readouterr().out
    assert "BatchNormLayer(C, epsilon=1e-4) (as given by --build)" in out
    assert main([*args, "--running-form", "std"]) == 1  # held to what was said: it is not
    capsys.readouterr()
    for extra, message in (
        (["--build", "C, open('x')"], "neither a literal nor C"),
        (["--build", "C,,"], "not a list of arguments"),
        (["--running-form", "sd"], "expected var, std, std-eps or inv-std"),
    ):
        assert main([*args, *extra]) == 2
        assert message in capsys.readouterr().err


def test_build_arguments_evaluate_only_literals_and_c() -> None:
    assert layout.build_arguments("C, eps=1e-3, sizes=(1, 2)", 7) == (
        (7,),
        {"eps": 1e-3, "sizes": (1, 2)},
    )
    with pytest.raises(ValueError, match="no \\*args"):
        layout.build_arguments("*C", 7)


DICT_VJP = '''
import numpy as np


class Norm:
    """Its backward is vjp(g) -> {"x": ..., "weight": ..., "bias": ...}; keyword mode."""

    def __init__(self, width, decay=0.95, tiny=1e-5):
        self.weight, self.bias = np.ones(width), np.zeros(width)
        self.stat_mu, self.stat_sigma2 = np.zeros(width), np.ones(width)
        self.decay, self.tiny = decay, tiny

    def __call__(self, x, *, is_inference=False):
        ax = tuple(i for i in range(x.ndim) if i != 1)
        sh = [1] * x.ndim
        sh[1] = -1
        if is_inference:
            mu, var = self.stat_mu, self.stat_sigma2
        else:
            mu = x.mean(axis=ax)
            var = ((x - mu.reshape(sh)) ** 2).mean(axis=ax)
            self.stat_mu = self.decay * self.stat_mu + (1 - self.decay) * mu
            self.stat_sigma2 = self.decay * self.stat_sigma2 + (1 - self.decay) * var
        r = 1 / np.sqrt(var + self.tiny)
        self._saved = ((x - mu.reshape(sh)) * r.reshape(sh), r, ax, sh)
        return (self._saved[0] * self.weight.reshape(sh) + self.bias.reshape(sh)).astype(x.dtype)

    def vjp(self, g):
        xh, r, ax, sh = self._saved
        n = g.size // g.shape[1]
        gb, gw = g.sum(axis=ax), (g * xh).sum(axis=ax)
        gx = (self.weight * r).reshape(sh) / n * (n * g - gb.reshape(sh) - xh * gw.reshape(sh))
        return {"x": gx.astype(g.dtype), "weight": gw, "bias": GB}
'''


@pytest.mark.parametrize(("dbias", "result"), [("gb", "pass"), ("2 * gb", "fail")])
def test_a_backward_returning_a_dict_is_found_by_behaviour(
    tmp_path: Any, dbias: str, result: str
) -> None:
    """No backward() and a dict of gradients from vjp: found without --backward, and checked
    (a doubled dbias fails)."""
    path = tmp_path / "dict_vjp.py"
    path.write_text(DICT_VJP.replace("GB", dbias), encoding="utf-8")
    report = verify(f"{path}:Norm", ndims=(2,), dtypes=("float64",))
    assert report.result == result, [(c.id, c.status, c.message[:80]) for c in report.checks]
    assert any("vjp(dy) -> gradients in a dict" in m for m in report.mapping), report.mapping
    if result == "pass":
        assert {c.id: c.status for c in report.checks}["eval/2d/float64"] == "pass"


def test_a_layer_taking_its_input_and_dy_by_keyword_only_is_driven_and_checked() -> None:
    """``forward(self, *, inputs)``: x is passed by the one required keyword-only parameter's
    name, as ``backward(self, *, grad_output)`` already was (it was refused, "takes 1
    positional argument but 2 were given"); its eval is checked, and a bug there fails."""
    target = str(IMPLS / "kwonly_layer.py")
    options: dict[str, Any] = {"dtypes": ("float64",), "ndims": (2,), "convention": "torch"}
    report = verify(f"{target}:KwBN", **options)
    assert report.passed, [(c.id, c.message[:200]) for c in report.failed]
    assert {c.id: c.status for c in report.checks}["eval/2d/float64"] == "pass"
    buggy = verify(f"{target}:KwBuggy", **options)
    assert {c.id for c in buggy.failed} >= {"eval/2d/float64"}, buggy.failed


def test_x_goes_by_keyword_only_where_the_signature_has_one_required_keyword_and_no_position() -> (
    None
):
    def kw_only(*, inputs: Any, training: bool = True) -> Any:
        return inputs, training

    def two_required(*, inputs: Any, mask: Any) -> Any:
        return inputs

    def positional(x: Any, *, training: bool = True) -> Any:
        return x

    def star_args(*args: Any, inputs: Any) -> Any:
        return inputs

    assert target_common.one_by_keyword(kw_only)(3, training=False) == (3, False)
    for method in (two_required, positional, star_args, print):
        assert target_common.one_by_keyword(method) is method, method


def test_a_dict_of_gradients_keyed_by_the_layers_own_parameter_names_is_read() -> None:
    """``grad(dy) -> (dx, {"g": ..., "b": ...})`` on a layer whose parameters are ``self.g`` and
    ``self.b``: the keys are the parameters' own names (found by behaviour), so the gradients
    are read and checked (it was refused by the BN discovery, and the family fallback left the
    backward, running statistics and eval not checked); a wrong dbeta under those keys
    fails."""
    target = str(IMPLS / "own_grad_keys.py")
    options: dict[str, Any] = {"dtypes": ("float64",), "ndims": (2,), "convention": "torch"}
    report = verify(f"{target}:OwnKeysBN", **options)
    assert report.passed, [(c.id, c.status, c.message[:200]) for c in report.checks]
    status = {c.id: c.status for c in report.checks}
    assert status["backward/2d/float64"] == status["eval/2d/float64"] == "pass"
    buggy = verify(f"{target}:OwnKeysBuggy", **options)
    assert "backward/2d/float64" in {c.id for c in buggy.failed}, buggy.checks


def test_own_grad_keys_pairs_the_layers_names_and_nothing_without_two() -> None:
    own = target_common.own_grad_keys(("g", "b"))
    assert ("g", "b") in own and ("g_grad", "b_grad") in own and ("grad_g", "grad_b") in own
    assert target_common.own_grad_keys(()) == ()
    _dx, dg, db = target_common.split_grads(
        (np.zeros((2, 2)), {"g": np.ones(2), "b": np.full(2, 2.0)}), "backward", ("g", "b")
    )
    assert dg.tolist() == [1.0, 1.0] and db.tolist() == [2.0, 2.0]
    with pytest.raises(TypeError, match="keys"):
        target_common.split_grads(
            (np.zeros((2, 2)), {"g": np.ones(2), "b": np.ones(2)}), "backward", ()
        )


def test_returned_records_python_sequences_read_as_outputs_and_as_array_does_not() -> None:
    from tests.internals import adapter_protocol as adapter_module

    adapter_module.READ_AS_ARRAYS.clear()
    try:
        target_common.as_array(np.ones(3))
        target_common.as_array(None)
        target_common.returned(["a", "b"])  # not numbers: passed through, not read
        target_common.as_array([1.0, 2.0])  # a value read off the target, not an output
        assert adapter_module.READ_AS_ARRAYS == set()
        assert target_common.returned([[1.0, 2.0]]).tolist() == [[1.0, 2.0]]
        target_common.returned((1.0, 2.0))
        assert adapter_module.READ_AS_ARRAYS == {"list", "tuple"}
        assert len(adapter_module.read_as_arrays_notes()) == 2
    finally:
        adapter_module.READ_AS_ARRAYS.clear()


def test_the_one_backward_parameter_not_named_as_an_input_or_output_is_dy() -> None:
    """``vjp(x, cotangent)``: x is named as the forward's input, so the parameter left is dy,
    whatever its name; with two such parameters nothing is decided."""

    def vjp(x: Any, cotangent: Any) -> None: ...

    def two_unknown(a: Any, b: Any) -> None: ...

    assert backward_arguments(vjp, "X", "Y", "DY") == ("X", "DY")
    assert backward_arguments(two_unknown, "X", "Y", "DY") is None


def test_an_mlx_style_layer_with_vjp_x_cotangent_is_driven_and_its_mistake_named() -> None:
    target = IMPLS / "vjp_cotangent.py"
    report = verify(f"{target}:BatchNorm", convention="torch", **ONE_CASE)
    assert report.result == "pass", report.to_text()
    assert any("vjp(x, cotangent)" in line for line in report.mapping), report.mapping
    wrong = verify(f"{target}:BatchNormVarPathBug", convention="torch", **ONE_CASE)
    assert {d["id"] for d in wrong.diagnosis} == {"dvar-path-scaled"}, wrong.to_text()


# -- the order of the parameters' gradients -------------------------------------------------------


def test_the_order_a_backward_names_its_parameter_gradients_in_is_read_from_its_code() -> None:
    def lasagne(self, x, dy):
        d_input = d_beta = d_gamma = 0
        return [d_input, d_beta, d_gamma]

    def nested(self, dy):
        dx = dweight = dbias = 0
        return dx, (dweight, dbias)

    def own_names(self, dy):
        dx = self.dg = self.db = 0
        return dx, self.db, self.dg

    def unnamed(self, dy):
        return [dy, *self.grads]

    def disagreeing(self, dy, first):
        dx = dgamma = dbeta = 0
        if first:
            return dx, dgamma, dbeta
        return dx, dbeta, dgamma

    assert returned_order(lasagne, ()) == "beta"
    assert returned_order(nested, ("weight", "bias")) == "gamma"
    assert returned_order(own_names, ("g", "b")) == "beta"
    assert returned_order(own_names, ()) is None  # "dg", "db": nothing says which is which
    assert returned_order(unnamed, ()) is None
    assert returned_order(disagreeing, ()) is None  # two returns that disagree say nothing
    assert returned_order(print, ()) is None  # no source to read


def test_a_layer_giving_dbeta_first_is_read_in_that_order_and_its_mistakes_still_fail() -> None:
    target = IMPLS / "grad_order.py"
    report = verify(f"{target}:BetaFirst", convention="any", **ONE_CASE)
    assert report.result == "pass", report.to_text()
    assert any("(dx, dbeta, dgamma) (beta's first" in line for line in report.mapping)
    assert any("beta's first" in note for note in report.contract), report.contract
    # named gamma's first, but the value named dgamma is the sum of dy: judged as named
    wrong = verify(f"{target}:Mislabelled", convention="any", **ONE_CASE)
    assert {d["id"] for d in wrong.diagnosis} == {"swapped-dgamma-dbeta"}, wrong.to_text()
    # the order is found, and a dgamma without x_hat still fails the backward
    no_xhat = verify(f"{target}:BetaFirstNoXhat", convention="any", **ONE_CASE)
    assert no_xhat.result == "fail"
    failed = {c.id.split("/")[0] for c in no_xhat.checks if c.status == "fail"}
    assert "backward" in failed, no_xhat.to_text()


def test_an_eval_needing_a_second_flag_is_tried_with_each_other_flag_of_the_forward() -> None:
    class TwoFlags:
        def __call__(self, *args, **kwargs):
            return self._build(*args, **kwargs)

        def _build(self, x, is_training, local=True, scale=None, *, note="a"):
            return x

    switch = layout.Layout("__call__", "positional")
    made = layout.eval_companions(TwoFlags(), switch)
    assert [m.eval_kwargs for m in made] == [{"local": False}, {"scale": False}, {"scale": True}]
    assert all(m.mode == "positional" and not m.notes for m in made)
    assert made[0].describe().endswith(", and local=False in eval")
    seen = []

    class Records:
        def forward(self, x, training=True, **kwargs):
            seen.append((training, kwargs))
            return x

    both = layout.Layout("forward", "kwarg", "training", eval_kwargs={"frozen": True})
    layout.call_forward(Records(), both, 1.0, True)
    layout.call_forward(Records(), both, 1.0, False)
    assert seen == [(True, {}), (False, {"frozen": True})]  # the second setting in eval only


def test_state_carried_across_batches_is_told_from_a_cache_of_the_last_batch() -> None:
    carried_state = target_layer.carried_state

    class Sums:  # a moving sum (carried), a cache of the last batch, a counter
        def __init__(self) -> None:
            self.total, self.last, self.count = np.zeros(3), np.zeros(3), 0

        def forward(self, x: Any) -> Any:
            self.total = 0.9 * self.total + x.sum(axis=0)
            self.last = x.mean(axis=0)
            self.count += 1
            return x

    def trained(batches: list[Any]) -> Any:
        layer = Sums()
        for b in batches:
            layer.forward(b)
        return layer

    assert [p.label() for p in carried_state(trained, (8, 3), set())] == ["total"]
    assert carried_state(trained, (8, 3), {carried_state(trained, (8, 3), set())[0]}) == []

    def broken(batches: list[Any]) -> Any:
        raise RuntimeError("cannot train")

    assert carried_state(broken, (8, 3), set()) == []
