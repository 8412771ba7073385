"""Pure logic of the live checks: plan comparison, percentiles, URLs, exit codes."""

from __future__ import annotations

from live_helpers import plan_dict

from planner.live.plancheck import compare_with_plan, missing_inputs
from planner.live.report import EXIT_OK, SmokeReport
from planner.live.smoke import one_line, percentile, split_url


def _configs(decoupled: bool = False, batch: int | str = 8) -> dict:
    """Served configs in the shape gRPC's as_json gives (64-bit numbers as strings)."""
    inputs = [
        {"name": "text_input", "data_type": "TYPE_STRING", "dims": ["1"]},
        {"name": "max_tokens", "data_type": "TYPE_INT32", "dims": ["1"]},
        {"name": "stream", "data_type": "TYPE_BOOL", "dims": ["1"], "optional": True},
    ]
    return {
        "ensemble": {"name": "ensemble", "max_batch_size": batch, "input": inputs},
        "tensorrt_llm": {
            "max_batch_size": batch,
            "model_transaction_policy": {"decoupled": decoupled},
            "dynamic_batching": {"max_queue_delay_microseconds": "0"},
            "parameters": {
                "max_beam_width": {"string_value": "1"},
                "gpt_model_type": {"string_value": "inflight_fused_batching"},
            },
        },
        "preprocessing": {"max_batch_size": batch, "instance_group": [{"count": 1, "kind": "KIND_CPU"}]},
    }


def test_matching_config_has_no_differences():
    assert compare_with_plan(plan_dict(decoupled=True), _configs(decoupled=True), "ensemble") == []
    assert compare_with_plan(plan_dict(decoupled=False), _configs(batch="8"), "ensemble") == []


def test_each_difference_is_listed():
    plan = plan_dict(decoupled=True, max_batch_size=4)
    plan["workload"]["max_beam_width"] = 2
    plan["serving"]["batching_strategy"] = "v1"
    plan["serving"]["max_queue_delay_microseconds"] = 100
    lines = {d.line() for d in compare_with_plan(plan, _configs(), "ensemble")}
    assert lines == {
        "ensemble.max_batch_size: plan 4, served 8",
        "tensorrt_llm.max_batch_size: plan 4, served 8",
        "preprocessing.max_batch_size: plan 4, served 8",
        "tensorrt_llm.decoupled: plan True, served False",
        "tensorrt_llm.max_beam_width: plan 2, served 1",
        "tensorrt_llm.gpt_model_type: plan v1, served inflight_fused_batching",
        "tensorrt_llm.max_queue_delay_microseconds: plan 100, served 0",
    }


def test_missing_and_mistyped_inputs():
    config = {"input": [{"name": "text_input", "data_type": "TYPE_INT32"}]}
    lines = [d.line() for d in missing_inputs("ensemble", config, streaming=True)]
    assert lines == [
        "ensemble.input text_input: plan TYPE_STRING, served TYPE_INT32",
        "ensemble.input max_tokens: plan TYPE_INT32, served absent",
        "ensemble.input stream: plan TYPE_BOOL, served absent",
    ]


def test_values_missing_on_either_side_are_not_compared():
    assert compare_with_plan({}, _configs(), "ensemble") == []
    assert compare_with_plan(plan_dict(decoupled=False), {}, "ensemble") == []


def test_percentile_and_helpers():
    assert percentile([], 50) is None
    assert percentile([5.0], 95) == 5.0
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile(list(range(1, 101)), 95) == 95.05
    assert split_url("http://localhost:8000/") == "localhost:8000"
    assert split_url("127.0.0.1:8001") == "127.0.0.1:8001"
    assert one_line(ValueError("a\n  b\tc")) == "a b c"
    assert len(one_line(ValueError("x" * 1000))) == 300


def test_exit_codes():
    base = {"url": "u", "protocol": "http", "model": "m", "requests": 2}
    assert SmokeReport(**base, model_ready=True, succeeded=2).finish().exit_code == EXIT_OK
    assert SmokeReport(**base, error="refused").finish().status == "not-run"
    assert (
        SmokeReport(**base, model_ready=True, succeeded=1, failed=1).finish().status == "failed"
    )
    partial = SmokeReport(**base, model_ready=True, succeeded=1, failed=1, error="server stopped")
    assert partial.finish().status == "failed"
    # the command's exit code: 4 whenever a check did not pass, run or not
    assert SmokeReport(**base, error="refused").finish().exit_code == 4
    assert partial.finish().exit_code == 4
