"""Human-readable output: the plan as text tables (planner.textout), the catalogs as rich listings."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from planner.plan import Plan
from planner.textout import Writer

if TYPE_CHECKING:
    from rich.table import Table

GIB = 1 << 30


def gib(nbytes: int) -> str:
    return f"{nbytes / GIB:.2f}"


def plan_tables(plan: Plan, out: Writer, max_rejected: int = 20) -> None:
    m, f, q, w = plan.model, plan.fleet, plan.quantization, plan.workload
    out.line(
        f"{out.styled(m.name, 'bold')} ({m.params / 1e9:.2f}B params, {m.architecture}) on "
        f"{f.nodes}×{f.gpus_per_node}× {f.gpu} ({gib(f.gpu_memory_bytes)} GiB each) · weights {q.weights}, "
        f"KV cache {q.kv_cache} · TensorRT-LLM {plan.target.trtllm_version}"
    )
    out.line(
        f"workload: batch {w.max_batch_size} × (input {w.max_input_len} + output {w.max_output_len} = "
        f"{w.max_seq_len} tokens), max_num_tokens {w.max_num_tokens}"
    )
    flow = "PyTorch LLM API (llmapi repository)" if plan.target.flow == "pytorch" else "engine (trtllm-build)"
    why = f": {plan.target.flow_reason}" if plan.target.flow_reason else ""
    out.line(f"flow: {flow}{why}")
    lay = plan.layout
    if plan.fits and lay:
        out.line(
            f"{out.styled('fits', 'bold', 'green')}: {layout_of(lay)} = "
            f"{lay.gpus_per_replica} GPU(s) per replica, "
            f"{lay.replicas} replica(s) on the fleet; layers per stage {lay.layers_per_stage}"
        )
        if lay.idle_gpus:
            out.line(f"{out.styled(f'{lay.idle_gpus} GPU(s) of the fleet idle', 'yellow')} with this layout")
    else:
        out.line(f"{out.styled('does not fit', 'bold', 'red')} on this fleet")
        if lay:
            out.line(f"closest layout tried: {layout_of(lay)}")
    if plan.memory.per_gpu:
        _memory_table(plan, out)
        _weights_line(plan, out)
    if plan.kv_cache and plan.layout:
        kv = plan.kv_cache
        if plan.fits and kv.max_tokens < kv.required_tokens:
            # only with --objective throughput's tuned limits: the runtime admits what the pool holds
            need = (f"the pool runs {kv.max_concurrent_sequences} sequences at once; max_batch_size "
                    f"{w.max_batch_size} is trtllm-bench's upper bound ({kv.required_tokens:,} tokens), not a "
                    "requirement")
        else:
            need = f"the workload needs {kv.required_tokens:,}"
        out.line(
            f"KV cache: {kv.bytes_per_token_per_gpu:,} B/token/GPU, {kv.max_tokens:,} tokens "
            f"({kv.max_concurrent_sequences} concurrent sequences of {w.max_seq_len}); {need}"
        )
    _performance(plan, out)
    if plan.rejected:
        _rejected_table(plan.rejected, max_rejected, out)
    for line in plan.advice:
        out.line(f"{out.styled('would fit:', 'yellow')} {line}")


def _weights_line(plan: Plan, out: Writer) -> None:
    """Weights of one replica beside the checkpoint's size, and where a pre-quantized scheme came from."""
    q, lay = plan.quantization, plan.layout
    if q.checkpoint:
        kept = f"; kept in {q.activation_dtype}: {', '.join(q.unquantized)}" if q.unquantized else ""
        out.line(f"quantization {q.weights} from the checkpoint ({q.checkpoint}){kept}")
    if plan.model.checkpoint_size_gib and lay:
        replica = sum(s.weights_bytes for s in plan.memory.per_gpu) * lay.tp
        out.line(f"weights of one replica: {gib(replica)} GiB (TP {lay.tp} × PP {lay.pp}); checkpoint "
                 f"files: {plan.model.checkpoint_size_gib:.2f} GiB")


