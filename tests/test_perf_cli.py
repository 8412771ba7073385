"""The command line of the performance model: plan options, the table, `planner compare`."""

from __future__ import annotations

import json

import pytest

from planner.api import make_plan
from planner.cli import main


def run(capsys, *argv):
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_plan_json_carries_performance_candidates_and_objective(capsys):
    code, out, err = run(capsys, "plan", "llama-3.1-70b", "--gpus", "h100x8", "--format", "json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["objective"] == "min-gpus"
    assert plan["layout"]["idle_gpus"] == 0
    perf = plan["performance"]
    assert {"ttft_ms", "tpot_ms", "concurrency", "output_tokens_per_s", "output_tokens_per_s_per_gpu",
            "fleet_output_tokens_per_s", "requests_per_s", "backend"} <= set(perf)
    assert perf["fleet_output_tokens_per_s"] == pytest.approx(perf["output_tokens_per_s"] * plan["layout"]["replicas"],
                                                              rel=1e-4)
    chosen = [c for c in plan["candidates"] if (c["tp"], c["pp"]) == (plan["layout"]["tp"], plan["layout"]["pp"])]
    assert chosen and chosen[0]["performance"] == perf
    assert plan["sizing"] is None


def test_plan_table_shows_speed_and_candidates(capsys):
    code, out, err = run(capsys, "plan", "llama-3.1-70b", "--gpus", "h100x8", "--quant", "fp8",
                         "--objective", "throughput", "--request-rate", "5", "--gpu-hour-price", "3")
    assert code == 0, err
    assert "performance (throughput" in out and "Candidate layouts" in out
    assert "sizing: 5 requests/s need" in out and "per million output tokens" in out


@pytest.mark.parametrize("flag, value", [("--ttft-ms", "-1"), ("--tpot-ms", "0"), ("--request-rate", "nan"),
                                         ("--gpu-hour-price", "inf"), ("--objective", "fastest")])
def test_bad_performance_options_are_one_line_exit_2(capsys, flag, value):
    code, out, err = run(capsys, "plan", "llama-3.1-8b", "--gpus", "h100x1", flag, value)
    assert code == 2
    assert err.startswith("planner: error:") and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["plan", "compare"])
def test_a_rate_past_any_fleet_is_an_input_error_that_names_the_largest_rate_sized(capsys, command):
    code, out, err = run(capsys, command, "llama-3.1-8b", "--gpus", "h100x1", "--request-rate", "1e30")
    assert code == 2 and not out
    assert len(err.strip().splitlines()) == 1 and "more than the planner sizes (102,400,000 GPUs)" in err
    largest = float(err.rsplit("--request-rate ", 1)[1])
    code, out, err = run(capsys, command, "llama-3.1-8b", "--gpus", "h100x1", "--request-rate", f"{largest:g}",
                         "--format", "json")
    assert code == 0, err
    sized = json.loads(out)["sizing"]["gpus_needed"] if command == "plan" else json.loads(out)[0]["gpus_needed"]
    assert 0.99e8 < sized <= 102_400_000


def test_forced_layout_short_of_kv_still_reports_speed_and_exits_3(capsys):
    code, out, _ = run(capsys, "plan", "llama-3.1-70b", "--gpus", "h100x1", "--quant", "fp8", "--tp", "1", "--pp", "1",
                       "--max-batch-size", "512", "--format", "json")
    assert code == 3
    plan = json.loads(out)
    assert not plan["fits"] and plan["performance"]["kv_bound"]
    assert plan["performance"]["concurrency"] == plan["kv_cache"]["max_concurrent_sequences"]


def test_compare_rows_per_fleet_and_quantization(capsys):
    code, out, err = run(capsys, "compare", "llama-3.1-8b", "--gpus", "h100x8,h200x8", "--quant", "fp8,bf16",
                         "--request-rate", "100", "--gpu-hour-price", "2,3", "--format", "json")
    assert code == 0, err
    rows = json.loads(out)
    assert [(r["gpus"], r["quant"]) for r in rows] == [("h100x8", "fp8"), ("h100x8", "bf16"), ("h200x8", "fp8"),
                                                        ("h200x8", "bf16")]
    for r in rows:
        assert r["fits"] and r["fleet_output_tokens_per_s"] > 0 and r["gpus_needed"] >= 1
    # the faster GPU at the same quantization needs no more GPUs for the same rate
    assert rows[2]["gpus_needed"] <= rows[0]["gpus_needed"]


