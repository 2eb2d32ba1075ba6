"""Partition pictures: SVG/HTML/DOT coloured by provider, copies as marked edges, refusals as tooltips,
big graphs collapsed; the HTML rendered by headless Chromium, the DOT parsed by graphviz."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

from ep_runtime import InferenceSession
from ep_runtime.cli import main
from ep_runtime.partition_view import COPY_COLOR, PROVIDER_COLORS, PartitionView, provider_colors
from tests.helpers.models import make_model

F = TensorProto.FLOAT
CPU = "CPUExecutionProvider"
SIM = "SimDeviceExecutionProvider"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SVG_NS = "{http://www.w3.org/2000/svg}"


def _mixed_model():
    """x -> Relu (sim) -> Tanh (cpu: sim has no Tanh) -> Add with x (sim) -> y: four copies per run."""
    return make_model([helper.make_node("Relu", ["x"], ["r"], name="relu"),
                       helper.make_node("Tanh", ["r"], ["t"], name="tanh"),
                       helper.make_node("Add", ["t", "x"], ["y"], name="add")],
                      [("x", F, [2, 3])], [("y", F, [2, 3])])


def _chain_model(n: int, cpu_every: int):
    """A chain of n nodes: Relu on the sim device, every `cpu_every`-th a Tanh (which only the CPU has)."""
    nodes, prev = [], "x"
    for i in range(n):
        op = "Tanh" if i % cpu_every == cpu_every - 1 else "Relu"
        nodes.append(helper.make_node(op, [prev], [f"v{i}"], name=f"n{i}"))
        prev = f"v{i}"
    nodes.append(helper.make_node("Identity", [prev], ["y"], name="out"))
    return make_model(nodes, [("x", F, [4])], [("y", F, [4])])


@pytest.fixture
def mixed(sim_plugin):
    return InferenceSession(_mixed_model(), providers=["sim", "cpu"]).get_partition()


def _fills(svg: str) -> set[str]:
    root = ET.fromstring(svg)
    return {r.get("fill") for r in root.iter(f"{SVG_NS}rect")}


def test_svg_colours_each_node_by_its_provider_and_marks_every_copy(mixed):
    svg = mixed.to_svg()
    colors = provider_colors(mixed.providers)
    assert {colors[SIM], colors[CPU]} <= _fills(svg)
    root = ET.fromstring(svg)
    copy_edges = [g for g in root.iter(f"{SVG_NS}g") if g.get("class") == "edge copy"]
    copied = sorted(v for g in copy_edges for v in g.find(f"{SVG_NS}title").text[len("copied: "):].split(", "))
    # x is copied once and read on the device twice: both its edges are marked
    assert len(mixed.copies) == 4 and copied == ["r", "t", "x", "x", "y"]
    assert all(g.find(f"{SVG_NS}path").get("stroke") == COPY_COLOR for g in copy_edges)


def test_refusals_and_notes_are_box_tooltips(mixed):
    root = ET.fromstring(mixed.to_svg())
    tips = {g.find(f"{SVG_NS}title").text for g in root.iter(f"{SVG_NS}g") if "box" in (g.get("class") or "")}
    tanh = next(t for t in tips if t.startswith("tanh: Tanh"))
    assert f"provider: {CPU}" in tanh and f"refused by {SIM}: op: no kernel for ai.onnx::Tanh" in tanh


def test_html_is_self_contained_and_lists_refusals_and_copies(mixed):
    page = mixed.to_html(title="mixed <model>")
    assert page.startswith("<!DOCTYPE html>") and "<title>mixed &lt;model&gt;</title>" in page
    assert "<script" not in page and "src=" not in page and "href=" not in page and "@import" not in page
    assert "no kernel for ai.onnx::Tanh" in page and "<h2>Device copies</h2>" in page
    svg = page[page.index("<svg"):page.index("</svg>") + len("</svg>")]
    ET.fromstring(svg)  # well-formed


def test_a_big_graph_collapses_runs_of_one_provider_into_counted_boxes(sim_plugin):
    part = InferenceSession(_chain_model(400, 50), providers=["sim", "cpu"]).get_partition()
    view = PartitionView(part)
    groups = [b for b in view.boxes.values() if b.kind == "group"]
    assert view.collapsed == "chains" and len(view.boxes) < 30
    # 8 runs of 49 Relu on sim between the Tanh nodes; the last Tanh and the Identity form a CPU chain of 2
    assert sorted((b.provider, b.sublabel) for b in groups) == [(CPU, "2 nodes")] + [(SIM, "49 nodes")] * 8
    assert sum(b.kind == "node" and b.provider == CPU for b in view.boxes.values()) == 7
    assert "49 nodes" in part.to_svg() and "drawn as one box with their count" in part.to_html()


def test_a_wide_graph_collapses_consecutive_nodes_of_one_subgraph(sim_plugin):
    relus = [helper.make_node("Relu", ["x"], [f"r{i}"], name=f"relu{i}") for i in range(200)]
    model = make_model(relus + [helper.make_node("Sum", [f"r{i}" for i in range(200)], ["y"], name="sum")],
                       [("x", F, [4])], [("y", F, [4])])
    part = InferenceSession(model, providers=["sim", "cpu"]).get_partition()
    view = PartitionView(part)
    assert view.collapsed == "runs"
    assert [(b.kind, b.provider, b.sublabel) for b in view.boxes.values() if b.kind in ("node", "group")] == \
        [("group", SIM, "200 nodes"), ("node", CPU, "sum")]
    assert [(e.src, e.dst, len(e.values), len(e.copies)) for e in view.edges] == \
        [("in:x", "b0", 1, 1), ("b0", "b200", 200, 200), ("b200", "out:y", 1, 0)]


def test_a_small_graph_is_drawn_node_by_node(mixed):
    view = PartitionView(mixed)
    assert view.collapsed == "none" and [b.label for b in view.boxes.values() if b.kind == "node"] == \
        ["Relu", "Tanh", "Add"]


def test_dot_has_a_cluster_per_subgraph_and_marked_copy_edges(mixed):
    dot = mixed.to_dot()
    assert dot.startswith("digraph partition {") and dot.count("subgraph cluster_") == len(mixed.subgraphs)
    assert dot.count(f'color="{COPY_COLOR}", style=dashed') == 5  # x's copy feeds two nodes
    assert f"refused by {SIM}: op: no kernel for ai.onnx::Tanh" in dot


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` is not installed")
def test_dot_output_parses_with_graphviz(mixed, tmp_path):
    proc = subprocess.run(["dot", "-Tsvg"], input=mixed.to_dot(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert PROVIDER_COLORS[CPU] in proc.stdout and COPY_COLOR in proc.stdout


def test_partition_command_writes_each_format(sim_plugin, tmp_path, capsys):
    from onnx import save

    model = tmp_path / "mixed.onnx"
    save(_mixed_model(), str(model))
    for fmt, marker in (("svg", "<svg"), ("html", "<!DOCTYPE html>"), ("dot", "digraph partition"),
                        ("json", '"copies"'), ("text", "refused by (reason)")):
        out = tmp_path / f"p.{fmt}"
        assert main(["partition", str(model), "-p", "sim", "-p", "cpu", "--format", fmt, "--output", str(out)]) == 0
        assert out.read_text().lstrip().startswith(marker) or marker in out.read_text()
    assert main(["partition", str(model), "-p", "sim", "-p", "cpu", "--format", "dot"]) == 0
    assert "digraph partition" in capsys.readouterr().out


def _screenshot(page: Path, png: Path, profile: Path) -> None:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", f"--screenshot={png}", "--window-size=1000,800", page.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert png.exists(), f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}"


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package `chromium`)")
def test_html_renders_in_headless_chromium_with_the_provider_colours(mixed, tmp_path):
    image = pytest.importorskip("PIL.Image")
    page = tmp_path / "partition.html"
    page.write_text(mixed.to_html(title="mixed"), encoding="utf-8")
    png = tmp_path / "shot.png"
    _screenshot(page, png, tmp_path / "profile")
    pixels = np.asarray(image.open(png).convert("RGB")).reshape(-1, 3).astype(int)
    assert len(np.unique(pixels, axis=0)) > 20, "the screenshot is blank"
    colors = provider_colors(mixed.providers)
    for name in (SIM, CPU):
        rgb = np.array([int(colors[name][k:k + 2], 16) for k in (1, 3, 5)])
        near = np.abs(pixels - rgb).max(axis=1) <= 8
        assert near.sum() > 500, f"{name}'s colour {colors[name]} is not on the screenshot"
