"""The performance model: TTFT, TPOT and throughput of one layout (pure functions, no I/O).

`estimate` joins the pieces: the hardware figures of the layout (hardware.py), the time of one
iteration per stage (step.py) and the in-flight-batching operating point (scheduler.py), with
the running batch bounded by `max_batch_size` and by the KV pool the memory model computed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple, TypeVar

from planner.memory import StageMemory
from planner.perf.factors import factors
from planner.perf.hardware import hardware
from planner.perf.scheduler import Point, Replica, at_rate, operating_point
from planner.perf.step import StageShape, attention_groups
from planner.specs import Fleet, ModelSpec, Workload

BACKEND = "planner-roofline"
BACKENDS = ("roofline", "aiconfigurator")  # --perf-backend: the planner's own, or aiconfigurator-core's tables
Figure = TypeVar("Figure", "Estimate", "Benchmark")


class Estimate(NamedTuple):
    ttft_ms: float
    tpot_ms: float
    concurrency: int
    output_tokens_per_s: float  # one replica
    requests_per_s: float
    kv_bound: bool  # the KV pool, not max_batch_size, limits the running batch
    keeps_up: bool = True  # with a request rate: the replica serves it without a growing queue
    backend: str = BACKEND


def stage_shapes(model: ModelSpec, stages: Sequence[StageMemory]) -> tuple[StageShape, ...]:
    out = []
    for i, s in enumerate(stages):
        moe = sum(n for is_moe, _, _, n in attention_groups(model, s.first_layer, s.layers) if is_moe)
        out.append(StageShape(s.layers, moe, i == len(stages) - 1, i < len(stages) - 1, s.first_layer))
    return tuple(out)


def max_concurrency(stages: Sequence[StageMemory], workload: Workload, tokens_per_block: int,
                    pp: int, dp: int = 1) -> tuple[int, bool]:
    """(sequences in flight, whether the KV pool is what limits them).

    Under attention DP each of the `dp` ranks holds the KV cache of its own requests and schedules up
    to max_batch_size of them ("--max_batch_size: Max batch size in each rank", in NVIDIA/TensorRT-LLM's
    blog Best_perf_practice_on_DeepSeek-R1_in_TensorRT-LLM, docs/source/blogs at commit 01c4ece9: TP 8,
    EP 8, attention DP, max_batch_size 128 at concurrency 1024 on 8 H200)."""
    per_seq = -(-workload.max_seq_len // tokens_per_block) * workload.max_beam_width
    kv = (min(s.kv_blocks for s in stages) // per_seq if stages else 0) * dp
    batch = workload.max_batch_size * pp * dp
    return min(batch, kv), kv < batch


def estimate(model: ModelSpec, weights: str, act: str, kv_dtype: str, fleet: Fleet, tp: int,
             stages: Sequence[StageMemory], workload: Workload, tokens_per_block: int,
             request_rate: float | None = None, concurrency: int | None = None, ep: int = 1,
             attention_dp: bool = False, backend: str = "roofline", target: str = "") -> Estimate | str:
    """The replica's figures at saturation (or at `request_rate` requests/s), or why there are none.

    `concurrency` overrides the running batch (e.g. a forced layout whose pool falls short); `ep` and
    `attention_dp` are the PyTorch flow's MoE layouts (step.py says what each changes). `backend`
    "aiconfigurator" times each stage from aiconfigurator-core's tables for the TensorRT-LLM release
    closest to `target` (aic.py) where they cover the layout; elsewhere the roofline times it and the
    figure's `backend` says why."""
    setup = _setup(model, weights, act, kv_dtype, fleet, tp, stages, workload, tokens_per_block, concurrency, ep,
                   attention_dp, backend, target)
    if isinstance(setup, str):
        return setup
    rep, limit, kv_bound, name = setup
    isl, osl, budget = workload.max_input_len, workload.max_output_len, workload.max_num_tokens

    def timed() -> Estimate:
        if request_rate:
            point, keeps_up = at_rate(rep, request_rate, limit, isl, osl, budget)
        else:
            point, keeps_up = operating_point(rep, limit, isl, osl, budget), True
        return _to_estimate(point, osl, kv_bound, keeps_up)._replace(backend=name)

    return _or_roofline(rep, timed, lambda: estimate(model, weights, act, kv_dtype, fleet, tp, stages, workload,
                                                     tokens_per_block, request_rate, concurrency, ep, attention_dp))


