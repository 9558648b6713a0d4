"""Find the packages and build the compiled kernels, the extension module bncheck.bn._bn
(the metadata is in pyproject.toml).

- Packages: found, never listed, so that a new subpackage cannot be left out of the wheel:
  every package under bncheck/, and derivations/ (at the top of the repository) installed as
  bncheck.derivations with its own subpackages, never as a top-level package of that generic
  name.

- Sources: bncheck/bn/_csrc/bn.c, written against the CPython C API (arrays through the buffer
  protocol), with the headers it includes; nothing but a C compiler is needed.
- Floating point: the kernels rely on IEEE arithmetic exactly as written (error-free
  transformations), so they are compiled with -ffp-contract=off (no fused multiply-adds the
  code does not ask for) and -fno-fast-math, never with -ffast-math (MSVC: /fp:precise).
- Threads: the kernels split the channels over OpenMP threads. Before building, a tiny OpenMP
  program is compiled and linked with the same compiler; only if that works is the extension
  built with -fopenmp (MSVC: /openmp), otherwise it is built without OpenMP and runs serially.
- Optional: without a working C compiler bncheck still installs; it then warns once and uses
  its NumPy kernels (bncheck.bn.functional.kernels()).
"""

import os
import sys
import tempfile

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

# -falign-loops=64: every loop starts on a cache line, so a kernel's speed does not depend on
# where an unrelated edit moves its hot loop (measured: the float32 NCHW backward's dx loop,
# unchanged, ran 5-10% slower when it straddled one more line); it changes no arithmetic
FLAGS = ["-O3", "-std=c11", "-ffp-contract=off", "-fno-fast-math", "-falign-loops=64"]
MSVC_FLAGS = ["/O2", "/fp:precise"]  # precise floating point is MSVC's default

OPENMP_PROBE = """
#include <omp.h>
int bn_probe(void)
{
    int n = 0;
#pragma omp parallel num_threads(2) reduction(+ : n)
    n += omp_get_num_threads() > 0;
    return n;
}
"""


class BuildExt(build_ext):
    """build_ext that adds the OpenMP flags when the compiler supports them."""

    def _openmp_flags(self) -> tuple[list[str], list[str]]:
        """(compile flags, link flags) for OpenMP, or two empty lists without it."""
        if self.compiler.compiler_type == "msvc":
            candidates = (["/openmp"], [])
        else:
            candidates = (["-fopenmp"], ["-fopenmp"])
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "bn_openmp_probe.c")
            with open(src, "w", encoding="utf-8") as f:
                f.write(OPENMP_PROBE)
            try:
                objects = self.compiler.compile([src], output_dir=tmp, extra_postargs=candidates[0])
                self.compiler.link_shared_object(
                    objects,
                    os.path.join(tmp, "bn_openmp_probe" + (".dll" if os.name == "nt" else ".so")),
                    extra_postargs=candidates[1],
                )
            except Exception as exc:  # any compiler failure: build without OpenMP
                print(f"bncheck: no OpenMP with this compiler ({exc}); the kernels run serially")
                return [], []
        return candidates

    def build_extension(self, ext: Extension) -> None:
        compile_flags, link_flags = self._openmp_flags()
        base = MSVC_FLAGS if self.compiler.compiler_type == "msvc" else FLAGS
        ext.extra_compile_args = base + compile_flags
        ext.extra_link_args = link_flags
        super().build_extension(ext)


PACKAGES = [
    *find_packages(include=["bncheck", "bncheck.*"]),
    "bncheck.derivations",
    *(f"bncheck.derivations.{name}" for name in find_packages("derivations")),
]


setup(
    packages=PACKAGES,
    package_dir={"bncheck.derivations": "derivations"},
    ext_modules=[
        Extension(
            "bncheck.bn._bn",
            sources=["bncheck/bn/_csrc/bn.c"],
            depends=[
                os.path.join("bncheck/bn/_csrc", name)
                for name in (
                    "args.h",
                    "binding.h",
                    "eft.h",
                    "plan.h",
                    "scalars.h",
                    "template.h",
                    "template_backward.h",
                )
            ],
            extra_compile_args=MSVC_FLAGS if sys.platform == "win32" else FLAGS,
            # Without a working C compiler bncheck still installs; it then warns once and uses
            # its NumPy kernels (bncheck.bn.functional.kernels()).
            optional=True,
        ),
        Extension(
            "bncheck.family._family",
            sources=["bncheck/family/_csrc/family.c"],
            depends=["bncheck/family/_csrc/family_template.h"],
            extra_compile_args=MSVC_FLAGS if sys.platform == "win32" else FLAGS,
            optional=True,
        ),
    ],
    cmdclass={"build_ext": BuildExt},
)
