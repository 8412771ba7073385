"""What `trtllm-bench throughput` measures: a dataset of fixed-length requests, all queued at once.

trtllm-bench's offline run submits every request of its dataset at the start and reports output
tokens over the time from the first submission to the last response (StatsKeeper's
total_latency_ns = latest end - earliest start, tensorrt_llm/bench/dataclasses/reporting.py at
NVIDIA/TensorRT-LLM commit 02499765). NVIDIA's published maximum-throughput rows use
datasets of 1,000 to 30,000 requests of one input and one output length (prepare_dataset.py
token-norm-dist with --input-stdev 0 --output-stdev 0; the "$num_requests" table of
docs/source/performance/perf-overview.md). Such a run is not the steady state `operating_point`
describes:
- it starts with every slot empty: the first prompts run before any sequence decodes;
- sequences of one output length admitted together finish together, so the run moves in waves,
  and when the requests do not fill the last wave the few left decode in a small batch whose
  iterations cost nearly as much as full ones (each still reads every weight);
- with fewer requests than the running batch holds, the batch never fills.

`offline_run` replays the scheduler iteration by iteration: admission up to the concurrency limit
(max_batch_size, the KV pool), decode tokens first in each iteration's max_num_tokens budget and
prompt tokens in first-come order in what is left (the last prompt chunked), each iteration timed
by the replica's step model. Iterations that only decode are taken in spans up to the next
sequence that finishes. Under attention DP the requests are dealt to the ranks in turn and each
rank schedules its own with its own budget; the run lasts as long as the rank with the most.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

from planner.perf.scheduler import Replica, round_s
from planner.perf.step import Batch

# An iteration whose token counts and mean context are within this fraction of the last one timed
# reuses that time: the step model is smooth in each, and the run's figure moves by well under 1 %.
_REUSE = 0.01


@dataclass(frozen=True)
class Run:
    requests: int
    total_s: float  # first submission to last response
    output_tokens_per_s: float  # the whole replica
    ttft_s: float  # mean over the requests, from the start of the run (queueing included)
    tpot_s: float  # mean over the requests of (last token - first token) / (output tokens - 1)


class _Timer:
    """round_s of one iteration, reusing the last figure for a nearly identical one."""

    def __init__(self, rep: Replica, isl: int):
        self.rep, self.isl = rep, isl
        self.last: tuple[float, float, float, float] | None = None

    def __call__(self, decode: float, context: float, prefill: float, micro: int) -> float:
        if self.last is not None:
            d, c, p, s = self.last
            if _near(decode, d) and _near(context, c) and _near(prefill, p):
                return s
        dp = self.rep.dp
        s = round_s(self.rep, Batch(decode * dp / micro, context, prefill * dp / micro, self.isl), micro)
        self.last = (decode, context, prefill, s)
        return s


def _near(a: float, b: float) -> bool:
    return abs(a - b) <= _REUSE * max(abs(b), 1e-9)


def offline_run(rep: Replica, requests: int, concurrency: int, isl: int, osl: int, max_num_tokens: int) -> Run:
    """The run of `requests` requests of `isl` prompt and `osl` output tokens on one replica whose
    running batch holds at most `concurrency` sequences (all ranks and micro-batches together)."""
    dp = rep.dp
    n = -(-requests // dp)  # the busiest rank's share
    limit = max(1, concurrency // dp)
    micro_max = max(1, rep.pp)
    timer = _Timer(rep, isl)
    queue, pending, head = n, 0, 0  # not admitted; admitted, prompt unfinished; tokens done of the first
    # sequences decoding, grouped by the iteration of their first token: (last iteration, first iteration,
    # sequences, time of the first token)
    finishing: list[tuple[int, int, int, float]] = []
    decoding = started = 0  # sequences decoding, and the sum of their first iterations (for the mean context)
    it, t, ttft_sum, tpot_sum = 0, 0.0, 0.0, 0.0
    while queue or pending or finishing:
        admit = min(queue, limit - decoding - pending)
        if admit > 0:
            queue -= admit
            pending += admit
        micro = max(1, min(micro_max, decoding + pending))
        room = micro * max(max_num_tokens - math.ceil(decoding / micro), 0)
        context = isl + it - started / decoding if decoding else 0.0
        if pending and room:
            take = min(room, pending * isl - head)
            t += timer(decoding, context, take, micro)
            done, head = divmod(head + take, isl)
            pending -= done
        else:  # only decode tokens until the next sequences finish
            done, span = 0, finishing[0][0] - it + 1
            t += span * timer(decoding, context + (span - 1) / 2, 0, micro)
            it += span - 1
        while finishing and finishing[0][0] <= it:
            _, first_it, count, first_t = heapq.heappop(finishing)
            decoding -= count
            started -= count * first_it
            tpot_sum += count * (t - first_t) / (osl - 1)
        if done:
            ttft_sum += done * t
            if osl > 1:
                heapq.heappush(finishing, (it + osl - 1, it, done, t))
                decoding += done
                started += done * it
        it += 1
    return Run(requests, t, requests * osl / t if t else 0.0, ttft_sum / n, tpot_sum / n if osl > 1 else 0.0)
