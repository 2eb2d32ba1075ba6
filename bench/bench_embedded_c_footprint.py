"""Footprint of the standalone C export (`ep-runtime export-c`), per model.

For each model it exports the folder and builds it, then prints:

- arena: the static RAM of all intermediates and scratch (tensors share memory when their lifetimes
  do not overlap), against the sum of every intermediate's size (a tensor-per-allocation runtime);
- weights: the bytes of the constants (const, in flash on a microcontroller);
- code: the `.text` bytes of the model's objects (model.c and the operator library it uses, from
  `size -A`; main.c, the file-reading harness, and the weight tables are left out);
- export and build: seconds to write the folder and to compile it (`-O2` by default, every file
  in parallel, then link).

Models: a small MLP, a LeNet-style CNN and an LSTM classifier (built by bench_embedded_c.py), the
two TensorFlow Lite Micro example models rebuilt as int8 ONNX (tinyml.py: micro_speech and
person_detection; a second table sets them beside TFLite Micro's published footprints), and
the ONNX light models (`--models`; by default squeezenet, shufflenet, inception_v1, resnet50 and
densenet121: alexnet, zfnet512 and vgg19 hold 240-550 MB of weights).

    python bench/bench_embedded_c_footprint.py
    python bench/bench_embedded_c_footprint.py --models squeezenet resnet50 --opt -Os --markdown
    python bench/bench_embedded_c_footprint.py --no-small --no-light   # the TinyML rows only

Nothing here asserts anything; it only measures and prints.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench_embedded_c import lenet_model, lstm_model, mlp_model  # noqa: E402
from bench_models import pick_models  # noqa: E402
from tinyml import MODELS as TINYML  # noqa: E402
from tinyml import PUBLISHED  # noqa: E402

from providers.embedded_c.export import build_folder, export_model  # noqa: E402

DEFAULT_LIGHT = ["squeezenet", "shufflenet", "inception_v1", "resnet50", "densenet121"]
#: objects that are not the model's code: the raw-file harness and the weight tables
NOT_CODE = ("main.o",)


def text_bytes(obj: Path) -> int:
    """The size of the `.text` sections of one object file (`size -A`)."""
    proc = subprocess.run(["size", "-A", str(obj)], capture_output=True, text=True, check=True)
    total = 0
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(".text") and parts[1].isdigit():
            total += int(parts[1])
    return total


def measure(name: str, model: onnx.ModelProto, opt: str, workdir: Path) -> dict[str, Any]:
    out, objs = workdir / name, workdir / f"{name}_obj"
    start = time.perf_counter()
    res = export_model(model, out)
    export_s = time.perf_counter() - start
    start = time.perf_counter()
    build_folder(out, opt=opt, objdir=objs)
    build_s = time.perf_counter() - start
    code = sum(text_bytes(o) for o in objs.glob("*.o") if o.name not in NOT_CODE and not o.name.startswith("weights_"))
    row = {"model": name, "nodes": len(res.rows), "arena": res.arena_bytes, "intermediates": res.intermediate_bytes,
           "weights": res.weight_bytes, "code": code, "export_s": export_s, "build_s": build_s}
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(objs, ignore_errors=True)
    return row


def human(n: int) -> str:
    for unit, scale in (("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def print_table(rows: list[dict[str, Any]], opt: str, markdown: bool) -> None:
    head = ["model", "nodes", "arena (with scratch)", "sum of intermediates", "arena / sum", "weights", "code (.text)",
            "export s", f"build {opt} s"]
    lines = [[r["model"], str(r["nodes"]), human(r["arena"]), human(r["intermediates"]),
              f"{r['arena'] / max(r['intermediates'], 1):.2f}", human(r["weights"]), human(r["code"]),
              f"{r['export_s']:.1f}", f"{r['build_s']:.1f}"] for r in rows]
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---" if k == 0 else "---:" for k in range(len(head))) + "|")
        for line in lines:
            print("| " + " | ".join(line) + " |")
        return
    widths = [max(len(h), *(len(x[k]) for x in lines)) for k, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    for line in lines:
        print("  ".join(x.ljust(w) for x, w in zip(line, widths)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="*", default=DEFAULT_LIGHT, help="light models (short names) or .onnx paths")
    parser.add_argument("--no-small", action="store_true", help="skip the MLP, LeNet and LSTM built here")
    parser.add_argument("--no-tinyml", action="store_true", help="skip the TFLite Micro example models")
    parser.add_argument("--no-light", action="store_true", help="skip the ONNX light models")
    parser.add_argument("--opt", default="-O2", help="optimisation flag of the build (default -O2)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    models: dict[str, onnx.ModelProto] = {}
    if not args.no_small:
        models.update({"mlp": mlp_model(), "lenet": lenet_model(), "lstm": lstm_model()})
    if not args.no_tinyml:
        models.update({name: build() for name, build in TINYML.items()})
    for name, path in ({} if args.no_light else pick_models(args.models)).items():
        models[name] = onnx.load(path)
    rows = []
    with tempfile.TemporaryDirectory(prefix="ep_footprint_") as tmp:
        for name, model in models.items():
            rows.append(measure(name, model, args.opt, Path(tmp)))
            print(f"measured {name}", file=sys.stderr)
    print_table(rows, args.opt, args.markdown)
    print_tinyml_comparison([r for r in rows if r["model"] in PUBLISHED], args.markdown)
    return 0


def print_tinyml_comparison(rows: list[dict[str, Any]], markdown: bool) -> None:
    """Our export beside what TFLite Micro publishes for the same example models (blank where it does not)."""
    if not rows:
        return
    print()
    head = ["model (int8)", "arena", "TFLM RAM", "weights", "TFLM model", "code (.text)", "TFLM code"]
    lines = []
    for r in rows:
        pub = PUBLISHED[r["model"]]
        lines.append([r["model"], human(r["arena"]), human(pub["ram"]) if "ram" in pub else "",
                      human(r["weights"]), human(pub["model"]) if "model" in pub else "", human(r["code"]),
                      human(pub["code"]) if "code" in pub else ""])
    sep = " | " if markdown else "  "
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---" if k == 0 else "---:" for k in range(len(head))) + "|")
    else:
        print(sep.join(head))
    for line in lines:
        print(("| " + " | ".join(line) + " |") if markdown else sep.join(line))
    for r in rows:
        print(f"  {r['model']}: {PUBLISHED[r['model']]['source']}")


if __name__ == "__main__":
    raise SystemExit(main())
