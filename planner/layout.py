"""Layout search: which (tp, pp) can serve the workload, and the minimal one.

Order of preference (the first candidate that fits wins):
1. fewest GPUs per replica (tp × pp);
2. for the same GPU count, more TP and less PP (TP stays inside one node's NVLink domain,
   so this trades pipeline bubbles for fast all-reduces);
3. most KV-cache headroom (only breaks ties that 1 and 2 leave).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from planner import tensors
from planner.engine_rules import layout_reason
from planner.memory import GIB, StageMemory, layout_memory
from planner.quant import SCHEMES
from planner.specs import Fleet, ModelSpec, RuntimeProfile, Workload


class Candidate(NamedTuple):
    tp: int
    pp: int
    stages: tuple[StageMemory, ...] = ()
    reason: str | None = None  # None: fits
    ep: int = 1  # MoE expert parallelism inside the TP group (PyTorch flow)
    attention_dp: bool = False  # attention data parallelism (PyTorch flow)

    @property
    def gpus(self) -> int:
        return self.tp * self.pp

    @property
    def dp(self) -> int:
        """Attention data-parallel ranks: each holds the KV cache of its own requests."""
        return self.tp if self.attention_dp else 1

    @property
    def fits(self) -> bool:
        return self.reason is None and bool(self.stages)

    @property
    def kv_tokens(self) -> int:
        return min(s.kv_tokens for s in self.stages) if self.stages else 0


def blocks_per_sequence(workload: Workload, runtime: RuntimeProfile) -> int:
    return -(-workload.max_seq_len // runtime.tokens_per_block)


def structural_reason(model: ModelSpec, weights: str, tp: int, pp: int, fleet: Fleet, ep: int = 1,
                      attention_dp: bool = False, flow: str = "engine",
                      trtllm_version: str | None = None) -> str | None:
    """Why (tp, pp) (with `ep` and `attention_dp`) cannot run at all, whatever the memory; None when it can.

    On the engine flow with a `trtllm_version`, also what that TensorRT-LLM release cannot build
    (families without PP, even splits only): planner.engine_rules.
    """
    moe_reason = moe_layout_reason(model, tp, ep, attention_dp, flow)
    if moe_reason:
        return moe_reason
    if tp * pp > fleet.total_gpus:
        return f"needs {tp * pp} GPUs; the fleet has {fleet.total_gpus}"
    if tp > fleet.max_tp:
        return (f"TP {tp} would cross nodes; tensor parallelism stays inside one NVLink domain "
                f"({fleet.max_tp} GPUs per node here)")
    heads, kv = model.num_attention_heads, model.num_kv_heads
    if not attention_dp and heads % tp:  # under attention DP the attention is whole on every rank
        return f"{heads} attention heads are not divisible by TP {tp}"
    if not model.mla and not attention_dp:
        if tp > kv and tp % kv:
            return f"TP {tp} exceeds the {kv} KV heads but is not a multiple of them"
        if tp <= kv and kv % tp:
            return f"{kv} KV heads are not divisible by TP {tp}"
    if pp > model.num_layers:
        return f"PP {pp} exceeds the model's {model.num_layers} layers"
    if flow == "engine" and trtllm_version:
        reason = layout_reason(model, tp, pp, trtllm_version)
        if reason:
            return reason
    return _group_reason(model, weights, tp, ep, attention_dp)


def moe_layout_reason(model: ModelSpec, tp: int, ep: int, attention_dp: bool, flow: str) -> str | None:
    """Why expert parallelism `ep` / attention DP cannot be used; None when they can (or are off).

    Both exist only in the PyTorch flow, for MoE models. tp = moe_tp × moe_ep (mapping.py raises
    otherwise), each EP rank takes num_experts / ep whole experts (Mapping.ep_experts), and each
    expert's width is split over moe_tp = tp / ep ranks. Attention DP needs more than one rank."""
    if ep == 1 and not attention_dp:
        return None
    what = f"expert parallelism {ep}" if ep > 1 else "attention data parallelism"
    if flow != "pytorch":
        return f"{what} exists only in the PyTorch flow (the engine flow splits experts by TP)"
    if model.moe is None:
        return f"{what} applies to MoE models; {model.name} has no experts"
    if ep >= 1 and model.moe.num_experts % ep:  # whatever the TP: say so before the TP rule
        return f"{model.moe.num_experts} experts are not divisible by EP {ep}"
    if ep < 1 or tp % ep:
        return f"EP {ep} does not divide TP {tp} (tp = moe_tp × moe_ep)"
    moe_tp = tp // ep
    if model.moe.expert_intermediate_size % moe_tp:
        return (f"the expert width {model.moe.expert_intermediate_size} is not divisible by the expert TP "
                f"{moe_tp} (TP {tp} / EP {ep})")
    if attention_dp and tp < 2:
        return "attention data parallelism needs TP > 1 (one rank is plain data parallelism: replicas)"
    return None


