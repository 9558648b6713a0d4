"""Load a test adapter (the class ``Adapter`` of a Python file) in the calling process.

The loader tests/check/test_verify_hostile.py hands to a forked target process, also imported by
the script of its killed-parent test (a separate Python process with the repository on sys.path).
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any


def load_adapter_file(path: str) -> Any:
    """``Adapter()`` of the file at ``path``, executed as the module ``_hostile_target``."""
    spec = importlib.util.spec_from_file_location("_hostile_target", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["_hostile_target"] = module
    spec.loader.exec_module(module)
    return module.Adapter()