def _performance(plan: Plan, out: Writer, top: int = 5) -> None:
    p = plan.performance
    if p is None:
        if plan.performance_note:
            out.line(f"performance: none ({plan.performance_note})")
    else:
        out.line(
            f"performance ({plan.objective}, {p.backend}): TTFT {p.ttft_ms:.0f} ms, TPOT {p.tpot_ms:.1f} ms at "
            f"{p.concurrency} sequences{' (KV-bound)' if p.kv_bound else ''}; {p.output_tokens_per_s:,.0f} output "
            f"tokens/s per replica ({p.output_tokens_per_s_per_gpu:,.0f} per GPU), {p.fleet_output_tokens_per_s:,.0f} "
            f"for the fleet, {p.requests_per_s:.2f} requests/s per replica"
            + (f"; ${p.cost_per_million_tokens:.3f} per million output tokens"
               if p.cost_per_million_tokens is not None else "")
            + (f" ({plan.performance_note})" if not plan.fits and plan.performance_note else "")
        )
    if plan.benchmark:
        b = plan.benchmark
        out.line(f"trtllm-bench, {b.requests:,} requests of {b.input_len}/{b.output_len} tokens: "
                 f"{b.output_tokens_per_s:,.0f} output tokens/s per replica ({b.output_tokens_per_s_per_gpu:,.0f} "
                 f"per GPU) over {b.total_s:,.1f} s; mean TTFT {b.ttft_ms:,.0f} ms (queueing included), mean TPOT "
                 f"{b.tpot_ms:.1f} ms")
    if plan.sizing:
        z = plan.sizing
        verdict = "the fleet suffices" if z.fleet_suffices else "the fleet does not suffice"
        out.line(f"sizing: {z.request_rate:g} requests/s need {z.replicas_needed} replica(s) = "
                 f"{z.gpus_needed} GPU(s) ({z.max_requests_per_s_per_replica:.2f} requests/s per replica "
                 f"within the limits)"
                 + (f", ${z.cost_per_million_tokens:.3f} per million output tokens"
                    if z.cost_per_million_tokens is not None else "")
                 + f"; {verdict}")
    shown = [c for c in plan.candidates if c.performance]
    if len(shown) > 1:
        _candidates_table(plan, shown[:top] if len(shown) <= top else _best(plan, shown, top), out)


def _best(plan: Plan, cands: list, top: int) -> list:
    """The `top` best candidates by the plan's objective, the chosen one always among them: the layouts the
    choice passes over may all rank above it (PP inside a node under --objective throughput)."""
    if plan.objective == "latency":
        ranked = sorted(cands, key=lambda c: (c.performance.tpot_ms, c.performance.ttft_ms))
    elif plan.objective == "throughput":
        ranked = sorted(cands, key=lambda c: -c.performance.fleet_output_tokens_per_s)
    else:
        ranked = list(cands)
    shown = ranked[:top]
    chosen = next((c for c in ranked if is_chosen(plan, c)), None)
    if chosen is not None and all(c is not chosen for c in shown):
        shown = shown[:top - 1] + [chosen]
    return shown


def is_chosen(plan: Plan, c) -> bool:
    """Whether `c` is the layout the plan chose; a plan that fits nowhere shows a layout it did not choose."""
    lay = plan.layout
    return plan.fits and lay is not None and (c.tp, c.pp, c.ep, c.attention_dp) == (
        lay.tp, lay.pp, lay.ep, lay.attention_dp)


def _candidates_table(plan: Plan, cands: list, out: Writer) -> None:
    columns = [(col, "right" if col != "note" else "left") for col in
               ("TP", "PP", "replicas", "idle", "TTFT ms", "TPOT ms", "batch", "tok/s replica", "tok/s fleet", "note")]
    rows = []
    for c in cands:
        p = c.performance
        note = "chosen" if is_chosen(plan, c) else (c.reason or c.passed_over or "")
        rows.append([f"{c.tp}{moe_label(c.ep, c.attention_dp)}", str(c.pp), str(c.replicas), str(c.idle_gpus),
                     f"{p.ttft_ms:.0f}", f"{p.tpot_ms:.1f}", str(p.concurrency), f"{p.output_tokens_per_s:,.0f}",
                     f"{p.fleet_output_tokens_per_s:,.0f}", note])
    out.table("Candidate layouts", columns, rows)


