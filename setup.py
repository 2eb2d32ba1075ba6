"""Build script for the compiled part of ep-runtime: the CPU provider's native kernels.

Everything else is declared in pyproject.toml. The extension is optional: when no C compiler is
available the build goes on without it and the CPU provider runs its numpy kernels
(`ep-runtime providers` lists which kernels are native).
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

CSRC = "providers/cpu/native/csrc"

#: flags per compiler family: C99, optimised and auto-vectorised, IEEE semantics (no fast-math),
#: but multiply-adds may fuse; POSIX threads for the kernels' thread pool (csrc/parallel.c; on
#: Windows the kernels run on the calling thread)
COMPILE_ARGS = {
    "unix": ["-std=c99", "-O3", "-ffp-contract=fast", "-pthread"],
    "mingw32": ["-std=c99", "-O3", "-ffp-contract=fast"],
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
        )
    ],
    cmdclass={"build_ext": BuildNative},
)
