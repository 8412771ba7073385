"""In-flight batching: the operating point of one replica and its TTFT, TPOT and throughput.

The running batch holds at most `max_batch_size` sequences per micro-batch (the executor keeps
max_batch_size × pp sequences in flight under PP; TrtGptModelInflightBatching in
cpp/tensorrt_llm/batch_manager/) and no more than the KV pool holds over their whole lifetime
(input + output tokens, the guaranteed-no-evict capacity policy, TensorRT-LLM's default).

In the steady state every sequence decodes `osl` tokens, so a micro-batch of b sequences
admits b new prompts per `osl` iterations. Iterations share the `max_num_tokens` budget: decode
tokens first, prompt tokens in what is left (chunked when a prompt does not fit). The model
spreads the prompts over the iterations as evenly as their size allows: iterations that carry
prompt tokens and iterations that only decode, each timed by the step model. Under PP the
micro-batches rotate through the stages; a round lasts as long as the slowest stage is busy
with all micro-batches, or as one micro-batch's trip through every stage when there are fewer
micro-batches than stages (the pipeline bubble).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

from planner.perf.factors import Factors
from planner.perf.hardware import Hardware
from planner.perf.step import Batch, StageShape, Work, stage_work
from planner.specs import ModelSpec


class Replica(NamedTuple):
    model: ModelSpec
    weights: str
    act: str
    kv_dtype: str
    tp: int
    stages: tuple[StageShape, ...]
    hw: Hardware
    factors: Factors
    ep: int = 1  # expert parallelism inside the TP group
    dp: int = 1  # attention data-parallel ranks (tp under attention DP): each schedules its own requests
    step: Callable[..., Work] | None = None  # times one stage's iteration; None: step.stage_work (the roofline)

    @property
    def pp(self) -> int:
        return len(self.stages)


class Point(NamedTuple):
    """One replica at one concurrency."""

    concurrency: float  # sequences in flight
    ttft_s: float  # from admission to the first token (queueing for admission excluded)
    tpot_s: float  # mean time between a sequence's output tokens
    tokens_per_s: float  # output tokens per second, the whole replica
    prefill_iterations: float  # iterations per cycle that carry prompt tokens


def round_s(rep: Replica, batch: Batch, micro_batches: int) -> float:
    """Seconds for every micro-batch to advance one iteration."""
    f = rep.factors
    # under attention DP each rank's executor handles its own share of the sequences
    host = (f.step_overhead_us + f.per_sequence_step_us * (batch.decode + batch.logits) / rep.dp) * 1e-6
    alike: dict[StageShape, float] = {}  # stages of the same shape take the same time
    step = rep.step or stage_work
    for s in rep.stages:
        if s not in alike:
            alike[s] = step(rep.model, rep.weights, rep.act, rep.kv_dtype, rep.tp, s, batch, rep.hw, f,
                            rep.ep, rep.dp > 1).total_s
    times = [alike[s] for s in rep.stages]
    busy = micro_batches * (max(times) + host)
    trip = sum(times) + host
    return max(busy, trip)


def operating_point(rep: Replica, concurrency: float, isl: int, osl: int, max_num_tokens: int) -> Point:
    """Under attention DP the `dp` ranks each have the max_num_tokens budget (the executor's limits
    are per rank) and a prompt runs on one rank: the budget is dp × max_num_tokens, and a prompt's own
    chunks take the room one rank leaves."""
    max_num_tokens = max_num_tokens * rep.dp
    c = max(concurrency, 1e-9)
    m = max(1, min(rep.pp, math.ceil(c)))
    b = c / m
    context = isl + osl / 2
    # Prompts and decode tokens share the max_num_tokens budget in the ratio isl : osl in the steady
    # state, so at most budget × osl / (isl + osl) sequences can be decoding; the rest wait for prefill.
    decoding = min(b, max_num_tokens * osl / (isl + osl))
    room = max(max_num_tokens - decoding, 1.0)  # prompt tokens an iteration can take beside the decode tokens
    arrivals = decoding / osl  # prompts admitted per iteration in the steady state
    per_iter = min(room, max(min(isl, room), arrivals * isl))
    prefill_iters = decoding * isl / per_iter
    decode_iters = max(0.0, osl - prefill_iters)
    mixed = round_s(rep, Batch(decoding, context, per_iter, isl), m)
    plain = round_s(rep, Batch(decoding, context), m) if decode_iters else 0.0
    cycle = prefill_iters * mixed + decode_iters * plain
    tpot = cycle / osl * (b / decoding)
    # A prompt's own chunks: ceil(isl / room) iterations, each as long as a mixed iteration.
    ttft = max(1.0, isl / (room / rep.dp)) * mixed
    return Point(c, ttft, tpot, m * decoding * osl / cycle, prefill_iters)


def at_rate(rep: Replica, rate: float, max_concurrency: float, isl: int, osl: int,
            max_num_tokens: int) -> tuple[Point, bool]:
    """The operating point at `rate` requests/s (Little's law: in flight = rate × time in system),
    and whether the replica keeps up (False: the queue grows, the point is the saturated one)."""
    top = operating_point(rep, max_concurrency, isl, osl, max_num_tokens)
    if rate * osl >= top.tokens_per_s:
        return top, False
    lo, hi = 0.0, max_concurrency
    for _ in range(40):
        mid = (lo + hi) / 2
        p = operating_point(rep, mid, isl, osl, max_num_tokens)
        if rate * (p.ttft_s + osl * p.tpot_s) > mid:
            lo = mid
        else:
            hi = mid
    p = operating_point(rep, hi, isl, osl, max_num_tokens)
    # An arrival waits on average half an iteration for the next one to start, and spends a fixed
    # time in the serving path (tokenizing, ensemble, response) before its first token.
    wait = p.tpot_s / 2 + rep.factors.request_overhead_ms * 1e-3
    return Point(p.concurrency, p.ttft_s + wait, p.tpot_s, rate * osl, p.prefill_iterations), True
