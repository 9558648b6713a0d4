"""pytest plugin (entry point ``bncheck``): the ``assert_batchnorm_correct`` fixture.

    def test_my_bn(assert_batchnorm_correct):
        assert_batchnorm_correct("mypkg/bn.py:MyBatchNorm", convention="torch")

Kept light: nothing heavy is imported until the fixture is used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def assert_batchnorm_correct() -> Callable[..., Any]:
    """The function :func:`bncheck.check.testing.assert_batchnorm_correct`."""
    from bncheck.check.testing import assert_batchnorm_correct as check

    return check
