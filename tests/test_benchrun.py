"""trtllm-bench's offline run of a fixed-length dataset (perf/benchrun.py): a worked replay, the waves it
moves in, and the plan's `benchmark` figure."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner import catalog
from planner.api import make_plan
from planner.perf.benchrun import offline_run
from planner.perf.factors import factors
from planner.perf.hardware import hardware
from planner.perf.scheduler import Replica, operating_point
from planner.perf.step import StageShape

H100 = catalog.get_gpu("h100")
NO_HOST = factors()._replace(step_overhead_us=0.0, per_sequence_step_us=0.0)


@dataclass(frozen=True)
class _Took:
    total_s: float


def _linear_step(*args, **kwargs) -> _Took:
    """1 ms per iteration plus 10 us per token in it, whatever the context."""
    batch = args[6]
    return _Took(1e-3 + 1e-5 * batch.tokens)


def _replica(step=None, dp: int = 1, model: str = "llama-3.1-8b", weights: str = "bf16") -> Replica:
    m = catalog.get_model(model)
    hw = hardware(H100, weights, "bf16", dp, 1, 8)
    moe = sum(1 for i in range(m.num_layers) if m.is_moe_layer(i))
    return Replica(m, weights, "bf16", "bf16", dp, (StageShape(m.num_layers, moe, True, False),), hw,
                   NO_HOST if step else factors(), dp=dp, step=step)


def test_worked_replay_of_four_requests_two_at_a_time():
    """4 requests of 100 prompt and 3 output tokens, 2 sequences at once, a 150-token budget:
    it 0  prompt tokens 150 (A done, B half)  2.50 ms  A's first token at 2.50
    it 1  A decodes, B's last 50               1.51     B's first token at 4.01
    it 2  A and B decode                       1.02     A done (tokens at 2.50, ., 5.03)
    it 3  B decodes, C's prompt 100            2.01     B done at 7.04, C's first token at 7.04
    it 4  C decodes, D's prompt 100            2.01     D's first token at 9.05
    it 5  C and D decode                       1.02     C done at 10.07
    it 6  D decodes                            1.01     D done at 11.08"""
    run = offline_run(_replica(_linear_step), 4, 2, 100, 3, 150)
    assert run.total_s == pytest.approx(11.08e-3)
    assert run.output_tokens_per_s == pytest.approx(4 * 3 / 11.08e-3)
    assert run.ttft_s == pytest.approx((2.50 + 4.01 + 7.04 + 9.05) / 4 * 1e-3)
    assert run.tpot_s == pytest.approx((5.03 - 2.50 + 7.04 - 4.01 + 10.07 - 7.04 + 11.08 - 9.05) / 2 / 4 * 1e-3)


def test_a_long_run_reaches_the_steady_state():
    rep = _replica()
    steady = operating_point(rep, 256, 1000, 1000, 8192).tokens_per_s
    run = offline_run(rep, 256 * 40, 256, 1000, 1000, 8192)
    assert run.output_tokens_per_s == pytest.approx(steady, rel=0.03)


@settings(max_examples=20, deadline=None)
@given(st.sampled_from([1, 2, 4]), st.sampled_from([1, 2]), st.sampled_from([16, 64, 256]),
       st.sampled_from([128, 1000, 4000]), st.sampled_from([64, 500, 2000]))
def test_forty_waves_come_within_a_few_percent_of_the_steady_state(pp, dp, per_rank, isl, osl):
    """Pipeline stages and attention-DP ranks included, a 40-wave run is never faster than the steady
    state beyond rounding. The ramp and the drain cost a few percent; where a whole batch's prompts fit
    in one iteration and outputs are short, the waves stay in step (every prompt runs in the iteration
    after the last wave ends, none beside decode tokens) and cost up to a fifth (64 x 128-token prompts
    in one 8,192-token iteration, 64 output tokens: -16 %)."""
    m = catalog.get_model("llama-3.1-8b")
    hw = hardware(H100, "fp8", "bf16", dp, pp, 8)
    layers = m.num_layers // pp
    stages = tuple(StageShape(layers, 0, i == pp - 1, i < pp - 1, i * layers) for i in range(pp))
    rep = Replica(m, "fp8", "bf16", "fp8", dp, stages, hw, factors(), dp=dp)
    limit = per_rank * pp * dp
    steady = operating_point(rep, limit, isl, osl, 8192).tokens_per_s
    run = offline_run(rep, 40 * limit, limit, isl, osl, 8192)
    assert 0.8 * steady <= run.output_tokens_per_s <= 1.01 * steady
    assert 0 < run.ttft_s < run.total_s
    assert run.tpot_s > 0


def test_a_short_last_wave_costs_nearly_a_full_one():
    """With fixed lengths the run moves in waves: 5 % more requests than the batch holds decode in a
    second, small wave whose iterations still read every weight, so they add over 3 times their share of
    the time (Llama 3.1 8B, BF16, H100: 16 GB of weights per iteration against 400 sequences' KV)."""
    rep = _replica()
    one_wave = offline_run(rep, 400, 400, 1000, 1000, 8192)
    tail = offline_run(rep, 420, 400, 1000, 1000, 8192)
    steady = operating_point(rep, 400, 1000, 1000, 8192).tokens_per_s
    assert tail.total_s > 1.15 * one_wave.total_s
    assert tail.output_tokens_per_s < 0.9 * min(one_wave.output_tokens_per_s, steady)


def test_fewer_requests_than_the_batch_holds_never_fill_it():
    """64 requests where 512 fit: the run is one wave of 64, no faster than 64 at a time in the steady state."""
    rep = _replica()
    small = offline_run(rep, 64, 512, 128, 512, 8192)
    assert small.output_tokens_per_s <= operating_point(rep, 64, 128, 512, 8192).tokens_per_s
    assert small.output_tokens_per_s < operating_point(rep, 512, 128, 512, 8192).tokens_per_s / 2


def test_attention_dp_ranks_share_the_requests_in_turn():
    """Each of 4 ranks schedules its own requests: 4 × 100 requests run as 4 ranks of 100 at once; one
    request more lands on one rank, which then has 101, and the run lasts as long as that rank."""
    rep = _replica(_linear_step, dp=4)
    even = offline_run(rep, 400, 400, 100, 50, 2048)
    odd = offline_run(rep, 401, 400, 100, 50, 2048)
    assert odd.total_s > even.total_s
    assert odd.total_s == pytest.approx(offline_run(rep, 404, 400, 100, 50, 2048).total_s)
    assert odd.output_tokens_per_s == pytest.approx(401 * 50 / odd.total_s)


def test_plan_reports_the_run_only_when_asked():
    kw = dict(quant="fp8", kv_cache_dtype="fp8", tp=2, pp=1, max_input_len=1024, max_output_len=1024,
              objective="throughput", kv_cache_free_gpu_mem_fraction=0.95, flow="pytorch")
    plain = make_plan("llama-3.3-70b", "h200x2", **kw)
    assert plain.benchmark is None and "benchmark" not in plain.to_dict()
    assert "bench_requests" not in plain.to_dict()["request"]
    plan = make_plan("llama-3.3-70b", "h200x2", bench_requests=3000, **kw)
    b = plan.benchmark
    assert (b.requests, b.input_len, b.output_len, b.backend) == (3000, 1024, 1024, "planner-roofline")
    assert b.output_tokens_per_s_per_gpu == pytest.approx(b.output_tokens_per_s / 2, abs=0.01)
    assert b.output_tokens_per_s == pytest.approx(3000 * 1024 / b.total_s, rel=1e-3)
    # 3,000 requests in waves of ~600: within a few percent of saturation, queueing in the mean TTFT
    assert b.output_tokens_per_s == pytest.approx(plan.performance.output_tokens_per_s, rel=0.1)
    assert b.ttft_ms > 100 * plan.performance.ttft_ms
    assert plan.to_dict()["request"]["bench_requests"] == 3000


def test_a_table_failure_falls_back_to_the_roofline_and_says_so():
    """Both the saturation figure and the replay take the roofline's figure when aiconfigurator-core's tables
    fail on a shape past the coverage probe; the roofline's own failures are bugs and propagate."""
    from planner.perf import BACKEND, Benchmark, _or_roofline

    def fails():
        raise RuntimeError("no table row for 7 tokens\nsecond line")

    roofline = Benchmark(10, 1.0, 100.0, 5.0, 1.0)
    timed_by_tables = _replica(step=_linear_step)
    got = _or_roofline(timed_by_tables, fails, lambda: roofline)
    assert got._replace(backend=BACKEND) == roofline
    assert got.backend == f"{BACKEND} (aiconfigurator-core failed: no table row for 7 tokens)"
    with pytest.raises(RuntimeError):
        _or_roofline(_replica(), fails, lambda: roofline)
