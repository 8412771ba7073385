"""What the report says, as plain values: read from the Plan, never recomputed.

Everything here is a pure function of the Plan (plus the catalogs and release profiles, for
the sources). Charts and HTML come after, in charts.py and the template.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from planner.plan import Plan
from planner.render import is_chosen, layout_of
from planner.report.charts import OKABE_ITO, Bar, Point, Segment

GIB = 1 << 30

# The memory terms of a pipeline stage the report knows by name: field -> (label, colour, hatch,
# drawing order). Any other `*_bytes` term of StageMemory that helps add up to the total is drawn
# as well, labelled from its field name. Colours are Okabe & Ito's (charts.OKABE_ITO) plus a
# neutral grey; hatches tell the terms apart in grey-scale print. `overhead_bytes` is the sum of
# the context, reserved, runtime, decoder and communication terms: it is drawn only when those
# are not (see memory_terms), so it may share the context's colour.
KNOWN_TERMS: dict[str, tuple[str, str, str, int]] = {
    "weights_bytes": ("weights", "#0072B2", "", 0),
    "activation_bytes": ("activations", "#E69F00", "\\\\", 1),
    "runtime_buffers_bytes": ("runtime buffers", "#56B4E9", "--", 2),
    "decoder_bytes": ("decoder buffers", "#D55E00", "||", 2),
    "comm_bytes": ("communication", "#F0E442", "++", 2),
    "context_bytes": ("CUDA context", "#CC79A7", "xx", 3),
    "reserved_bytes": ("driver reserve", "#999999", "/", 3),
    "overhead_bytes": ("overhead", "#CC79A7", "xx", 3),
    "kv_cache_bytes": ("KV pool", "#009E73", "//", 5),
    "cuda_graph_bytes": ("CUDA graphs", "#000000", "", 6),
}
UNKNOWN_HATCHES = ("x", "\\", "|", "-", "+")
# What each known term holds, for the reader (planner/memory/ has the rules and their sources).
TERM_NOTES = {
    "weights_bytes": "the weights on one rank",
    "activation_bytes": "activation memory for max_num_tokens tokens per step (the engine's execution context, or "
                        "torch's peak during the profiling pass)",
    "runtime_buffers_bytes": "the runtime's buffers, growing with the batch",
    "decoder_bytes": "the decoder's buffers, growing with the batch, beam width and vocabulary",
    "comm_bytes": "NCCL communicators, the all-reduce workspace and pipeline send/receive buffers",
    "context_bytes": "the CUDA context, kernel modules and library workspaces",
    "reserved_bytes": "what the driver keeps beyond what CUDA reports as total",
    "overhead_bytes": "the driver's reserve, the CUDA context and the runtime's own buffers",
    "kv_cache_bytes": "paged KV cache blocks, a fraction of the memory the other terms leave free",
    "cuda_graph_bytes": "CUDA graphs captured after the KV pool is sized",
    "unattributed_bytes": "the part of the total no named term accounts for",
}
# `*_bytes` fields that describe the GPU, sum other terms or measure something transient.
NOT_TERMS = {"total_bytes", "capacity_bytes", "free_bytes", "cuda_total_bytes", "profiling_kv_bytes",
             "profiling_peak_bytes"}
BASE_TERMS = ("weights_bytes", "activation_bytes", "overhead_bytes", "kv_cache_bytes")

RULE_OF_THUMB_FACTOR = 1.2
RULE_OF_THUMB_SOURCE = ("https://www.substratus.ai/blog/calculating-gpu-memory-for-llm/ (S. Stoelinga, "
                        "\"Calculating GPU memory for serving LLMs\", 2023: M = P × 4 B / (32 / Q) × 1.2)")

# Where a plan may carry the latency limits the layouts were held to (--ttft-ms / --tpot-ms):
# read from the request first, then the workload, then the plan itself.
LIMIT_FIELDS = {"ttft": ("ttft_ms", "max_ttft_ms", "ttft_limit_ms"),
                "tpot": ("tpot_ms", "max_tpot_ms", "tpot_limit_ms")}


def gib(nbytes: float) -> str:
    """GiB with one decimal; two below 1 GiB, where the small runtime terms would all read 0.0."""
    value = nbytes / GIB
    return f"{value:.2f}" if 0 < abs(value) < 1 else f"{value:.1f}"


@dataclass(frozen=True)
class Term:
    field: str
    label: str
    nbytes: int
    color: str
    hatch: str


def term_notes(rows: list[StageRow]) -> list[tuple[str, str]]:
    """(label, what it holds) for the terms drawn, in drawing order."""
    seen: dict[str, str] = {}
    for row in rows:
        for t in row.terms:
            if t.field in TERM_NOTES and t.label not in seen:
                seen[t.label] = TERM_NOTES[t.field]
    return list(seen.items())


@dataclass(frozen=True)
class StageRow:
    label: str
    terms: tuple[Term, ...]
    total_bytes: int
    capacity_bytes: int


def _stage_fields(stage: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(stage):
        return {f.name: getattr(stage, f.name) for f in dataclasses.fields(stage)}
    if hasattr(stage, "model_dump"):
        return stage.model_dump()
    return dict(stage)


def term_label(field: str) -> str:
    known = KNOWN_TERMS.get(field)
    return known[0] if known else field.removesuffix("_bytes").replace("_", " ")


def memory_terms(stage: Any) -> list[tuple[str, int]]:
    """The byte terms of one stage that add up to its total, finest split first.

    A breakdown may gain terms (runtime, decoder, communication buffers) and may keep a
    coarser term that sums some of them; the widest set of `*_bytes` fields that adds up to
    `total_bytes` exactly is the one drawn. Should none add up, the four base terms are
    drawn and the rest is shown as "unattributed".
    """
    fields = _stage_fields(stage)
    total = fields["total_bytes"]
    names = [k for k, v in fields.items()
             if k.endswith("_bytes") and k not in NOT_TERMS and isinstance(v, int) and v > 0]
    for size in range(len(names), 0, -1):
        for subset in combinations(names, size):
            if sum(fields[n] for n in subset) == total:
                return [(n, fields[n]) for n in _ordered(subset)]
    base = [(n, fields[n]) for n in _ordered([n for n in BASE_TERMS if fields.get(n)])]
    rest = total - sum(v for _, v in base)
    return base[:-1] + [("unattributed_bytes", rest)] + base[-1:] if rest > 0 else base


_KNOWN_ORDER = list(KNOWN_TERMS)


def _ordered(names: Any) -> list[str]:
    """Drawing order: by group (weights, activations, buffers, fixed costs, KV, graphs), known terms in
    KNOWN_TERMS's order, others after the buffers in the order given."""
    names = list(names)
    return sorted(names, key=lambda n: (KNOWN_TERMS[n][3], _KNOWN_ORDER.index(n)) if n in KNOWN_TERMS
                  else (2, len(_KNOWN_ORDER) + names.index(n)))


