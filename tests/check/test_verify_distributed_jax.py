"""verify(..., world_size=K) of Flax linen BNs: K CPU devices under jax.shard_map, judged
against the single-process truth of the concatenated batch (as the PyTorch ranks are).

Each verification spawns one target process that imports JAX and Flax and compiles a few
shard_map programs (about 8-10 s for K = 4 here), so each test makes one call and the calls
are timed against the stated speed target (120 s for K = 4)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from bncheck.check import verify
from tests.frameworks import marks

# found, not imported: importing flax here would load JAX (and its threads, and ml_dtypes' NumPy
# dtypes) into the pytest process for every later test
pytestmark = marks("jax")

SECONDS = 120.0  # the speed target of one K = 4 verification

CORRECT = """
import flax.linen as nn


class MyBN(nn.Module):
    axis_name: str | None = None

    @nn.compact
    def __call__(self, x, use_running_average=False):
        return nn.BatchNorm(axis_name=self.axis_name, use_fast_variance=False)(
            x, use_running_average=use_running_average)
"""

PMEAN_OF_VARIANCES = '''
import jax
import jax.numpy as jnp
import flax.linen as nn


class PmeanBN(nn.Module):
    """The global mean, but the variance the mean of the devices' own variances."""

    @nn.compact
    def __call__(self, x):
        c = x.shape[-1]
        scale = self.param("scale", nn.initializers.ones, (c,))
        bias = self.param("bias", nn.initializers.zeros, (c,))
        axes = tuple(range(x.ndim - 1))
        mean = jax.lax.pmean(jnp.mean(x, axes), "batch")
        var = jax.lax.pmean(jnp.mean((x - jnp.mean(x, axes)) ** 2, axes), "batch")
        return (x - mean) / jnp.sqrt(var + 1e-5) * scale + bias
'''

LOCAL = """
import flax.linen as nn


class LocalBN(nn.Module):
    @nn.compact
    def __call__(self, x, use_running_average=False):
        return nn.BatchNorm(use_fast_variance=False)(x, use_running_average=use_running_average)
"""


def _verify(target: str, **kw: Any) -> Any:
    start = time.perf_counter()
    report = verify(target, **kw)
    took = time.perf_counter() - start
    assert took < SECONDS, f"{target}: {took:.1f} s"
    return report


def _by_status(report: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {"pass": [], "fail": [], "skip": []}
    for c in report.checks:
        out[c.status].append(c)
    return out


def _file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_flax_default_batchnorm_is_named_one_pass_variance() -> None:
    report = _verify("flax.linen.BatchNorm", world_size=4)
    checks = {c.id: c for c in report.checks}
    assert "shard_map" in report.kind
    assert all("shards=3,3,3,3" in i for i in checks if "/" in i)  # equal shards only
    for dtype in ("float32", "float64"):
        for stage in ("forward", "backward"):
            c = checks[f"{stage}/2d/{dtype}/shards=3,3,3,3"]
            assert c.status == "fail", c
            assert c.diagnosis == ["sync-one-pass-variance"], c
        for stage in ("running", "eval", "eval-state"):
            assert checks[f"{stage}/2d/{dtype}/shards=3,3,3,3"].status == "pass"


def test_two_pass_flax_module_with_axis_name_passes(tmp_path: Path) -> None:
    report = _verify(_file(tmp_path, "mybn.py", CORRECT), world_size=4)
    status = _by_status(report)
    assert not status["fail"], [(c.id, c.message) for c in status["fail"]]
    ids = {c.id for c in status["pass"]}
    wanted = {"forward/4d/float32", "backward/2d/float64", "running/4d/float64", "eval/2d/float32"}
    assert {f"{w}/shards=3,3,3,3" for w in wanted} <= ids
    assert any("axis_name='batch'" in m for m in report.mapping)


def test_pmean_of_device_variances_is_named(tmp_path: Path) -> None:
    report = _verify(_file(tmp_path, "pmeanbn.py", PMEAN_OF_VARIANCES), world_size=2, ndims=(2,))
    fails = _by_status(report)["fail"]
    assert {c.id.split("/")[0] for c in fails} == {"forward", "backward"}
    for c in fails:
        assert c.diagnosis == ["sync-missing-between-shard-variance"], c


def test_per_device_statistics_fail_unexplained(tmp_path: Path) -> None:
    report = _verify(
        _file(tmp_path, "localbn.py", LOCAL), world_size=2, ndims=(2,), dtypes=("float64",)
    )
    checks = {c.id: c for c in report.checks}
    for stage in ("forward", "backward", "running"):
        c = checks[f"{stage}/2d/float64/shards=3,3"]
        assert c.status == "fail", c
        assert not any(d.startswith("sync-") for d in c.diagnosis), c


@pytest.mark.parametrize(
    "target",
    ["flax.nnx.BatchNorm", pytest.param("keras.layers.BatchNormalization", marks=marks("keras"))],
)
def test_nnx_and_keras_with_world_size_are_usage_errors_not_verdicts(target: str) -> None:
    from bncheck.exceptions import LoadError

    with pytest.raises(LoadError, match="without --world-size"):
        verify(target, world_size=2, ndims=(2,), dtypes=("float64",))