def test_compare_costs_each_fleet_by_the_gpus_the_rate_needs(capsys):
    # two fleets of eight GPUs serving the same rate on all their GPUs would cost the same per token; what tells
    # them apart is how many GPUs the rate needs on each
    code, out, err = run(capsys, "compare", "qwen3-235b-a22b", "--gpus", "h100x8,b200x8", "--quant", "fp8",
                         "--request-rate", "5", "--gpu-hour-price", "3", "--format", "json")
    assert code == 0, err
    h100, b200 = json.loads(out)
    assert b200["gpus_needed"] < h100["gpus_needed"]
    assert b200["cost_per_million_tokens"] == pytest.approx(
        h100["cost_per_million_tokens"] * b200["gpus_needed"] / h100["gpus_needed"], rel=1e-3)


def test_compare_reports_a_scheme_the_gpu_cannot_run_as_a_row(capsys):
    code, out, err = run(capsys, "compare", "llama-3.1-8b", "--gpus", "h100x8", "--quant", "nvfp4", "--format", "json")
    assert code == 0, err
    (row,) = json.loads(out)
    assert not row["fits"] and "nvfp4" in row["note"]


def test_compare_table_shows_a_refused_combination_beside_the_rows_that_plan(capsys):
    # the FP4 checkpoint runs on B200 only: the H200 row is the hardware's refusal, in its own table row
    code, out, err = run(capsys, "compare", "deepseek-r1-fp4", "--gpus", "b200x8,h200x8")
    assert code == 0, err
    b200 = next(line for line in out.splitlines() if "b200x8" in line)
    h200 = next(line for line in out.splitlines() if "h200x8" in line)
    assert "TP 4" in b200 and "cannot run" not in b200
    # refused before any layout is weighed: it cannot run, which is not "does not fit"
    assert "cannot run" in h200 and "does not fit" not in h200
    assert "None" not in h200  # no scheme was chosen: a dash, not Python's None
    code, out, err = run(capsys, "compare", "deepseek-r1-fp4", "--gpus", "b200x8,h200x8", "--format", "json")
    assert code == 0, err
    assert "cannot run nvfp4" in json.loads(out)[1]["note"]


def test_compare_price_count_must_match(capsys):
    code, _, err = run(capsys, "compare", "llama-3.1-8b", "--gpus", "h100x8,h200x8", "--gpu-hour-price", "1,2,3")
    assert code == 2 and "3 prices for 2 fleets" in err


def test_a_latency_limit_no_layout_meets_is_named_with_advice_that_meets_it(capsys):
    code, _, err = run(capsys, "plan", "llama-3.1-70b", "--gpus", "h100x8", "--tpot-ms", "20")
    assert code == 3
    assert "fits in memory but TPOT" in err and "KV cache holds" not in err
    # every suggestion must itself pass: rerun each one
    advice = err.split("would fit: ", 1)[1].strip().split("; ")
    relax = next(a for a in advice if a.startswith("--tpot-ms"))
    code, _, _ = run(capsys, "plan", "llama-3.1-70b", "--gpus", "h100x8", *relax.split(" fits on ")[0].split())
    assert code == 0
    batch = next(a for a in advice if a.startswith("--max-batch-size"))
    tp = batch.split("on TP ")[1].split(" ")[0]
    code, _, _ = run(capsys, "plan", "llama-3.1-70b", "--gpus", "h100x8", "--tpot-ms", "20", "--tp", tp,
                     "--max-batch-size", batch.split()[1])
    assert code == 0


