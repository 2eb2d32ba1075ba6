"""Build script for the compiled parts of ep-runtime: the CPU provider's native kernels and the host
memory arena (ep_runtime/host_arena.py).

Everything else is declared in pyproject.toml. Both extensions are optional: when no C compiler is
available the build goes on without them, the CPU provider runs its numpy kernels
(`ep-runtime providers` lists which kernels are native) and runs allocate through numpy's own allocator.
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

CSRC = "providers/cpu/native/csrc"

#: flags per compiler family: C99, optimised and auto-vectorised, IEEE semantics (no fast-math), but
#: multiply-adds may fuse and floating-point exceptions are not observed (-fno-trapping-math: without it
#: GCC keeps the selects of the exp-based activations as branches on AVX2 and older targets, 5x slower);
#: POSIX threads for the kernels' thread pool (csrc/parallel.c; on Windows the kernels run on the calling
#: thread)
COMPILE_ARGS = {
    "unix": ["-std=c99", "-O3", "-ffp-contract=fast", "-fno-trapping-math", "-pthread"],
    "mingw32": ["-std=c99", "-O3", "-ffp-contract=fast", "-fno-trapping-math"],
    "msvc": ["/O2", "/fp:precise", "/std:c11"],
}
LINK_ARGS = {"unix": ["-pthread"]}


class BuildNative(build_ext):
    """build_ext with the compile flags of the compiler actually used."""

    def build_extensions(self) -> None:
        args = COMPILE_ARGS.get(self.compiler.compiler_type, [])
        for ext in self.extensions:
            ext.extra_compile_args = list(args) + list(ext.extra_compile_args or [])
            ext.extra_link_args = LINK_ARGS.get(self.compiler.compiler_type, []) + list(ext.extra_link_args or [])
        super().build_extensions()


setup(
    ext_modules=[
        Extension(
            "providers.cpu.native._ep_native",
            sources=[f"{CSRC}/module.c", f"{CSRC}/parallel.c", f"{CSRC}/activation.c", f"{CSRC}/conv.c",
                     f"{CSRC}/sgemm.c", f"{CSRC}/pool.c", f"{CSRC}/softmax.c",
                     f"{CSRC}/qgemm.c", f"{CSRC}/qmatmul.c", f"{CSRC}/rnn.c", f"{CSRC}/resize.c", f"{CSRC}/norm.c",
                     f"{CSRC}/pyentry.c"],
            include_dirs=[CSRC],
            depends=[f"{CSRC}/ep_native.h"],
            optional=True,
        ),
        Extension(
            "ep_runtime._host_arena",
            sources=["ep_runtime/csrc/host_arena.c"],
            optional=True,
        ),
    ],
    cmdclass={"build_ext": BuildNative},
)
