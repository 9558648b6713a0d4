"""Build the compiled kernels (everything else is in pyproject.toml).

The kernels rely on IEEE arithmetic exactly as written (error-free transformations), so they
are compiled with -ffp-contract=off (no fused multiply-adds the code does not ask for) and
never with -ffast-math.
"""

import sys

from setuptools import Extension, setup

flags = ["-O3", "-std=c11", "-ffp-contract=off", "-fno-fast-math"]
if sys.platform == "win32":  # MSVC: precise floating point is its default
    flags = ["/O2", "/fp:precise"]

setup(
    ext_modules=[
        Extension(
            "bncheck.bn._bn",
            sources=["bncheck/bn/_csrc/bn.c"],
            depends=["bncheck/bn/_csrc/eft.h", "bncheck/bn/_csrc/template.h"],
            extra_compile_args=flags,
            # Without a working C compiler bncheck still installs; it then warns once and uses
            # its NumPy kernels (bncheck.bn.functional.kernels()).
            optional=True,
        )
    ]
)