def _styles(fields: list[str]) -> dict[str, tuple[str, str]]:
    """A colour and hatch per term: fixed for the known ones; the others take the colours not in use."""
    used = {KNOWN_TERMS[f][1] for f in fields if f in KNOWN_TERMS}
    free = [c for c in OKABE_ITO if c not in used] or list(OKABE_ITO)
    styles: dict[str, tuple[str, str]] = {}
    extra = 0
    for f in fields:
        if f in KNOWN_TERMS:
            styles[f] = KNOWN_TERMS[f][1:3]
        else:
            styles[f] = (free[extra % len(free)], UNKNOWN_HATCHES[extra % len(UNKNOWN_HATCHES)])
            extra += 1
    return styles


def stage_rows(plan: Plan) -> list[StageRow]:
    stages = plan.memory.per_gpu
    per_stage = [memory_terms(s) for s in stages]
    order: list[str] = []
    for terms in per_stage:
        order += [f for f, _ in terms if f not in order]
    styles = _styles(_ordered(order))
    rows = []
    for stage, terms in zip(stages, per_stage, strict=True):
        fields = _stage_fields(stage)
        first, layers = fields.get("first_layer"), fields["layers"]
        span = f"layers {first}–{first + layers - 1}" if first is not None and layers else f"{layers} layers"
        rows.append(StageRow(
            label=f"stage {fields['pp_stage']} ({span})",
            terms=tuple(Term(f, term_label(f), v, *styles[f]) for f, v in terms),
            total_bytes=fields["total_bytes"], capacity_bytes=fields["capacity_bytes"],
        ))
    return rows


