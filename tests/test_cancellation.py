"""Cancelling runs: RunOptions.terminate from another thread, the run timeout, and the RunOptions API."""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
import onnxruntime
import pytest
from onnx import TensorProto, helper

import ep_runtime as ep
from ep_runtime import InvalidArgument, RunCancelled, RunOptions, RunTimedOut
from ep_runtime.run_options import RUN_TIMEOUT_KEY
from tests.helpers.models import F, make_model
from tests.helpers.plugins import registered_plugin

B, I64 = TensorProto.BOOL, TensorProto.INT64
JOIN_BOUND_S = 60.0  # generous: a cancelled run stops within one iteration, an uncancelled one runs for ages


def vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def counting_loop_session() -> ep.InferenceSession:
    """Loop(M, cond, x0): the body keeps cond and adds 1 to x, so the result is x0 + M."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["c"], ["c_out"]), helper.make_node("Add", ["x", "one"], ["x_out"])],
        "count_body", [vi("i", I64, []), vi("c", B, []), vi("x", F, [])], [vi("c_out", B, []), vi("x_out", F, [])],
        initializer=[helper.make_tensor("one", F, [], [1.0])])
    graph = helper.make_graph([helper.make_node("Loop", ["M", "cond", "x0"], ["x"], body=body, name="runaway")],
                              "g", [vi("M", I64, []), vi("cond", B, []), vi("x0", F, [])], [vi("x", F, [])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return ep.InferenceSession(model.SerializeToString(), providers=["cpu"])


def loop_feed(trips: int) -> dict[str, np.ndarray]:
    return {"M": np.array(trips, np.int64), "cond": np.array(True), "x0": np.array(0, np.float32)}


RUNAWAY = 10**12


def run_in_thread(sess, feed, options) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def target():
        try:
            outcome["result"] = sess.run(None, feed, options)
        except Exception as exc:  # the test inspects it
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def terminate_after(options: RunOptions, thread: threading.Thread, delay: float = 0.2) -> None:
    time.sleep(delay)
    options.terminate = True
    thread.join(JOIN_BOUND_S)
    assert not thread.is_alive(), "the run did not stop after RunOptions.terminate was set"


def test_terminate_from_another_thread_stops_a_runaway_loop_and_the_session_runs_again():
    sess = counting_loop_session()
    options = RunOptions()
    thread, outcome = run_in_thread(sess, loop_feed(RUNAWAY), options)
    terminate_after(options, thread)
    err = outcome.get("error")
    assert isinstance(err, RunCancelled) and not isinstance(err, RunTimedOut), outcome
    assert "Exiting due to terminate flag being set to true." in str(err)
    assert "'runaway' (Loop)" in str(err) and "'count_body'" in str(err)

    options.terminate = False
    assert sess.run(None, loop_feed(5), options)[0] == 5.0
    assert sess.run(None, loop_feed(7))[0] == 7.0


def test_terminate_stops_a_long_scan_between_iterations():
    body = helper.make_graph([helper.make_node("Add", ["s", "x"], ["s_out"])], "sum_body",
                             [vi("s", F, []), vi("x", F, [])], [vi("s_out", F, [])])
    graph = helper.make_graph([helper.make_node("Scan", ["s0", "xs"], ["s"], body=body, num_scan_inputs=1)], "g",
                              [vi("s0", F, []), vi("xs", F, ["N"])], [vi("s", F, [])])
    sess = ep.InferenceSession(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
                               providers=["cpu"])
    options = RunOptions()
    thread, outcome = run_in_thread(sess, {"s0": np.array(0, np.float32), "xs": np.ones(5_000_000, np.float32)},
                                    options)
    terminate_after(options, thread)
    assert isinstance(outcome.get("error"), RunCancelled), outcome
    assert sess.run(None, {"s0": np.array(0, np.float32), "xs": np.ones(4, np.float32)})[0] == 4.0


def test_terminating_one_run_leaves_a_concurrent_run_with_other_options_running():
    sess = counting_loop_session()
    first, second = RunOptions(), RunOptions()
    thread_1, outcome_1 = run_in_thread(sess, loop_feed(RUNAWAY), first)
    thread_2, outcome_2 = run_in_thread(sess, loop_feed(RUNAWAY), second)
    terminate_after(first, thread_1)
    assert isinstance(outcome_1.get("error"), RunCancelled), outcome_1
    assert thread_2.is_alive() and not outcome_2
    terminate_after(second, thread_2, delay=0)
    assert isinstance(outcome_2.get("error"), RunCancelled), outcome_2


def test_a_run_started_with_terminate_set_fails_at_once():
    sess = counting_loop_session()
    options = RunOptions()
    options.terminate = True
    with pytest.raises(RunCancelled, match="before it started: Exiting due to terminate flag"):
        sess.run(None, loop_feed(3), options)


def test_run_timeout_config_entry_stops_a_runaway_loop():
    sess = counting_loop_session()
    options = RunOptions()
    options.add_run_config_entry(RUN_TIMEOUT_KEY, "200")
    thread, outcome = run_in_thread(sess, loop_feed(RUNAWAY), options)
    thread.join(JOIN_BOUND_S)
    assert not thread.is_alive(), "the run did not stop at its timeout"
    err = outcome.get("error")
    assert isinstance(err, RunTimedOut) and isinstance(err, RunCancelled) and isinstance(err, TimeoutError), outcome
    assert "longer than its timeout of 200 ms (run config entry 'ep_runtime.run_timeout_ms')" in str(err)
    assert sess.run(None, loop_feed(4), options)[0] == 4.0  # each run gets its own deadline


def test_a_zero_timeout_means_no_timeout():
    options = RunOptions()
    options.add_run_config_entry(RUN_TIMEOUT_KEY, "0")
    assert counting_loop_session().run(None, loop_feed(50), options)[0] == 50.0


@pytest.mark.parametrize("value", ["soon", "-5", "nan", "inf", ""])
def test_a_bad_run_timeout_is_an_error_naming_the_entry(value):
    options = RunOptions()
    with pytest.raises(InvalidArgument, match=f"{RUN_TIMEOUT_KEY}.*got {value!r}"):
        options.add_run_config_entry(RUN_TIMEOUT_KEY, value)


class _SetsTerminate(ep.KernelProvider):
    """Claims Relu; its kernel sets TERMINATE.terminate, as another thread could mid-run."""

    name = "SetsTerminateTestExecutionProvider"
    aliases = ("sets-terminate",)
    device = "cpu"
    registry = ep.KernelRegistry()


TERMINATE = RunOptions()


@_SetsTerminate.registry.kernel("Relu", since=6)
def _relu_then_terminate(x):
    TERMINATE.terminate = True
    return np.maximum(x, 0)


class _Plugin:
    @ep.hookimpl
    def ep_runtime_providers(self):
        return [_SetsTerminate]


def test_terminate_is_checked_between_subgraphs_of_the_plan():

    model = make_model([helper.make_node("Sigmoid", ["x"], ["s"]), helper.make_node("Relu", ["s"], ["r"]),
                        helper.make_node("Tanh", ["r"], ["y"], name="after")], [("x", F, [3])], [("y", F, [3])])
    with registered_plugin(_Plugin(), "test-sets-terminate"):
        sess = ep.InferenceSession(model, providers=["sets-terminate", "cpu"])
        assert len(sess.get_partition().subgraphs) == 3
        TERMINATE.terminate = False
        with pytest.raises(RunCancelled, match="before subgraph 2 on CPUExecutionProvider"):
            sess.run(None, {"x": np.zeros(3, np.float32)}, TERMINATE)
        TERMINATE.terminate = False
        np.testing.assert_allclose(sess.run(None, {"x": np.zeros(3, np.float32)})[0], np.tanh([0.5] * 3), rtol=1e-6)


def test_cancellation_is_logged_with_the_run_logid_unless_the_run_silences_it(caplog):
    sess = counting_loop_session()
    options = RunOptions()
    options.logid = "batch-17"
    options.terminate = True
    with caplog.at_level(logging.WARNING, logger="ep_runtime"), pytest.raises(RunCancelled, match="'batch-17'"):
        sess.run(None, loop_feed(1), options)
    assert any("'batch-17' terminated" in r.getMessage() for r in caplog.records)
    caplog.clear()
    options.log_severity_level = 3
    with caplog.at_level(logging.WARNING, logger="ep_runtime"), pytest.raises(RunCancelled):
        sess.run(None, loop_feed(1), options)
    assert not caplog.records


def test_run_options_have_onnxruntimes_fields_and_defaults():
    ours, theirs = RunOptions(), onnxruntime.RunOptions()
    fields = ["logid", "log_severity_level", "log_verbosity_level", "only_execute_path_to_fetches", "terminate"]
    assert [getattr(ours, f) for f in fields] == [getattr(theirs, f) for f in fields]
    public = {n for n in dir(theirs) if not n.startswith("_")} - {"add_active_adapter"}  # LoRA: not supported
    assert public <= set(dir(ours))


def test_run_options_reject_unknown_attributes_and_wrong_types():
    options = RunOptions()
    with pytest.raises(AttributeError, match="no attribute 'run_timeout'"):
        options.run_timeout = 5
    with pytest.raises(TypeError, match="RunOptions.terminate must be a bool, got str"):
        options.terminate = "yes"
    with pytest.raises(TypeError, match="RunOptions.log_severity_level must be an int, got float"):
        options.log_severity_level = 1.5
    with pytest.raises(TypeError, match="RunOptions.logid must be a str"):
        options.logid = 3
    options.terminate = 1
    assert options.terminate is True


def test_run_config_entries_round_trip_and_a_missing_one_is_a_key_error():
    options = RunOptions()
    options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    assert options.get_run_config_entry("memory.enable_memory_arena_shrinkage") == "cpu:0"
    with pytest.raises(KeyError, match="'nope'"):
        options.get_run_config_entry("nope")
    with pytest.raises(TypeError, match=r"takes \(str, str\)"):
        options.add_run_config_entry(RUN_TIMEOUT_KEY, 200)


def test_run_options_of_the_wrong_type_are_an_error():
    with pytest.raises(InvalidArgument, match="run_options must be an ep_runtime.RunOptions, got dict"):
        counting_loop_session().run(None, loop_feed(1), {"terminate": True})
