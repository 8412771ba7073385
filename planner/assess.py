"""Every layout with its memory and speed: the options an objective chooses among, and fleet sizing.

Pure functions over the specs: the memory model sizes each layout's KV pool, the performance
model (planner/perf/) turns it into TTFT, TPOT and throughput, `layout.preferred` and
`layout.rank_key` pick by objective, and `size_fleet` answers "how many GPUs for R requests/s".
"""

from __future__ import annotations

import math
from typing import NamedTuple

from planner import perf
from planner.errors import InputError
from planner.fleet import MAX_GPUS_PER_NODE, MAX_NODES
from planner.layout import Candidate, evaluate, fleet_share, moe_variants, preferred, rank_key
from planner.perf.tuning import max_throughput_limits
from planner.specs import Fleet, ModelSpec, RuntimeProfile, Workload


class Ask(NamedTuple):
    """What stays fixed while the layouts are compared."""

    model: ModelSpec
    weights: str
    kv_dtype: str
    act: str
    fleet: Fleet
    workload: Workload
    runtime: RuntimeProfile
    objective: str = "min-gpus"
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    request_rate: float | None = None
    tune_batch: bool = False  # choose max_batch_size as trtllm-bench does for maximum throughput
    tune_tokens: bool = False  # same for max_num_tokens
    perf_backend: str = "roofline"  # perf.BACKENDS: who times the steps


class Option(NamedTuple):
    cand: Candidate
    workload: Workload
    replicas: int
    idle: int
    perf: perf.Estimate | None = None
    perf_reason: str | None = None  # why there are no figures


def workload_for(ask: Ask, tp: int, pp: int) -> Workload:
    """The workload a layout is weighed with. trtllm-bench's heuristic knows tp and pp only, not
    attention DP (get_settings passes params tp and pp to get_benchmark_engine_settings,
    tensorrt_llm/bench/benchmark/utils/general.py at NVIDIA/TensorRT-LLM commit 0171265e), so
    under attention DP its limits hold per rank, as the runtime reads them; the KV pool still
    bounds the running batch."""
    if not (ask.tune_batch or ask.tune_tokens):
        return ask.workload
    w = ask.workload
    bs, tokens = max_throughput_limits(ask.model, ask.weights, ask.kv_dtype, ask.fleet.gpu, tp, pp,
                                       w.max_input_len, w.max_output_len, ask.runtime.kv_cache_free_gpu_mem_fraction)
    update = {}
    if ask.tune_batch:
        update["max_batch_size"] = bs
    if ask.tune_tokens:
        update["max_num_tokens"] = tokens
    return w.model_copy(update=update)


def speed(ask: Ask, cand: Candidate, workload: Workload, replicas: int,
          concurrency: int | None = None) -> perf.Estimate | str:
    rate = ask.request_rate / replicas if ask.request_rate and replicas else None
    return perf.estimate(ask.model, ask.weights, ask.act, ask.kv_dtype, ask.fleet, cand.tp, cand.stages, workload,
                         ask.runtime.tokens_per_block, request_rate=rate, concurrency=concurrency,
                         ep=cand.ep, attention_dp=cand.attention_dp, backend=ask.perf_backend,
                         target=ask.runtime.trtllm_version)


def bench_run(ask: Ask, cand: Candidate, workload: Workload, requests: int) -> perf.Benchmark | str:
    """What trtllm-bench's offline run of `requests` requests reports for one replica of `cand`."""
    return perf.benchmark(ask.model, ask.weights, ask.act, ask.kv_dtype, ask.fleet, cand.tp, cand.stages, workload,
                          ask.runtime.tokens_per_block, requests, ep=cand.ep, attention_dp=cand.attention_dp,
                          backend=ask.perf_backend, target=ask.runtime.trtllm_version)


def assess(ask: Ask, tp: int, pp: int, ep: int = 1, attention_dp: bool = False, timed: bool = True) -> Option:
    """One layout: memory (fits or why not), then speed and the latency limits for one that fits.
    `timed=False` stops after memory: only for a choice no figure enters (see `needs_speed`)."""
    workload = workload_for(ask, tp, pp)
    cand = evaluate(ask.model, ask.weights, ask.kv_dtype, tp, pp, ask.fleet, workload, ask.runtime, ep, attention_dp)
    reps, idle = fleet_share(ask.fleet, tp * pp)
    if not cand.fits and ask.tune_batch and _static_fits(cand, pp):
        # trtllm-bench's batch limit is an optimistic bound: the runtime admits what the KV pool holds
        cand = cand._replace(reason=None)
    if not cand.fits or not timed:
        return Option(cand, workload, reps, idle)
    est = speed(ask, cand, workload, reps)
    if isinstance(est, str):
        return Option(cand, workload, reps, idle, perf_reason=est)
    miss = limit_reason(ask, est)
    if miss:
        cand = cand._replace(reason=miss)
    return Option(cand, workload, reps, idle, est)


def _static_fits(cand: Candidate, pp: int) -> bool:
    return len(cand.stages) == pp and all(s.free_bytes > 0 and s.kv_blocks > 0 for s in cand.stages)