def term_labels(rows: list[StageRow]) -> list[str]:
    """The labels of every term drawn in any stage, in drawing order (a term may be zero in some stages)."""
    fields: dict[str, str] = {}
    for row in rows:
        fields.update({t.field: t.label for t in row.terms})
    return [fields[f] for f in _ordered(fields)]


def memory_bars(rows: list[StageRow]) -> list[Bar]:
    return [Bar(r.label, tuple(Segment(t.label, t.nbytes, t.color, t.hatch) for t in r.terms), r.capacity_bytes)
            for r in rows]


def memory_description(plan: Plan, rows: list[StageRow]) -> str:
    tp = plan.layout.tp if plan.layout else 1
    parts = [f"Memory of one GPU in each of {len(rows)} pipeline stage(s) ({tp} GPU(s) per stage, alike under "
             "tensor parallelism), stacked by component against the GPU's capacity."]
    for r in rows:
        terms = ", ".join(f"{t.label} {gib(t.nbytes)} GiB" for t in r.terms)
        parts.append(f"{r.label[0].upper()}{r.label[1:]}: {terms}; {gib(r.total_bytes)} of "
                     f"{gib(r.capacity_bytes)} GiB used ({100 * r.total_bytes / r.capacity_bytes:.0f}%).")
    return " ".join(parts)


def _fleet_words(plan: Plan) -> str:
    f = plan.fleet
    gpus = f"{f.gpus_per_node} {f.gpu}" if f.gpus_per_node > 1 else f"one {f.gpu}"
    nodes = f"{f.nodes} nodes of {gpus}" if f.nodes > 1 else gpus
    return f"{nodes} ({gib(f.gpu_memory_bytes)} GiB each)"


def summary(plan: Plan) -> str:
    """The request and the answer in one sentence."""
    m, q, w, lay = plan.model, plan.quantization, plan.workload, plan.layout
    request = (f"{m.name} ({(m.params_published or m.params) / 1e9:.1f}B parameters) with {q.weights} weights and "
               f"a {q.kv_cache} KV cache, for batches of {w.max_batch_size} sequences of up to {w.max_input_len} "
               f"input and {w.max_output_len} output tokens, on {_fleet_words(plan)}")
    target = f"TensorRT-LLM {plan.target.trtllm_version}, {plan.target.flow} flow"
    if plan.fits and lay:
        idle = f", leaving {lay.idle_gpus} GPU(s) idle" if lay.idle_gpus else ""
        return (f"{request}: {layout_of(lay)}, "
                f"{lay.gpus_per_replica} GPU(s) per replica, {lay.replicas} replica(s){idle} ({target}).")
    closest = f"; the closest layout tried is {layout_of(lay)}" if lay else ""
    return f"{request}: does not fit{closest} ({target})."


# --- the rule of thumb -------------------------------------------------------------------

@dataclass(frozen=True)
class RuleOfThumb:
    params: int
    bytes_per_param: float
    rule_bytes: float
    gpus: int
    rows: tuple[tuple[str, int], ...]  # (what, bytes for one replica)
    margin_tokens: int | None  # tokens of KV cache the rule's 20 % margin holds
    required_tokens: int | None


