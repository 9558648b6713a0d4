"""The adapter protocol is one typed contract: every kind of target's adapter satisfies it, and
the target process answers the protocol's calls and nothing else."""

from __future__ import annotations

import functools
import inspect

import pytest

from bncheck.exceptions import TargetError
from tests.internals import TargetProcess, adapter_protocol, load_adapter
from tests.paths import IMPLS

TARGETS = [
    f"{IMPLS / 'functional.py'}:compact",
    str(IMPLS / "cs231n_style.py"),
    f"{IMPLS / 'layers.py'}:torch_layer",
    "bncheck.BatchNorm",
]


@pytest.mark.parametrize("target", TARGETS, ids=["functional", "cs231n", "layer", "bncheck"])
def test_every_kind_of_adapter_satisfies_the_protocol(target: str) -> None:
    adapter = load_adapter(target)
    assert isinstance(adapter, adapter_protocol.Adapter), type(adapter).__name__
    for op in adapter_protocol.OPS - adapter_protocol.OPTIONAL_OPS:
        assert callable(getattr(adapter, op)), op
    signature = inspect.signature(adapter.new)
    assert list(signature.parameters)[:3] == ["num_features", "dtype", "eps"]


def test_the_protocol_names_each_call_the_checks_make() -> None:
    members = {
        name
        for name, value in vars(adapter_protocol.Adapter).items()
        if callable(value) and not name.startswith("_")
    }
    assert adapter_protocol.OPS - adapter_protocol.OPTIONAL_OPS <= members
    assert not adapter_protocol.OPS & adapter_protocol.SYNC_OPS


@pytest.mark.parametrize("op", ["describe", "__class__", "_detect", "load_state", "run2"])
def test_the_target_process_answers_no_call_outside_the_protocol(op: str) -> None:
    loader = functools.partial(load_adapter, "bncheck.BatchNorm")
    with TargetProcess(loader, timeout=20) as proc:
        proc.start()
        with pytest.raises(TargetError, match="is not a call of the adapter protocol"):
            proc.call(op)
        proc.call("new", 3, "float64", 1e-5)  # the process still answers the protocol
