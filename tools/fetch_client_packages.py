"""Fetch the published onnxruntime client packages that tests/test_ort_clients.py runs on ep-runtime.

    python tools/fetch_client_packages.py                      # into ~/.cache/ep_runtime/clients
    python tools/fetch_client_packages.py --find-links /tmp/pkgs
    EP_RUNTIME_CLIENT_CACHE=/somewhere python tools/fetch_client_packages.py

The packages (pinned below) and whatever of their dependencies this interpreter lacks are installed
with `pip install --target <cache>/site --no-deps`, so nothing already installed is shadowed: pip first
resolves the set with `--dry-run --report` against the running environment, then installs exactly the
missing distributions. The cache is never committed; the tests skip, saying why, while it is empty.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

if not __package__:  # run as a script: the repository root makes `tools` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.package_cache import cache_folder, fetch_parser, pip  # noqa: E402

#: the environment variable naming the cache folder
CACHE_ENV = "EP_RUNTIME_CLIENT_CACHE"

#: the client packages, pinned: their end results are compared with onnxruntime's
CLIENT_PACKAGES = ("captcha-whisperer==0.1.0", "open-voicefilter-lite==0.2.0", "text2tashkeel==0.1.0")


def cache_dir() -> Path:
    """The cache folder: $EP_RUNTIME_CLIENT_CACHE, else ~/.cache/ep_runtime/clients."""
    return cache_folder(CACHE_ENV, "clients")


def site_dir(cache: Path | None = None) -> Path:
    """The folder the packages are installed into (put it on PYTHONPATH to import them)."""
    return (cache or cache_dir()) / "site"


def missing_distributions(requirements: list[str], find_links: list[str]) -> list[str]:
    """`name==version` of every distribution pip would add to this environment for `requirements`."""
    links = [a for d in find_links for a in ("--find-links", d)]
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        pip("install", "--dry-run", "--quiet", "--report", str(report), *links, *requirements)
        data = json.loads(report.read_text())
    return [f"{item['metadata']['name']}=={item['metadata']['version']}" for item in data.get("install", [])]


def fetch(cache: Path, find_links: list[str]) -> Path:
    """Install the client packages and their missing dependencies under `cache`; returns the site folder."""
    target = site_dir(cache)
    target.mkdir(parents=True, exist_ok=True)
    wanted = missing_distributions(list(CLIENT_PACKAGES), find_links)
    if wanted:
        links = [a for d in find_links for a in ("--find-links", d)]
        pip("install", "--quiet", "--no-deps", "--upgrade", "--target", str(target), *links, *wanted)
    (cache / "installed.json").write_text(json.dumps({"packages": list(CLIENT_PACKAGES), "installed": wanted},
                                                     indent=1))
    return target


def main(argv: list[str] | None = None) -> int:
    args = fetch_parser(__doc__, CACHE_ENV, "clients").parse_args(argv)
    target = fetch(args.cache or cache_dir(), args.find_links)
    print(f"client packages installed in {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
