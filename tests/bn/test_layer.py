"""bncheck.BatchNorm: train/eval, running statistics, state, save/load, atomic failures."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import bncheck
from bncheck import BatchNorm, BatchNormError
from bncheck.bn.layer import FORMAT
from bncheck.check.tolerances import TOLERANCES
from bncheck.check.truth import exact_batchnorm
from tests.closed_forms import ema_closed_form, exact_stats

U64 = TOLERANCES["float64"].unit_roundoff


def data(seed: int, shape: tuple[int, ...] = (8, 3, 2, 2)) -> np.ndarray:
    return np.random.default_rng(seed).normal(1.0, 2.0, size=shape)


def snapshot(bn: BatchNorm) -> dict[str, Any]:
    state = bn.state_dict()
    state["_cache"] = bn._cache
    state["training"] = bn.training
    return state


def assert_same_state(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], np.ndarray):
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
            assert a[k].dtype == b[k].dtype
        else:
            assert a[k] is b[k] or a[k] == b[k], k


def test_training_uses_batch_statistics_and_updates_torch_running_statistics() -> None:
    bn = BatchNorm(3)
    xs = [data(s) for s in range(5)]
    for x in xs:
        y = bn(x)
        truth = exact_batchnorm(x, bn.gamma, bn.beta)
        np.testing.assert_allclose(y, truth.y, rtol=0, atol=64 * U64 * np.abs(truth.y).max())
    m = 8 * 2 * 2
    cols = [np.moveaxis(x, 1, -1).reshape(-1, 3) for x in xs]
    stats = [exact_stats(c) for c in cols]
    for j in range(3):
        want_mean = ema_closed_form([s[0][j] for s in stats], Fraction(0.1), Fraction(0))
        want_var = ema_closed_form(
            [s[1][j] * Fraction(m, m - 1) for s in stats], Fraction(0.1), Fraction(1)
        )
        # 5 updates of <= 4 roundings each plus the batch statistics' gamma_m: (20 + 4m)·u
        assert abs(bn.running_mean[j] - float(want_mean)) <= (20 + 4 * m) * U64 * 8
        assert abs(bn.running_var[j] - float(want_var)) <= (20 + 4 * m) * U64 * 8
    assert bn.num_batches_tracked == 5


def test_eval_mode_uses_the_running_statistics_and_changes_no_state() -> None:
    bn = BatchNorm(3, momentum=0.5)
    bn(data(0))
    bn.gamma = np.array([1.5, -0.5, 2.0])
    bn.beta = np.array([0.1, 0.2, 0.3])
    before = snapshot(bn)
    x = data(1, (2, 3, 2, 2))
    y = bn.eval()(x)
    want = bncheck.batchnorm_inference(x, bn.gamma, bn.beta, bn.running_mean, bn.running_var)
    np.testing.assert_array_equal(y, want)
    after = snapshot(bn)
    assert after.pop("training") is False and before.pop("training") is True
    before.pop("_cache"), after.pop("_cache")
    assert_same_state(before, after)


def test_eval_backward_treats_the_statistics_as_constants() -> None:
    bn = BatchNorm(2, axis=-1)
    bn.running_mean, bn.running_var = np.array([0.5, -1.0]), np.array([4.0, 0.25])
    bn.gamma = np.array([2.0, 3.0])
    x = data(2, (5, 2))
    dy = data(3, (5, 2))
    bn.eval()(x)
    dx, dgamma, dbeta = bn.backward(dy)
    inv_std = 1 / np.sqrt(bn.running_var + bn.eps)
    np.testing.assert_allclose(dx, dy * bn.gamma * inv_std, rtol=4 * U64)
    np.testing.assert_allclose(dgamma, (dy * (x - bn.running_mean) * inv_std).sum(0), rtol=1e-14)
    np.testing.assert_allclose(dbeta, dy.sum(0), rtol=1e-14)


def test_eval_backward_refuses_an_input_reused_since_the_forward() -> None:
    # no copy of the input: the layer keeps it with its checksum (tests/bn/test_no_copy.py)
    bn = BatchNorm(2).eval()
    x, dy = data(6, (5, 2)), data(7, (5, 2))
    bn(x)
    before = bn.backward(dy)
    x[:] = 0.0  # the caller reuses its buffer
    with pytest.raises(BatchNormError, match=r"^x was modified after the forward: channels 0, 1"):
        bn.backward(dy)
    bn(data(6, (5, 2)))  # the same values again, in another array
    for a, b in zip(bn.backward(dy), before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_float16_layer_refuses_running_statistics_it_cannot_hold() -> None:
    bn = BatchNorm(1, dtype=np.float16)
    before = snapshot(bn)
    # unbiased batch variance 2·1000² = 2e6; torch EMA: 0.9·1 + 0.1·2e6 = 200000.9 > 65504
    message = r"running_var\[0\] would become 200001, which overflows float16"
    with pytest.raises(BatchNormError, match=message):
        bn(np.array([[-1000.0], [1000.0]]))
    assert_same_state(before, snapshot(bn))


def test_layer_backward_equals_the_functional_backward() -> None:
    bn = BatchNorm(3)
    x, dy = data(4), data(5)
    bn(x)
    _, cache = bncheck.batchnorm_forward(x, bn.gamma, bn.beta)
    for a, b in zip(bn.backward(dy), bncheck.batchnorm_backward(dy, cache), strict=True):
        np.testing.assert_array_equal(a, b)


def test_num_batches_tracked_counts_training_calls_only() -> None:
    bn = BatchNorm(3, convention="keras")
    for _ in range(3):
        bn(data(0))
    bn.eval()(data(1))
    assert bn.num_batches_tracked == 3


def test_cumulative_running_statistics_are_the_average_over_all_batches() -> None:
    # the seed's E[x] = E[mu_B] and Var[x] = m/(m-1) E[sigma2_B]
    bn = BatchNorm(3, convention="cumulative")
    xs = [data(s, (6, 3)) for s in range(4)]
    for x in xs:
        bn(x)
    stats = [exact_stats(x) for x in xs]
    for j in range(3):
        want_mean = sum(s[0][j] for s in stats) / 4
        want_var = sum(s[1][j] for s in stats) / 4 * Fraction(6, 5)
        assert abs(bn.running_mean[j] - float(want_mean)) <= 64 * U64 * 4
        assert abs(bn.running_var[j] - float(want_var)) <= 64 * U64 * 16


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_layer_dtype_sets_parameters_and_output_follows_the_input(dtype: Any) -> None:
    bn = BatchNorm(3, dtype=dtype)
    y = bn(data(0).astype(np.float32))
    assert y.dtype == np.float32
    for arr in (bn.gamma, bn.beta, bn.running_mean, bn.running_var):
        assert arr is not None and arr.dtype == dtype


def test_no_affine_layer_has_no_parameters_and_no_parameter_gradients() -> None:
    bn = BatchNorm(3, affine=False)
    assert bn.gamma is None and bn.beta is None
    bn(data(0))
    grads = bn.backward(data(1))
    assert grads.dgamma is None and grads.dbeta is None
    assert set(bn.state_dict()) == {"running_mean", "running_var", "num_batches_tracked"}


BAD_CALLS = [
    ("NaN in x", lambda bn: bn(np.full((4, 3), np.nan))),
    ("one value per channel", lambda bn: bn(np.ones((1, 3)))),
    ("wrong channels", lambda bn: bn(np.ones((4, 5)))),
    ("int x", lambda bn: bn(np.ones((4, 3), dtype=int))),
    ("NaN dy", lambda bn: bn.backward(np.full((8, 3, 2, 2), np.nan))),
    ("state missing key", lambda bn: bn.load_state_dict({"gamma": np.ones(3)})),
    (
        "state wrong dtype",
        lambda bn: bn.load_state_dict(bn.state_dict() | {"running_var": np.ones(3, np.float32)}),
    ),
    (
        "state NaN",
        lambda bn: bn.load_state_dict(
            bn.state_dict() | {"running_mean": np.array([0.0, np.nan, 0.0])}
        ),
    ),
    (
        "state negative var",
        lambda bn: bn.load_state_dict(
            bn.state_dict() | {"running_var": np.array([1.0, -1.0, 1.0])}
        ),
    ),
    (
        "state bad counter",
        lambda bn: bn.load_state_dict(bn.state_dict() | {"num_batches_tracked": -1}),
    ),
]


@pytest.mark.parametrize("call", [c[1] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS])
def test_a_call_that_raises_changes_no_state(call: Any) -> None:
    bn = BatchNorm(3)
    bn(data(0))
    before = snapshot(bn)
    with pytest.raises((BatchNormError, TypeError)):
        call(bn)
    assert_same_state(before, snapshot(bn))


def test_state_dict_round_trips_and_holds_copies() -> None:
    bn = BatchNorm(3, momentum=0.3)
    for s in range(3):
        bn(data(s))
    state = bn.state_dict()
    state["running_mean"][:] = 99.0  # a copy: the layer is unaffected
    assert not np.any(bn.running_mean == 99.0)
    other = BatchNorm(3, momentum=0.3)
    other.load_state_dict(bn.state_dict())
    assert_same_state(bn.state_dict(), other.state_dict())


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"convention": "keras", "dtype": np.float32, "axis": -1},
        {"convention": "cumulative", "affine": False, "unbiased": False},
        {"momentum": None, "eps": 1e-3, "dtype": np.float16},
    ],
    ids=["torch", "keras-f32-last", "cumulative-noaffine", "torch-none-f16"],
)
def test_save_and_load_restore_config_and_state(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    bn = BatchNorm(3, **kwargs)
    x = data(0, (8, 3)).astype(bn.dtype)
    bn(x)
    bn(x * 2)
    path = tmp_path / "bn.npz"
    bn.save(path)
    loaded = BatchNorm.load(path)
    assert repr(loaded) == repr(bn)
    assert_same_state(bn.state_dict(), loaded.state_dict())
    np.testing.assert_array_equal(loaded.eval()(x), bn.eval()(x))


def write_npz(path: Path, **arrays: Any) -> Path:
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def good_file_arrays() -> dict[str, Any]:
    bn = BatchNorm(2)
    config = json.dumps(bn._config(), sort_keys=True)
    return {"format": np.array(FORMAT), "config": np.array(config)} | bn.state_dict()


BAD_FILES = [
    ("not npz", lambda p: p.write_bytes(b"hello") and p, r"not a readable \.npz file"),
    (
        "no format",
        lambda p: write_npz(p, **{k: v for k, v in good_file_arrays().items() if k != "format"}),
        r"format=None; expected",
    ),
    (
        "future format",
        lambda p: write_npz(p, **good_file_arrays() | {"format": np.array("bncheck.BatchNorm/99")}),
        r"format='bncheck.BatchNorm/99'",
    ),
    (
        "bad config",
        lambda p: write_npz(p, **good_file_arrays() | {"config": np.array("{oops")}),
        r"bad 'config' entry",
    ),
    (
        "missing key",
        lambda p: write_npz(
            p, **{k: v for k, v in good_file_arrays().items() if k != "running_var"}
        ),
        r"missing \['running_var'\]",
    ),
    (
        "wrong shape",
        lambda p: write_npz(p, **good_file_arrays() | {"gamma": np.ones(5)}),
        r"\['gamma'\] has shape \(5,\) and dtype float64; expected shape \(2,\)",
    ),
    (
        "wrong dtype",
        lambda p: write_npz(p, **good_file_arrays() | {"beta": np.zeros(2, np.float32)}),
        r"\['beta'\] has shape \(2,\) and dtype float32",
    ),
    (
        "object array",
        lambda p: write_npz(p, **good_file_arrays() | {"gamma": np.array([1, None], dtype=object)}),
        r"not a readable \.npz file",
    ),
]


@pytest.mark.parametrize(
    ("make", "pattern"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES]
)
def test_loading_a_bad_file_names_the_file(tmp_path: Path, make: Any, pattern: str) -> None:
    path = make(tmp_path / "bad.npz")
    with pytest.raises(BatchNormError, match=pattern) as info:
        BatchNorm.load(path)
    assert str(tmp_path / "bad.npz") in str(info.value)


def test_loading_a_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        BatchNorm.load(tmp_path / "nope.npz")


def test_repr_and_mode_switches() -> None:
    bn = BatchNorm(4, convention="keras")
    assert "momentum=0.99" in repr(bn) and "convention='keras'" in repr(bn)
    assert bn.eval() is bn and not bn.training
    assert bn.train() is bn and bn.training
