"""The fuzz harness (tools/fuzz): deterministic cases, crash/hang/memory containment of its workers,
verdicts, and a seeded subset of mutated models that must cause no crash, hang, or accepted invalid model."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

import ep_runtime
from tools.fuzz.campaign import Campaign, Options, run_case
from tools.fuzz.classify import FORBIDDEN, judge
from tools.fuzz.mutate import build_case, make_case
from tools.fuzz.seeds import SMALL_SEEDS, default_seeds
from tools.fuzz.supervisor import Lane, crash_frame, crash_where, task_output
from tools.fuzz.worker import ORACLE, ROOT

pytest.importorskip("onnxruntime")

PROVIDERS = [p for p, cls in (("cpu", "CPUExecutionProvider"), ("opencl", "OpenCLExecutionProvider"),
                              ("embedded_c", "EmbeddedCExecutionProvider"),
                              ("embedded_c_fused", "EmbeddedCExecutionProvider"))
             if cls in ep_runtime.get_available_providers()]
SUBSET_SEED, SUBSET_CASES = 2026, 50


@pytest.fixture(scope="module")
def lane():
    lane = Lane(timeout=60)
    yield lane
    lane.close()


def fake_worker(body: str) -> list[str]:
    """A worker command that reads one task and then does `body` (crash, hang...)."""
    code = textwrap.dedent(f"""
        import os, signal, sys, time
        sys.stdin.buffer.read(8)
        {body}
    """)
    return [sys.executable, "-c", code]


def test_the_same_seed_gives_the_same_cases():
    names = default_seeds()
    for index in range(30):
        a, b = make_case(5, index, names), make_case(5, index, names)
        assert a.model == b.model and a.notes == b.notes
        assert a.feed.keys() == b.feed.keys() and all(np.array_equal(a.feed[k], b.feed[k]) for k in a.feed)
    assert [make_case(5, i, names).model for i in range(10)] != [make_case(6, i, names).model for i in range(10)]


def test_unmutated_seed_models_run_and_agree_on_every_provider(lane):
    for name in default_seeds():
        record = run_case(lane, build_case(f"seed-{name}", name, ()), PROVIDERS)
        assert record.results[ORACLE]["status"] == "ok", name
        assert {p: v.verdict for p, v in record.verdicts.items()} == dict.fromkeys(PROVIDERS, "ok"), name


def test_a_worker_killed_by_a_signal_is_a_confirmed_crash_and_is_replaced():
    lane = Lane(timeout=30, command=fake_worker("os.kill(os.getpid(), signal.SIGSEGV)"))
    try:
        result = lane.run({"provider": "cpu", "label": "x"})
        assert (result["status"], result["exc_type"], result["confirmed"]) == ("crash", "SIGSEGV", True)
        assert lane.restarts == 2 and lane.worker.proc.poll() is None
    finally:
        lane.close()


def test_a_crash_is_located_by_its_assertion_or_innermost_ep_runtime_frame():
    dump = (
        "fuzz task 1-7/embedded_c\nFatal Python error: Segmentation fault\n\n"
        "Current thread 0x1 (most recent call first):\n"
        '  File "/usr/lib/python3/ctypes/__init__.py", line 1 in __call__\n'
        f'  File "{ROOT}/providers/embedded_c/provider.py", line 213 in run\n'
        f'  File "{ROOT}/ep_runtime/session.py", line 240 in run\n'
    )
    assert crash_frame(dump) == "providers/embedded_c/provider.py:213 run"
    assert crash_where(task_output("fuzz task 1-6/cpu\n" + dump)) == "providers/embedded_c/provider.py:213 run"
    assert crash_where("Fatal Python error: Segmentation fault\n\nExtension modules: numpy\n") == (
        "no Python frame (a native thread)")
    assert crash_where("/x/stl_algo.h:3626: constexpr std::clamp(): Assertion '!(__hi < __lo)' failed.\n") == (
        "assertion stl_algo.h:3626: !(__hi < __lo)")


def test_a_worker_that_stops_answering_is_a_hang_and_is_replaced():
    lane = Lane(timeout=1, command=fake_worker("time.sleep(60)"))
    try:
        result = lane.run({"provider": "cpu", "label": "x"})
        assert result["status"] == "hang" and lane.restarts == 1
    finally:
        lane.close()


def test_a_huge_allocation_in_the_memory_capped_worker_is_not_a_crash():
    from onnx import TensorProto, helper

    node = helper.make_node("ConstantOfShape", ["shape"], ["y"])
    graph = helper.make_graph([node], "huge", [helper.make_tensor_value_info("shape", TensorProto.INT64, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    lane = Lane(timeout=60, memory_gib=2)
    try:
        result = lane.run({"provider": "cpu", "model": model, "feed": {"shape": np.array([1 << 20, 1 << 12])}})
    finally:
        lane.close()
    assert result["status"] in ("refused", "unclear"), result
    assert "MemoryError" in (result["exc_type"], result["cause"]) or "memory" in result["message"].lower()


def test_running_where_the_reference_refused_is_accepted_but_should_refuse():
    ok = {"status": "ok", "outputs": [{"shape": (2,), "dtype": "float32", "values": np.ones(2, np.float32)}]}
    refused = {"status": "refused", "exc_type": "InvalidGraphError", "message": "bad"}
    assert judge("embedded_c", {"cpu": refused, "embedded_c": ok}).verdict == "accepted_but_should_refuse"
    assert judge("cpu", {ORACLE: refused, "cpu": ok}).verdict == "accepted_but_should_refuse"
    assert judge("cpu", {ORACLE: {**refused, "status": "unsupported"}, "cpu": ok}).verdict == "ok"
    other = {"status": "ok", "outputs": [{"shape": (2,), "dtype": "float32", "values": np.zeros(2, np.float32)}]}
    assert judge("embedded_c", {"cpu": ok, ORACLE: other, "embedded_c": ok}).verdict == "wrong_output"


def test_seeded_fuzz_subset_causes_no_crash_hang_or_accepted_invalid_model(tmp_path):
    options = Options(seed=SUBSET_SEED, cases=SUBSET_CASES, providers=PROVIDERS, seed_names=list(SMALL_SEEDS),
                      jobs=2, timeout=30, minimize=False, repro_dir=tmp_path)
    summary = Campaign(options).run()
    assert summary["cases_run"] == SUBSET_CASES
    bad = [s for s in summary["signatures"] if s["verdict"] in FORBIDDEN]
    lines = [f"{s['signature']} ({s['count']}x), e.g. `python tools/fuzz_models.py --seed {SUBSET_SEED} --seeds small "
             f"--case {s['example_case'].split('-')[1]} --providers {s['provider']}`: {s['minimized_case']['notes']} "
             f"-- {s['message'][:200]}" for s in bad]
    assert not bad, "fuzz failures:\n" + "\n".join(lines)