def rule_of_thumb(plan: Plan) -> RuleOfThumb | None:
    from planner.quant import SCHEMES

    scheme = SCHEMES.get(plan.quantization.weights)
    if scheme is None or not plan.memory.per_gpu or plan.layout is None:
        return None
    params = plan.model.params_published or plan.model.params
    per_param = scheme.weight_bits / 8
    tp = plan.layout.tp
    stages = plan.memory.per_gpu
    weights = tp * sum(s.weights_bytes for s in stages)
    static = tp * sum(s.total_bytes - s.kv_cache_bytes for s in stages)
    rows = [("weights", weights), ("weights, activations and overhead (before the KV pool)", static)]
    margin_tokens = required = None
    kv_per_token = tp * sum(s.kv_bytes_per_token for s in stages)
    if plan.kv_cache and kv_per_token:
        required = plan.kv_cache.required_tokens
        rows.append((f"the above and the KV cache of the workload ({required:,} tokens = batch × max_seq_len)",
                     static + kv_per_token * required))
        margin_tokens = int(params * per_param * (RULE_OF_THUMB_FACTOR - 1) // kv_per_token)
    rows.append(("reserved in all, KV pool included", tp * sum(s.total_bytes for s in stages)))
    rows.append(("capacity of the replica's GPUs", tp * sum(s.capacity_bytes for s in stages)))
    return RuleOfThumb(params=params, bytes_per_param=per_param,
                       rule_bytes=params * per_param * RULE_OF_THUMB_FACTOR, gpus=tp * plan.layout.pp,
                       rows=tuple(rows), margin_tokens=margin_tokens, required_tokens=required)


# --- candidates and performance ----------------------------------------------------------

@dataclass(frozen=True)
class CandidateRow:
    layout: str
    gpus: int
    replicas: str
    idle_gpus: str
    fits: bool
    status: str
    memory: str
    ttft_ms: str
    tpot_ms: str
    tokens_per_s_per_user: str
    tokens_per_s_per_gpu: str
    chosen: bool


def _memory_summary(memory: dict[str, Any]) -> str:
    parts = [f"{term_label(k)} {gib(v)}" for k, v in memory.items() if k.endswith("_bytes") and isinstance(v, int)]
    return ", ".join(parts) if parts else "—"


def _perf_cells(perf: Any) -> dict[str, str]:
    if perf is None:
        return {"ttft_ms": "—", "tpot_ms": "—", "tokens_per_s_per_user": "—", "tokens_per_s_per_gpu": "—"}
    per_user = f"{1000 / perf.tpot_ms:.1f}" if perf.tpot_ms > 0 else "—"
    return {"ttft_ms": f"{perf.ttft_ms:.0f}", "tpot_ms": f"{perf.tpot_ms:.1f}", "tokens_per_s_per_user": per_user,
            "tokens_per_s_per_gpu": f"{perf.output_tokens_per_s_per_gpu:,.0f}"}


def candidate_rows(plan: Plan) -> list[CandidateRow]:
    """Every layout the plan weighed: the chosen one, the others that fit, those rejected and why."""
    rows: list[CandidateRow] = []
    for c in plan.candidates:
        rows.append(CandidateRow(
            layout=layout_of(c), gpus=c.tp * c.pp, replicas=str(c.replicas),
            idle_gpus=str(c.idle_gpus), fits=c.fits, memory=_memory_summary(c.memory),
            status=(f"fits; {c.passed_over}" if c.passed_over else "fits") if c.fits
            else (c.reason or "misses a latency limit"),
            chosen=is_chosen(plan, c), **_perf_cells(c.performance),
        ))
    lay = plan.layout
    if plan.fits and lay and not any(r.chosen for r in rows):
        fullest = max(plan.memory.per_gpu, key=lambda s: s.total_bytes) if plan.memory.per_gpu else None
        memory = ({"weights_bytes": fullest.weights_bytes, "kv_cache_bytes": fullest.kv_cache_bytes,
                   "total_bytes": fullest.total_bytes} if fullest else {})
        rows.append(CandidateRow(
            layout=layout_of(lay), gpus=lay.gpus_per_replica,
            replicas=str(lay.replicas), idle_gpus=str(lay.idle_gpus), fits=True, status="fits",
            memory=_memory_summary(memory), chosen=True, **_perf_cells(plan.performance),
        ))
    rows.sort(key=lambda r: not r.chosen)
    for r in plan.rejected:
        rows.append(CandidateRow(
            layout=layout_of(r), gpus=r.tp * r.pp, replicas="—", idle_gpus="—", fits=False,
            status=r.reason, memory="—", chosen=False, **_perf_cells(None),
        ))
    return rows


def latency_limits(plan: Plan) -> tuple[float | None, float | None]:
    """(TTFT limit, TPOT limit) in ms, where the plan records them."""
    found: dict[str, float | None] = {}
    for kind, names in LIMIT_FIELDS.items():
        found[kind] = None
        for holder in (plan.request, plan.workload, plan):
            value = next((getattr(holder, n) for n in names if getattr(holder, n, None)), None)
            if value:
                found[kind] = float(value)
                break
    return found["ttft"], found["tpot"]


def throughput_points(plan: Plan, ttft_limit_ms: float | None) -> list[Point]:
    points = []
    for c in plan.candidates:
        if c.performance and c.performance.tpot_ms > 0:
            points.append(_point(layout_of(c), c.performance, is_chosen(plan, c),
                                 ttft_limit_ms))
    lay = plan.layout
    if plan.performance and lay and plan.performance.tpot_ms > 0 and not any(p.chosen for p in points):
        points.append(_point(layout_of(lay), plan.performance, plan.fits,
                             ttft_limit_ms))
    return points


def _point(label: str, perf: Any, chosen: bool, ttft_limit_ms: float | None) -> Point:
    return Point(label, 1000 / perf.tpot_ms, perf.output_tokens_per_s_per_gpu, chosen,
                 meets_ttft=ttft_limit_ms is None or perf.ttft_ms <= ttft_limit_ms)


def throughput_description(points: list[Point], ttft_limit_ms: float | None, tpot_limit_ms: float | None) -> str:
    parts = [f"Output tokens per second per GPU against tokens per second per user for {len(points)} layout(s)."]
    for p in sorted(points, key=lambda p: not p.chosen):
        miss = "" if p.meets_ttft else ", misses the TTFT limit"
        parts.append(f"{p.label}{' (chosen)' if p.chosen else ''}: {p.tokens_per_s_per_user:.1f} tokens/s per user, "
                     f"{p.tokens_per_s_per_gpu:,.0f} tokens/s per GPU{miss}.")
    if tpot_limit_ms:
        parts.append(f"TPOT limit {tpot_limit_ms:g} ms, so at least {1000 / tpot_limit_ms:.1f} tokens/s per user.")
    if ttft_limit_ms:
        parts.append(f"TTFT limit {ttft_limit_ms:g} ms.")
    return " ".join(parts)


# --- commands and sources ----------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    number: str
    title: str
    commands: tuple[str, ...]


_STEP = re.compile(r"^## (\d+)\. (.+)$")
_FENCE = re.compile(r"^```[A-Za-z]*\n(.*?)^```$", re.S | re.M)


def steps(plan: Plan) -> list[Step]:
    """The numbered steps of the generated README.md, with their command blocks, in order.

    The flow's README emitter already knows what to run for this plan's flow and release; the
    report shows the same steps rather than deriving them a second time.
    """
    from planner.emit.flows import flow_emitter
    from planner.errors import PlannerError

    if not plan.fits:
        return []
    try:
        readme = flow_emitter(plan).readme(plan)["README.md"]
    except PlannerError:
        return []
    out: list[Step] = []
    sections = re.split(r"^(?=## )", readme, flags=re.M)
    for section in sections:
        head, _, body = section.partition("\n")
        match = _STEP.match(head.strip())
        if match:
            blocks = tuple(b.rstrip("\n") for b in _FENCE.findall(body))
            out.append(Step(match.group(1), match.group(2).strip(), blocks))
    return out


def sources(plan: Plan) -> list[tuple[str, str]]:
    """(what, where from) for the figures on the page."""
    from planner import catalog
    from planner.errors import PlannerError

    out = [("Model architecture", plan.model.source)]
    try:
        spec = catalog.get_model(plan.model.name)
        if spec.params_source:
            out.append(("Parameter count", spec.params_source))
    except PlannerError:
        pass
    try:
        gpu = catalog.get_gpu(plan.fleet.gpu)
        out.append(("GPU", gpu.source))
        if gpu.memory_source:
            out.append(("GPU memory (capacity)", gpu.memory_source))
    except PlannerError:
        pass
    out.append(("Memory per GPU", f"the planner's memory model for the {plan.target.flow} flow (README, \"The memory "
                "model\"; each term's rule and the runtime source or log it follows are in planner/memory/), with "
                f"the KV pool as {plan.runtime.kv_cache_free_gpu_mem_fraction:g} of the memory left "
                "(kv_cache_free_gpu_mem_fraction)"))
    if plan.performance or any(c.performance for c in plan.candidates):
        backends = sorted({p.backend for p in [plan.performance, *(c.performance for c in plan.candidates)] if p})
        out.append(("Throughput and latency", "the performance model, backend " + ", ".join(backends)))
    try:
        from planner.target import load_profile

        profile = load_profile(plan.target.trtllm_version)
        for key, value in profile.sources.items():
            out.append((f"TensorRT-LLM {profile.version}: {key.replace('_', ' ')}", value))
    except PlannerError:
        pass
    out.append(("Rule of thumb", RULE_OF_THUMB_SOURCE))
    out.append(("Colours", "Okabe & Ito, \"Color Universal Design\" (2008), https://jfly.uni-koeln.de/color/"))
    return out
