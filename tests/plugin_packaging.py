"""Helpers for the plugin tests: real distributions in temporary folders, and subprocesses using them.

A distribution here is what pip leaves in site-packages: the package's modules beside a
`<name>-<version>.dist-info` folder with `METADATA` and `entry_points.txt`, so that
`importlib.metadata` finds its entry points once the folder is on `sys.path`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ep_runtime.plugins import AUTOLOAD_ENV, ENTRY_POINT_GROUP

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_SRC = REPO / "examples" / "ep-runtime-example-provider"
EXAMPLE_DIST = "ep-runtime-example-provider"
EXAMPLE_PACKAGE = "ep_runtime_example_provider"

_installed: dict[str, Path] = {}


def write_distribution(
    site: Path,
    name: str,
    modules: dict[str, str],
    entry_points: dict[str, str],
    version: str = "1.0",
) -> Path:
    """Write modules (dotted name -> source) and a dist-info declaring `ep_runtime` entry points."""
    site.mkdir(parents=True, exist_ok=True)
    for dotted, source in modules.items():
        path = site.joinpath(*dotted.split(".")).with_suffix(".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = [f"[{ENTRY_POINT_GROUP}]", *(f"{k} = {v}" for k, v in entry_points.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    (info / "INSTALLER").write_text("tests\n")
    (info / "RECORD").write_text("")
    return info


def _pip_install(src: Path, target: Path) -> bool:
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
           "--disable-pip-version-check", "--quiet", "--target", str(target), str(src)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and any(target.glob("*.dist-info"))


def _install_by_hand(src: Path, target: Path) -> None:
    """What pip would leave: the package and a dist-info made from the project's pyproject.toml."""
    tomllib = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    project = tomllib.loads((src / "pyproject.toml").read_text())["project"]
    shutil.copytree(src / EXAMPLE_PACKAGE, target / EXAMPLE_PACKAGE,
                    ignore=shutil.ignore_patterns("__pycache__"))
    eps = project["entry-points"][ENTRY_POINT_GROUP]
    write_distribution(target, project["name"], {}, eps, project["version"])


def install_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Install the example provider package into a temporary folder, once per test session.

    pip does it when it can build offline without build isolation (setuptools with wheel
    support present); otherwise the same files are laid out by hand from its pyproject.toml.
    """
    if "example" not in _installed:
        work = tmp_path_factory.mktemp("example-provider")
        src = work / "src"
        shutil.copytree(EXAMPLE_SRC, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
        target = work / "site"
        if not _pip_install(src, target):
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir()
            _install_by_hand(src, target)
        _installed["example"] = target
    return _installed["example"]


def run_python(code: str, site: Path | None = None, env: dict[str, str] | None = None) -> dict:
    """Run `code` in a fresh interpreter with `site` on PYTHONPATH; it prints one JSON object last.

    The autoload switch is cleared unless `env` sets it, so the child sees every installed plugin.
    """
    full_env = {k: v for k, v in os.environ.items() if k != AUTOLOAD_ENV}
    paths = [str(site)] if site is not None else []
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    full_env["PYTHONPATH"] = os.pathsep.join(paths)
    full_env.update(env or {})
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=REPO, env=full_env, timeout=120)
    if done.returncode != 0:
        raise AssertionError(f"child process failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])
