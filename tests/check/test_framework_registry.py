"""The framework registry: a framework is one registered module, found through the entry-point
group ``bncheck.frameworks`` (a third party's too, without touching bncheck) or ``register``;
the first framework claiming an object drives it; a broken plugin is recorded, not fatal; bad
registrations are refused naming the argument. No framework needs to be installed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from bncheck.exceptions import LoadError
from tests.internals import frameworks, load_adapter
from tests.paths import REPO


class FakeBN:
    """A stand-in for a third-party framework's BN object."""


class FakeAdapter:
    """What the fake framework's adapter factory returns (only its identity is checked)."""

    def __init__(self, obj: Any, name: str, axis: int) -> None:
        self.obj, self.name, self.axis = obj, name, axis
        self.wanted: tuple[int, ...] = ()


def _fake(name: str = "fakenet", order: int = 100) -> Any:
    return frameworks.Framework(
        name=name,
        modules=("fakenet",),
        packages=("fakenet",),
        extra=None,
        claims=lambda obj: "fakenet" if isinstance(obj, FakeBN) else None,
        adapter=FakeAdapter,
        order=order,
    )


def test_a_registered_framework_claims_its_objects_and_builds_their_adapter() -> None:
    frameworks.register(_fake())
    try:
        target = FakeBN()
        adapter = frameworks.framework_adapter(target, 1, (4,), name="mine")
        assert isinstance(adapter, FakeAdapter)
        assert adapter.obj is target and adapter.name == "mine" and adapter.wanted == (4,)
        # the loader verify uses asks the registry before any other kind of target
        loaded = load_adapter(target)
        assert isinstance(loaded, FakeAdapter) and loaded.wanted == (2, 4)
        assert frameworks.kind_of(target) == "fakenet"
        assert frameworks.framework_adapter(object()) is None
    finally:
        frameworks.unregister("fakenet")
    assert frameworks.kind_of(FakeBN()) is None


def test_bncheck_s_own_frameworks_are_registered_in_order() -> None:
    names = [f.name for f in frameworks.registry()]
    assert set(names) >= {"keras", "flax", "equinox", "haiku", "tinygrad", "mygrad", "torch"}
    # Keras layers on the torch backend are torch modules too: Keras is asked first
    assert names.index("keras") < names.index("torch")
    assert not {k: v for k, v in frameworks.registry_errors().items() if "bncheck" in k}


def test_a_missing_framework_s_dotted_name_is_a_usage_error_naming_the_extra() -> None:
    frameworks.register(_fake())
    try:
        with pytest.raises(LoadError, match=r"needs fakenet.*not installed"):
            frameworks.prepare_target("fakenet.nn.BatchNorm")
    finally:
        frameworks.unregister("fakenet")


@pytest.mark.parametrize(
    ("field", "value", "error", "message"),
    [
        ("name", "not a name", ValueError, r"name='not a name': expected an identifier"),
        ("modules", "fakenet", TypeError, r"modules='fakenet': expected a tuple of strings"),
        ("claims", None, TypeError, r"claims=None: expected a callable"),
        ("adapter", 3, TypeError, r"adapter=3: expected a callable"),
    ],
)
def test_a_bad_framework_is_refused_naming_the_field(
    field: str, value: Any, error: type[Exception], message: str
) -> None:
    fields = {
        "name": "fakenet",
        "modules": ("fakenet",),
        "packages": (),
        "extra": None,
        "claims": lambda obj: None,
        "adapter": FakeAdapter,
        field: value,
    }
    with pytest.raises(error, match=message):
        frameworks.Framework(**fields)
    with pytest.raises(TypeError, match=r"register\(framework='x'\): expected a Framework"):
        frameworks.register("x")


def _plugin(tmp_path: Path, body: str) -> Path:
    """A third-party distribution on ``tmp_path``: a module and its entry-point metadata."""
    (tmp_path / "fakenet_bncheck.py").write_text(textwrap.dedent(body))
    info = tmp_path / "fakenet_bncheck-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakenet-bncheck\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[{frameworks.GROUP}]\nfakenet = fakenet_bncheck:FRAMEWORK\n"
    )
    return tmp_path


def _registry_in_child(path: Path) -> str:
    code = """
        from tests.internals import frameworks
        print([f.name for f in frameworks.registry()])
        print(sorted(k for k in frameworks.registry_errors() if "fakenet" in k))
    """
    env_path = f"{path}:{REPO}"
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_a_third_party_entry_point_is_picked_up(tmp_path: Path) -> None:
    plugin = _plugin(
        tmp_path,
        """
        from tests.internals import frameworks

        FRAMEWORK = frameworks.Framework(
            name="fakenet", modules=("fakenet",), packages=(), extra=None,
            claims=lambda obj: None, adapter=lambda obj, name, axis: None, order=5,
        )
        """,
    )
    names, errors = _registry_in_child(plugin).splitlines()
    assert eval(names)[0] == "fakenet" and "torch" in eval(names)  # order 5: asked first
    assert eval(errors) == []


def test_a_broken_entry_point_is_recorded_not_fatal(tmp_path: Path) -> None:
    plugin = _plugin(tmp_path, "raise RuntimeError('broken plugin')\n")
    names, errors = _registry_in_child(plugin).splitlines()
    assert "fakenet" not in eval(names) and "torch" in eval(names)
    assert eval(errors) == ["fakenet = fakenet_bncheck:FRAMEWORK"]