def moe_label(ep: int, attention_dp: bool) -> str:
    """' (EP 8, attention DP)' for the PyTorch flow's MoE layouts; empty for plain TP."""
    parts = ([f"EP {ep}"] if ep > 1 else []) + (["attention DP"] if attention_dp else [])
    return f" ({', '.join(parts)})" if parts else ""


def layout_name(tp: int, pp: int, ep: int = 1, attention_dp: bool = False) -> str:
    """'TP 8 (EP 8, attention DP) × PP 1': how every line of output names a layout."""
    return f"TP {tp}{moe_label(ep, attention_dp)} × PP {pp}"


def layout_of(layout) -> str:
    """layout_name of anything with tp, pp, ep and attention_dp: a candidate, a plan's layout, a rejection."""
    return layout_name(layout.tp, layout.pp, layout.ep, layout.attention_dp)


def _memory_table(plan: Plan, out: Writer) -> None:
    """Every named term of the per-GPU breakdown (see planner.memory), in the order the runtime allocates."""
    stages = plan.memory.per_gpu
    graphs = any(s.cuda_graph_bytes for s in stages)
    flow = stages[0].flow if stages else "engine"
    weights, acts = ("engine", "exec ctx") if flow == "engine" else ("weights", "profiling")
    cols = ["stage", "layers", weights, acts, "runtime buf", "decoder", "comm", "CUDA ctx", "driver", "KV cache"]
    cols += ["CUDA graphs"] if graphs else []
    cols += ["total", "capacity", "used"]
    rows = []
    for s in stages:
        row = [str(s.pp_stage), str(s.layers), gib(s.weights_bytes), gib(s.activation_bytes),
               gib(s.runtime_buffers_bytes), gib(s.decoder_bytes), gib(s.comm_bytes), gib(s.context_bytes),
               gib(s.reserved_bytes), gib(s.kv_cache_bytes)]
        row += [gib(s.cuda_graph_bytes)] if graphs else []
        row += [gib(s.total_bytes), gib(s.capacity_bytes), f"{100 * s.total_bytes / s.capacity_bytes:.0f}%"]
        rows.append(row)
    out.table("Memory per GPU (GiB)", [(col, "right") for col in cols], rows)


def _rejected_table(rejected: Iterable, limit: int, out: Writer) -> None:
    rows = list(rejected)
    title = "Rejected layouts"
    if len(rows) > limit:
        title += f" (first {limit} of {len(rows)}; --format json lists all)"
    out.table(title, [("TP", "right"), ("PP", "right"), ("why", "left")],
              [[f"{r.tp}{moe_label(r.ep, r.attention_dp)}", str(r.pp), r.reason] for r in rows[:limit]])


def models_table(models: Iterable) -> Table:
    from rich.table import Table

    from planner.tensors import total_params

    t = Table(title="Built-in models", title_justify="left")
    for col in ("name", "architecture", "params", "layers", "hidden", "heads/kv", "vocab", "context", "source"):
        t.add_column(col)
    for m in models:
        extra = f" MoE {m.moe.num_experts}×top{m.moe.top_k}" if m.moe else ""
        t.add_row(m.name, m.architecture + extra, f"{total_params(m) / 1e9:.2f}B", str(m.num_layers),
                  str(m.hidden_size), f"{m.num_attention_heads}/{m.num_kv_heads}", str(m.vocab_size),
                  str(m.max_position_embeddings), m.source)
    return t


def gpus_table(gpus: Iterable) -> Table:
    from rich.table import Table

    t = Table(title="Built-in GPUs", title_justify="left")
    for col in ("name", "memory", "bandwidth", "CC", "precisions", "NVLink domain", "aliases"):
        t.add_column(col)
    for g in gpus:
        t.add_row(g.name, f"{g.marketing_memory_gb:g} GB ({gib(g.memory_bytes)} GiB)", f"{g.bandwidth_gb_s:g} GB/s",
                  g.compute_capability, ",".join(g.precisions), str(g.nvlink_domain), ", ".join(g.aliases))
    return t