def _group_reason(model: ModelSpec, weights: str, tp: int, ep: int = 1, attention_dp: bool = False) -> str | None:
    """Group-wise schemes need each rank's slice of a row-parallel input to hold whole groups."""
    scheme = SCHEMES[weights]
    group = scheme.tp_alignment
    if not group:
        return None
    dense_tp = 1 if attention_dp else tp
    row_inputs = {"attention output": (model.num_attention_heads * model.head_dim, dense_tp)}
    if model.mla:
        row_inputs["attention output"] = (model.num_attention_heads * model.mla.v_head_dim, dense_tp)
    if not model.moe or tensors.has_dense_layers(model):
        row_inputs["MLP down projection"] = (model.intermediate_size, dense_tp)
    if model.moe:
        row_inputs["expert down projection"] = (model.moe.expert_intermediate_size, tp // ep)
    for what, (features, split) in row_inputs.items():
        if features % split or (features // split) % group:
            return (f"{weights} needs whole groups of {group} per rank: the {what} has "
                    f"{features} input features, {features / split:g} per rank at TP {split}")
    return None


def memory_reason(stages: list[StageMemory], workload: Workload, runtime: RuntimeProfile) -> str | None:
    for s in stages:
        if s.free_bytes <= 0:
            return (f"static memory of stage {s.pp_stage} (weights {s.weights_bytes / GIB:.2f} GiB + activations "
                    f"{s.activation_bytes / GIB:.2f} GiB + overhead {s.overhead_bytes / GIB:.2f} GiB) exceeds the "
                    f"{s.capacity_bytes / GIB:.2f} GiB GPU by {-s.free_bytes / GIB:.2f} GiB")
        left = s.free_bytes - s.kv_cache_bytes
        if s.cuda_graph_bytes > left:  # PyTorch flow: graphs are captured after the KV pool is allocated
            return (f"CUDA graphs of stage {s.pp_stage} need {s.cuda_graph_bytes / GIB:.2f} GiB but the KV pool "
                    f"leaves {max(left, 0) / GIB:.2f} GiB ({1 - runtime.kv_cache_free_gpu_mem_fraction:.0%} of the "
                    f"free memory); lower the KV fraction or the CUDA graph batch sizes")
    need_blocks = workload.max_batch_size * workload.max_beam_width * blocks_per_sequence(workload, runtime)
    worst = min(stages, key=lambda s: s.kv_blocks)
    if worst.kv_blocks < need_blocks:
        need_tokens = need_blocks * runtime.tokens_per_block
        short = (need_blocks - worst.kv_blocks) * runtime.tokens_per_block * worst.kv_bytes_per_token
        return (f"KV cache holds {worst.kv_tokens:,} tokens per GPU in stage {worst.pp_stage}; the workload needs "
                f"{need_tokens:,} ({workload.max_batch_size} × {workload.max_seq_len} tokens, in blocks of "
                f"{runtime.tokens_per_block}): short by {short / GIB:.2f} GiB of KV pool")
    return None


def evaluate(model: ModelSpec, weights: str, kv_dtype: str, tp: int, pp: int, fleet: Fleet,
             workload: Workload, runtime: RuntimeProfile, ep: int = 1, attention_dp: bool = False) -> Candidate:
    reason = structural_reason(model, weights, tp, pp, fleet, ep, attention_dp, runtime.flow, runtime.trtllm_version)
    if reason:
        return Candidate(tp, pp, reason=reason, ep=ep, attention_dp=attention_dp)
    stages = layout_memory(model, weights, kv_dtype, tp, pp, workload, fleet.gpu, runtime, stop_at_overflow=True,
                           ep=ep, attention_dp=attention_dp)
    return Candidate(tp, pp, tuple(stages), memory_reason(stages, workload, runtime), ep, attention_dp)


def moe_variants(model: ModelSpec, tp: int, runtime: RuntimeProfile) -> list[tuple[int, bool]]:
    """(ep, attention_dp) pairs the search weighs at TP `tp`: for an MoE model in the PyTorch flow,
    every EP dividing tp, each with and without attention DP (when tp > 1); else only (1, False).
    Structural rules (experts divisible by EP, ...) are checked when a layout is evaluated."""
    if model.moe is None or runtime.flow != "pytorch":
        return [(1, False)]
    eps = [e for e in range(1, tp + 1) if tp % e == 0]
    return [(e, dp) for dp in ((False, True) if tp > 1 else (False,)) for e in eps]


def candidates(model: ModelSpec, fleet: Fleet) -> list[tuple[int, int]]:
    """Every (tp, pp) the fleet could host, in order of preference (before memory)."""
    max_tp = min(fleet.total_gpus, fleet.max_tp)
    pairs = [
        (tp, pp)
        for tp in range(1, max_tp + 1)
        for pp in range(1, min(fleet.total_gpus // tp, model.num_layers) + 1)
    ]
    return sorted(pairs, key=lambda p: (p[0] * p[1], -p[0]))


def search(model: ModelSpec, weights: str, kv_dtype: str, fleet: Fleet, workload: Workload,
           runtime: RuntimeProfile, known_misfits: Callable[[int, int], bool] | None = None,
           ) -> tuple[Candidate | None, list[Candidate]]:
    """(the chosen candidate or None, the candidates rejected before it, in order).

    Every candidate with as many GPUs as the chosen one is evaluated, so the KV-headroom
    tie-break sees them all; when nothing fits, every candidate is returned as rejected.
    `known_misfits(tp, pp)` names layouts already found not to fit (on a smaller fleet of the
    same GPU): they are skipped, and missing from the rejected list.
    """
    rejected: list[Candidate] = []
    fitting: list[Candidate] = []
    for tp, pp in candidates(model, fleet):
        if fitting and tp * pp > fitting[0].gpus:
            break
        if known_misfits is not None and known_misfits(tp, pp):
            continue
        cand = evaluate(model, weights, kv_dtype, tp, pp, fleet, workload, runtime)
        (fitting if cand.fits else rejected).append(cand)
    if not fitting:
        return None, rejected
    # Among equal GPU counts TP-heavier comes first; headroom only breaks exact ties.
    best = min(fitting, key=lambda c: (c.gpus, -c.tp, -c.kv_tokens))
    return best, [c for c in rejected if (c.gpus, -c.tp) < (best.gpus, -best.tp)]


def replicas(fleet: Fleet, gpus_per_replica: int) -> tuple[int, int]:
    """(replicas, nodes per replica). A replica that fits a node stays inside one node;
    a larger one takes whole nodes."""
    if gpus_per_replica <= fleet.gpus_per_node:
        return fleet.nodes * (fleet.gpus_per_node // gpus_per_replica), 1
    nodes_per_replica = -(-gpus_per_replica // fleet.gpus_per_node)
    return fleet.nodes // nodes_per_replica, nodes_per_replica


# --- Choice by objective -------------------------------------------------------------------------

OBJECTIVES = ("min-gpus", "throughput", "latency")


def fleet_share(fleet: Fleet, gpus_per_replica: int) -> tuple[int, int]:
    """(replicas, idle GPUs) when the fleet runs as many replicas of this size as it can."""
    reps, _ = replicas(fleet, gpus_per_replica)
    return reps, fleet.total_gpus - reps * gpus_per_replica


def preferred(options: list) -> list:
    """The layouts every objective chooses among, from those that fit (objects with `.cand`, `.idle`).

    1. When some layout tiles the fleet (no GPU idle), only those.
    2. TP before PP inside a node: of the layouts with the same GPUs per replica, only the one with the
       most TP (all-reduces over NVLink cost less than pipeline bubbles and a pipeline's repeated weight
       reads per micro-batch). TP stops at the node (unless the fleet's NVLink domain spans nodes), so a
       replica over several nodes takes TP up to the node and PP across the nodes, none inside them.
    """
    left_out = passed_over(options)
    return [o for o in options if id(o) not in left_out]


def passed_over(options: list) -> dict[int, str]:
    """id(option) -> why `preferred` leaves out an option that fits, for each it leaves out (the rules are
    `preferred`'s): a plan shows them with their figures, and one faster than the chosen layout needs the
    reason beside it."""
    tiling = any(o.idle == 0 for o in options)
    pool = [o for o in options if o.idle == 0 or not tiling]
    most_tp: dict[int, int] = {}
    for o in pool:
        most_tp[o.cand.gpus] = max(most_tp.get(o.cand.gpus, 0), o.cand.tp)
    out = {}
    for o in options:
        gpus = o.cand.gpus
        if tiling and o.idle:
            out[id(o)] = f"leaves {o.idle} GPU(s) idle; layouts that tile the fleet fit"
        elif o.cand.tp < most_tp[gpus]:
            tp = most_tp[gpus]
            out[id(o)] = f"TP {tp} × PP {gpus // tp} preferred: TP before PP inside a node"
    return out


def rank_key(objective: str):
    """Sort key (smaller is better) of an option (with `.cand`, `.replicas`, `.perf`) for the objective.
    Options without performance figures rank after those with them, then by GPU count."""
    def base(o) -> tuple:
        # last: the release's defaults (no attention DP, EP 1) when nothing else tells layouts apart
        return (o.cand.gpus, -o.cand.tp, -o.cand.kv_tokens, o.cand.attention_dp, o.cand.ep)

    def key(o) -> tuple:
        if objective == "min-gpus":
            return base(o)
        if o.perf is None:
            return (1, *base(o))
        if objective == "throughput":
            return (0, -round(o.perf.output_tokens_per_s * o.replicas, 6), *base(o))
        return (0, round(o.perf.tpot_ms, 9), round(o.perf.ttft_ms, 9), *base(o))
    return key