class Benchmark(NamedTuple):
    """What trtllm-bench's offline throughput run reports for a dataset of `requests` requests."""

    requests: int
    total_s: float
    output_tokens_per_s: float  # one replica
    ttft_ms: float  # mean, queueing from the start of the run included
    tpot_ms: float
    backend: str = BACKEND


def benchmark(model: ModelSpec, weights: str, act: str, kv_dtype: str, fleet: Fleet, tp: int,
              stages: Sequence[StageMemory], workload: Workload, tokens_per_block: int, requests: int,
              ep: int = 1, attention_dp: bool = False, backend: str = "roofline",
              target: str = "") -> Benchmark | str:
    """The run of `requests` fixed-length requests at the workload's input and output lengths, all
    queued at once, on one replica (benchrun.py), or why there is none."""
    from planner.perf.benchrun import offline_run

    setup = _setup(model, weights, act, kv_dtype, fleet, tp, stages, workload, tokens_per_block, None, ep,
                   attention_dp, backend, target)
    if isinstance(setup, str):
        return setup
    rep, limit, _, name = setup

    def timed() -> Benchmark:
        run = offline_run(rep, requests, limit, workload.max_input_len, workload.max_output_len,
                          workload.max_num_tokens)
        return Benchmark(requests, run.total_s, run.output_tokens_per_s, run.ttft_s * 1e3, run.tpot_s * 1e3, name)

    return _or_roofline(rep, timed, lambda: benchmark(model, weights, act, kv_dtype, fleet, tp, stages, workload,
                                                      tokens_per_block, requests, ep, attention_dp))


def _setup(model: ModelSpec, weights: str, act: str, kv_dtype: str, fleet: Fleet, tp: int,
           stages: Sequence[StageMemory], workload: Workload, tokens_per_block: int, concurrency: int | None,
           ep: int, attention_dp: bool, backend: str, target: str) -> tuple[Replica, int, bool, str] | str:
    """(the replica, its running-batch limit, whether the KV pool sets it, the backend's name), or why
    there are no figures."""
    pp = len(stages)
    nodes_per = -(-tp * pp // fleet.gpus_per_node)
    hw = hardware(fleet.gpu, weights, act, tp, pp, fleet.gpus_per_node, fleet.tp_across_nodes or nodes_per == 1)
    if isinstance(hw, str):
        return hw
    dp = tp if attention_dp else 1
    limit, kv_bound = max_concurrency(stages, workload, tokens_per_block, pp, dp)
    if concurrency is not None:
        limit = concurrency
    if limit < 1:
        return "the KV pool holds no whole sequence"
    rep = Replica(model, weights, act, kv_dtype, tp, stage_shapes(model, stages), hw, factors(), ep, dp)
    name = BACKEND
    if backend == "aiconfigurator":
        rep, name = _aic_replica(rep, fleet, target, nodes_per == 1 or fleet.tp_across_nodes)
    return rep, limit, kv_bound, name


def _or_roofline(rep: Replica, timed: Callable[[], Figure], roofline: Callable[[], Figure | str]) -> Figure | str:
    """`timed()`; where aiconfigurator-core's tables fail on a shape past the coverage probe, the roofline's
    figure, its backend naming the failure."""
    try:
        return timed()
    except Exception as exc:
        if rep.step is None:
            raise
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
        figure = roofline()
        return figure if isinstance(figure, str) else figure._replace(
            backend=f"{BACKEND} (aiconfigurator-core failed: {first})")


def _aic_replica(rep: Replica, fleet: Fleet, target: str, tp_in_node: bool) -> tuple[Replica, str]:
    """The replica timed from aiconfigurator-core where it covers the layout, else the roofline one
    with the reason in the backend name."""
    from planner.perf import aic  # the optional extra: imported only when asked for

    src = aic.coverage(rep.model, fleet.gpu.name, rep.weights, rep.kv_dtype, rep.tp, target, rep.ep, rep.dp > 1,
                       tp_in_node)
    if isinstance(src, str):
        return rep, f"{BACKEND} (not covered by aiconfigurator-core: {src})"
    return rep._replace(step=aic.AicStep(src)), src.backend


def _to_estimate(p: Point, osl: int, kv_bound: bool, keeps_up: bool) -> Estimate:
    return Estimate(ttft_ms=p.ttft_s * 1e3, tpot_ms=p.tpot_s * 1e3, concurrency=max(1, round(p.concurrency)),
                    output_tokens_per_s=p.tokens_per_s, requests_per_s=p.tokens_per_s / osl,
                    kv_bound=kv_bound, keeps_up=keeps_up)