def limit_reason(ask: Ask, est: perf.Estimate) -> str | None:
    if ask.ttft_ms is not None and est.ttft_ms > ask.ttft_ms:
        return f"TTFT {est.ttft_ms:.0f} ms exceeds --ttft-ms {ask.ttft_ms:g}"
    if ask.tpot_ms is not None and est.tpot_ms > ask.tpot_ms:
        return f"TPOT {est.tpot_ms:.1f} ms exceeds --tpot-ms {ask.tpot_ms:g}"
    return None


def has_limits(ask: Ask) -> bool:
    """Whether --ttft-ms or --tpot-ms was given."""
    return ask.ttft_ms is not None or ask.tpot_ms is not None


def batch_within_limits(ask: Ask, cand: Candidate, workload: Workload, replicas: int,
                        batch: int) -> tuple[int, perf.Estimate] | None:
    """The largest max_batch_size from `batch` down, halving, at which `cand` meets the latency limits, with
    its estimate; None when not even 1 does."""
    while batch >= 1:
        est = speed(ask, cand, workload.model_copy(update={"max_batch_size": batch}), replicas)
        if not isinstance(est, str) and limit_reason(ask, est) is None:
            return batch, est
        batch //= 2
    return None


def pairs(model: ModelSpec, fleet: Fleet) -> list[tuple[int, int]]:
    max_tp = min(fleet.total_gpus, fleet.max_tp)
    out = [(tp, pp) for tp in range(1, max_tp + 1)
           for pp in range(1, min(fleet.total_gpus // tp, model.num_layers) + 1)]
    return sorted(out, key=lambda p: (p[0] * p[1], -p[0]))


def layouts(model: ModelSpec, fleet: Fleet, runtime: RuntimeProfile) -> list[tuple[int, int, int, bool]]:
    """(tp, pp, ep, attention_dp) to weigh, in the order of `pairs`; EP and attention DP only where
    `layout.moe_variants` allows them (MoE models in the PyTorch flow)."""
    return [(tp, pp, ep, dp) for tp, pp in pairs(model, fleet) for ep, dp in moe_variants(model, tp, runtime)]


def needs_speed(ask: Ask) -> bool:
    """Whether choosing among the layouts reads their speed: the min-gpus objective without latency
    limits ranks by GPUs, TP and KV headroom alone (layout.rank_key)."""
    return ask.objective != "min-gpus" or has_limits(ask)


def choose(ask: Ask, options: list[Option]) -> Option | None:
    fitting = [o for o in options if o.cand.fits]
    if not fitting:
        return None
    return min(preferred(fitting), key=rank_key(ask.objective))


# The most GPUs a sizing answers with: the fleet syntax's own bounds, far past any deployment, so that a
# mistyped rate (1e30) is an error, not a replica count hundreds of digits long.
MAX_SIZED_GPUS = MAX_NODES * MAX_GPUS_PER_NODE


class Sizing(NamedTuple):
    request_rate: float
    replicas_needed: int
    gpus_needed: int
    meets_slo: bool  # the fleet serves the rate within the limits
    fleet_suffices: bool
    max_requests_per_s_per_replica: float


def size_fleet(ask: Ask, opt: Option) -> Sizing | None:
    """Replicas of the chosen layout that serve `ask.request_rate` within the latency limits."""
    rate = ask.request_rate
    if not rate or opt.perf is None:
        return None
    saturated = speed(ask._replace(request_rate=None), opt.cand, opt.workload, 1)
    if isinstance(saturated, str):
        return None
    top = saturated.requests_per_s
    capacity = top
    if has_limits(ask):
        capacity = _max_rate_within_limits(ask, opt, top)
    achievable = capacity > 0
    needed = math.ceil(rate / capacity - 1e-9) if achievable else 0
    if needed * opt.cand.gpus > MAX_SIZED_GPUS:
        most = MAX_SIZED_GPUS // opt.cand.gpus * capacity * 0.9995  # still within the bound once printed to 4 digits
        raise InputError(f"--request-rate {rate:g} would need {needed * opt.cand.gpus:.3g} GPUs ({capacity:.3g} "
                         f"requests/s per {opt.cand.gpus}-GPU replica): more than the planner sizes "
                         f"({MAX_SIZED_GPUS:,} GPUs); it sizes up to --request-rate {most:.4g}")
    suffices = achievable and needed <= opt.replicas
    return Sizing(rate, needed, needed * opt.cand.gpus, suffices, suffices, capacity)


def _max_rate_within_limits(ask: Ask, opt: Option, top: float) -> float:
    def ok(r: float) -> bool:
        trial = ask._replace(request_rate=r)
        est = speed(trial, opt.cand, opt.workload, 1)
        return not isinstance(est, str) and est.keeps_up and limit_reason(ask, est) is None

    lo, hi = 0.0, top
    if not ok(top * 1e-3):
        return 0.0
    lo = top * 1e-3
    for _ in range(30):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo
