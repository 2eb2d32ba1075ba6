"""The raw CUDA C kernels: every `.cu` file compiles with nvcc (so a syntax error cannot land
even where no GPU is), declares the kernels the Python launches, and, where a GPU is present,
compiles through NVRTC and gives the results of its xp form (raw_kernels=False)."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from providers.cuda import raw
from tests.cuda_support import GPU_REASON, needs_gpu

NVCC = shutil.which("nvcc")
LAUNCHED = {  # kernel names the Python side launches, per file
    "conv.cu": {"im2col_2d"}, "pool.cu": {"max_pool_2d", "avg_pool_2d"}, "softmax.cu": {"softmax_rows"},
    "layernorm.cu": {"layer_norm_rows"}, "resize.cu": {"resize_2d_taps"},
    "gather.cu": {"gather_axis_1", "gather_axis_2", "gather_axis_4", "gather_axis_8"},
}


def test_every_cu_file_is_listed_and_shipped():
    on_disk = {p.name for p in raw.HERE.glob("*.cu")}
    assert on_disk == set(raw.CU_SOURCES) == set(LAUNCHED)


@pytest.mark.parametrize("name", raw.CU_SOURCES)
def test_declares_the_kernels_python_launches(name):
    declared = set(re.findall(r'extern "C" __global__ void (\w+)\(', raw.source(name)))
    assert LAUNCHED[name] <= declared


@pytest.mark.skipif(NVCC is None, reason="nvcc is not installed")
@pytest.mark.parametrize("name", raw.CU_SOURCES)
def test_compiles_with_nvcc(name, tmp_path):
    out = subprocess.run([NVCC, "--ptx", "-std=c++14", "-Werror", "all-warnings", str(raw.HERE / name),
                          "-o", str(tmp_path / (name + ".ptx"))], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"nvcc failed on {name}:\n{out.stderr}"
    ptx = (tmp_path / (name + ".ptx")).read_text()
    for kernel in LAUNCHED[name]:
        assert f".entry {kernel}" in ptx, f"{kernel} missing from the PTX of {name}"


@needs_gpu
@pytest.mark.parametrize("name", raw.CU_SOURCES)
def test_compiles_with_nvrtc(name):
    for kernel in LAUNCHED[name]:
        assert raw.function(name, kernel) is not None


@needs_gpu
def test_raw_kernels_match_their_xp_forms():
    """The same models with raw_kernels on and off, on the GPU."""
    import ep_runtime as ep
    from tests.cuda_support import plugin_registered
    from tests.device_support import bench_models, transformer_block
    from tests.test_cuda_models import _feed

    assert GPU_REASON is None
    with plugin_registered():
        for model, feed in [
            (transformer_block(), {"x": np.random.default_rng(0).standard_normal((2, 9, 32)).astype(np.float32)}),
            (bench_models.light_models()["squeezenet"], _feed(bench_models.light_models()["squeezenet"])),
        ]:
            a = ep.InferenceSession(model, providers=[("cuda", {"raw_kernels": True})]).run(None, feed)
            b = ep.InferenceSession(model, providers=[("cuda", {"raw_kernels": False})]).run(None, feed)
            for x, y in zip(a, b):
                np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5)
