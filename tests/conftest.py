"""Shared test configuration: Hypothesis profiles.

Choose a profile with the environment variable ``BNCHECK_HYPOTHESIS_PROFILE``:

- ``ci`` (default): derandomized and bounded, so CI is reproducible and fast;
- ``dev``: random, a few more examples;
- ``thorough``: many examples for long local runs.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=25,
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile(
    "thorough",
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("BNCHECK_HYPOTHESIS_PROFILE", "ci"))
pytest_plugins = ["pytester"]