def test_a_missed_latency_limit_shows_the_fastest_layout_with_its_figures(capsys):
    """When layouts fit in memory but miss --tpot-ms, the layout shown is the one nearest the limit (the
    fastest, which the advice names too), not the one with the most KV headroom; its MoE layout is named."""
    code, out, err = run(capsys, "plan", "deepseek-r1", "--gpus", "gb200x4", "--objective", "latency",
                         "--tpot-ms", "5", "--format", "json")
    assert code == 3
    plan = json.loads(out)
    timed = [c for c in plan["candidates"] if c["performance"]]
    fastest = min(timed, key=lambda c: (c["performance"]["tpot_ms"], c["performance"]["ttft_ms"]))
    lay = plan["layout"]
    assert (lay["tp"], lay["pp"], lay["ep"], lay["attention_dp"]) == (
        fastest["tp"], fastest["pp"], fastest["ep"], fastest["attention_dp"])
    assert plan["performance"] == fastest["performance"]
    assert plan["performance_note"] == fastest["reason"] and fastest["reason"].startswith("TPOT")
    label = f"TP {lay['tp']} (EP {lay['ep']}) × PP {lay['pp']}" if lay["ep"] > 1 else f"TP {lay['tp']} × PP"
    assert f"the closest layout ({label}" in err and f"fits in memory but {fastest['reason']}" in err
    # the advice names the same layout in the same words
    assert any(f"fits on {label}" in a for a in plan["advice"]), plan["advice"]


def test_perf_backend_choices_are_the_performance_models_backends():
    from planner.cli import cli
    from planner.perf import BACKENDS

    for command in ("plan", "compare"):
        (param,) = [p for p in cli.commands[command].params if p.name == "perf_backend"]
        assert tuple(param.type.choices) == BACKENDS


def test_cli_prints_the_run_and_rejects_a_bad_count(capsys):
    args = ["plan", "llama-3.1-8b", "--gpus", "h100x1", "--max-input-len", "128", "--max-output-len", "128",
            "--objective", "throughput"]
    code, out, err = run(capsys, *args, "--bench-requests", "3000", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["benchmark"]["requests"] == 3000
    code, out, err = run(capsys, *args, "--bench-requests", "3000")
    assert code == 0 and "trtllm-bench, 3,000 requests of 128/128 tokens:" in out
    code, out, err = run(capsys, *args, "--bench-requests", "0")
    assert code == 2 and "--bench-requests" in err and "Traceback" not in err
    with pytest.raises(Exception, match="--bench-requests must be a positive integer"):
        make_plan("llama-3.1-8b", "h100x1", bench_requests=-5)


def test_the_candidates_table_always_shows_the_chosen_layout():
    from planner.render import _best

    # TP 2 × PP 2 and TP 2 × PP 4 outrun the chosen TP 2 × PP 1 here, passed over for TP before PP in a node
    plan = make_plan("llama-3.1-70b", "h100x8", quant="fp8", kv_cache_dtype="fp8", max_input_len=128,
                     max_output_len=2048, objective="throughput", kv_cache_free_gpu_mem_fraction=0.95)
    timed = [c for c in plan.candidates if c.performance]
    ranked = sorted(timed, key=lambda c: -c.performance.fleet_output_tokens_per_s)
    place = next(i for i, c in enumerate(ranked) if (c.tp, c.pp) == (plan.layout.tp, plan.layout.pp))
    assert place >= 2
    shown = _best(plan, timed, top=2)
    assert [(c.tp, c.pp) for c in shown] == [(ranked[0].tp, ranked[0].pp), (plan.layout.tp, plan.layout.pp)]
    assert _best(plan, timed, top=place + 1) == ranked[:place + 1]  # already among the best: nothing moves


def test_a_plan_that_fits_nowhere_labels_no_candidate_chosen(capsys):
    """The layout shown when every layout misses --tpot-ms is the closest, not a choice: its row in the
    candidates table gives the limit it misses."""
    code, out, err = run(capsys, "plan", "llama-3.1-8b", "--gpus", "l40sx4", "--objective", "throughput",
                         "--tpot-ms", "30")
    assert code == 3, err
    table = out[out.index("Candidate layouts"):out.index("Rejected layouts")]
    assert "chosen" not in table
    rows = [line for line in table.splitlines() if line.startswith("│") and line.split("│")[1].strip()]
    assert rows and all("exceeds --tpot-ms 30" in row for row in rows)  # each row, the closest one too, says why
