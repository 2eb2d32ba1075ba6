"""House rules that a machine can check: ruff is clean; the core imports no concrete provider;
no kernel imports an oracle runtime."""

from __future__ import annotations

import ast
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
ORACLES = ("onnxruntime", "onnx.reference")


def imported_modules(folder: pathlib.Path) -> list[tuple[str, str]]:
    """(file, module) for every absolute import in the Python files under `folder`."""
    found = []
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found += [(path.name, a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.append((path.name, node.module))
                if node.module == "onnx":
                    found += [(path.name, f"onnx.{a.name}") for a in node.names]
    return found


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or str(pathlib.Path(sys.executable).parent / "ruff")
    result = subprocess.run([ruff, "check", "."], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_core_imports_no_provider_and_no_oracle():
    offenders = [(f, m) for f, m in imported_modules(ROOT / "ep_runtime")
                 if m.split(".")[0] == "providers" or m.startswith(ORACLES)]
    assert offenders == []


def test_no_kernel_imports_an_oracle_runtime():
    offenders = [(f, m) for f, m in imported_modules(ROOT / "providers") if m.startswith(ORACLES)]
    assert offenders == []
