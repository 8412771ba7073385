"""Step times from aiconfigurator-core's measured kernel database (the optional `aic` extra).

NVIDIA's aiconfigurator-core (PyPI `aiconfigurator-core`, Apache-2.0; source in ai-dynamo/aiconfigurator,
package `aiconfigurator_core.sdk`) ships per-GPU tables of kernel latencies measured under TensorRT-LLM:
GEMMs per quantization (`gemm/`), context and generation attention (`attention/`), the TP custom all-reduce
(`comm/`) and fused MoE (`moe/`), under `aiconfigurator_core/systems/data/<system>/<op>/trtllm/<version>/`.
This module asks the package's compiled engine for one operation at a time
(`EngineHandle.evaluate_ops_json`, with op objects from `aiconfigurator_core.sdk.operations`) and sums them
into the same `Work` as `step.stage_work`, for one pipeline stage and one iteration:

- weights_s: the layer's GEMMs (QKV, attention output, gate+up, down; for an MoE layer the fused MoE in
  place of the MLP) at the plan's weight precision, for all the iteration's tokens, times the stage's layers;
- attention_s: generation attention of the decode sequences at their context, plus context attention of the
  prompt tokens (whole prompts, or one chunk of a prompt after the chunks before it), times the layers;
- allreduce_s: with TP > 1, two custom all-reduces of the tokens' hidden vectors per layer;
- lm_head_s: the logits GEMM (16-bit, as TensorRT-LLM runs it) on the last stage.

Under attention DP a rank runs the whole attention, its projections and the logits for its own share of the
iteration's sequences and tokens, and the fused MoE for every rank's tokens (dispatched to its experts); the
dispatch itself (all-to-all or all-gather) stays the planner's own term, as the tables hold none for it.

What the database does not measure stays the planner's own (step.stage_work): the elementwise kernels and
the PP hand-off; the memory model sets the batch and scheduler.py the operating point, as with the roofline.
Fractional token counts (the scheduler's steady-state averages) interpolate linearly between the two
neighbouring whole counts, so the step time stays continuous in the batch.

Nothing here is imported unless a plan asks for `--perf-backend aiconfigurator`; the package and its numpy,
pandas and pyarrow are imported inside the functions, and the database is loaded once per process.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from planner.perf.factors import Factors, routing_alpha
from planner.perf.hardware import Hardware
from planner.perf.step import Batch, StageShape, Work, stage_work
from planner.specs import ModelSpec

INSTALL_HINT = "pip install 'planner[aic]'"
FRAMEWORK = "trtllm"

# Catalog GPU -> aiconfigurator-core system (systems/<name>.yaml). Only the boards the tables were measured
# on: the SXM H100/H200/B200/B300 and A100 80GB, the GB200/GB300 superchips, the L40S (PCIe) and the RTX PRO
# 6000 Blackwell Server Edition (PCIe, 600 W: rtx_pro_6000_server.yaml, "97887 MiB VRAM, 600 W power
# limit", the catalog's board). The A100 40GB, H100 PCIe/NVL and H200 NVL differ in bandwidth or power from
# the measured boards.
SYSTEMS = {
    "h100-sxm": "h100_sxm",
    "h200": "h200_sxm",
    "b200": "b200_sxm",
    "b300": "b300_sxm",
    "gb200": "gb200",
    "gb300": "gb300",
    "a100-80gb": "a100_sxm",
    "l40s": "l40s",
    "rtx-pro-6000-blackwell": "rtx_pro_6000_server",
}

# All-reduce tables not used: the L40S one (comm/trtllm/1.3.0rc20/custom_allreduce_perf.parquet) takes
# 2.54 ms for 4 MiB over 4 GPUs, an algorithm bandwidth of 1.7 GB/s, a tenth of the PCIe Gen4 x16 link the
# catalog gives the L40S: the box it was measured on did not route GPU-to-GPU traffic as a PCIe server does.
NO_ALLREDUCE = {
    "l40s": "aiconfigurator-core's L40S all-reduce table (1.7 GB/s for 4 MiB over 4 GPUs) is far below the "
            "PCIe link of an L40S server",
}

# Plan weight scheme -> the database's GEMM quant mode (common.GEMMQuantMode). fp16 runs on the same 16-bit
# tensor cores as bf16 at the same rate, so it reads the bf16 table. AWQ/GPTQ group-wise INT4, W4A8 and
# MXFP4 dense GEMMs have no table of their own: not covered.
GEMM_MODES = {
    "bf16": "bfloat16", "fp16": "bfloat16", "fp8": "fp8", "int8_wo": "int8_wo", "int4_wo": "int4_wo",
    "int8_sq": "sq", "nvfp4": "nvfp4",
}
MOE_MODES = {"bf16": "bfloat16", "fp16": "bfloat16", "fp8": "fp8", "nvfp4": "nvfp4", "int4_wo": "int4_wo"}
KV_MODES = {"bf16": "bfloat16", "fp16": "bfloat16", "fp8": "fp8", "int8": "int8"}
# The fused MoE table is measured per routed-token distribution ("balanced", "power_law_1.01",
# "power_law_1.2"). Real routing is skewed, and the busiest EP group sets the kernel's time: the table is
# read at the model family's power-law exponent (perf.yaml's moe_routing_alpha), as aiconfigurator-core
# 0.12.0 reads it for its own families (sdk/models/moe.py 1.2, deepseek.py and hybrid_moe.py 1.01).


def moe_distribution(architecture: str) -> str:
    return f"power_law_{routing_alpha(architecture):g}"


def installed() -> bool:
    return importlib.util.find_spec("aiconfigurator_core") is not None


def _version_key(v: str) -> tuple[int, ...]:
    """'1.3.0rc20' -> (1, 3, 0, 0, 20); a final release sorts after its release candidates."""
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?(?:rc(\d+))?", v)
    if not m:
        return (0,)
    major, minor, patch, rc = m.groups()
    return (int(major), int(minor), int(patch or 0), 0 if rc else 1, int(rc or 0))


def closest_version(target: str, versions: list[str] | tuple[str, ...]) -> str | None:
    """The database release to read for a plan targeting `target`: the newest one not after it (kernels
    the target already ships), else the oldest after it."""
    if not versions:
        return None
    key = _version_key(target)
    before = [v for v in versions if _version_key(v) <= key]
    if before:
        return max(before, key=_version_key)
    return min(versions, key=_version_key)


@lru_cache(maxsize=1)
def package_version() -> str:
    from importlib.metadata import version

    return version("aiconfigurator-core")


@lru_cache(maxsize=1)
def _supported() -> dict:
    from aiconfigurator_core.sdk import perf_database

    return perf_database.get_supported_databases()


@dataclass(frozen=True)
class Source:
    """One database: a system and the TensorRT-LLM release its tables were measured under."""

    system: str
    version: str

    @property
    def backend(self) -> str:
        return f"aiconfigurator-core {package_version()} ({self.system}, trtllm {self.version})"


def source(gpu_name: str, target: str) -> Source | str:
    system = SYSTEMS.get(gpu_name)
    if system is None:
        return f"aiconfigurator-core has no measured tables for {gpu_name}"
    versions = _supported().get(system, {}).get(FRAMEWORK, [])
    version = closest_version(target, versions)
    if version is None:
        return f"aiconfigurator-core has no TensorRT-LLM tables for {system}"
    return Source(system, version)


@lru_cache(maxsize=4)
def _engine(src: Source):
    """The database and the compiled engine over it: loaded once per process (about a second)."""
    from aiconfigurator_core.sdk import perf_database
    from aiconfigurator_core.sdk.engine import EngineHandle

    # the package logs which fallback rows it reads; a plan's output is not the place for that
    quiet = logging.getLogger("aiconfigurator_core")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        db = perf_database.get_database(src.system, FRAMEWORK, src.version)
        if db is None:
            raise LookupError(f"aiconfigurator-core could not load {src.system} trtllm {src.version}")
        return db, EngineHandle.for_database(db)
    finally:
        quiet.setLevel(level)


# An op is described by a hashable tuple so that queries cache: ("gemm", n, k, mode),
# ("gen_attn", heads, kv_heads, head_dim, kv_mode, qk_norm), ("ctx_attn", ... the same),
# ("allreduce", hidden, tp), ("moe", hidden, inter, top_k, experts, tp, ep, mode, distribution).
Op = tuple


def _make_op(op: Op):
    from aiconfigurator_core.sdk import common
    from aiconfigurator_core.sdk.operations.attention import ContextAttention, GenerationAttention
    from aiconfigurator_core.sdk.operations.communication import CustomAllReduce
    from aiconfigurator_core.sdk.operations.gemm import GEMM
    from aiconfigurator_core.sdk.operations.moe import MoE

    kind = op[0]
    if kind == "gemm":
        return GEMM("gemm", 1.0, op[1], op[2], common.GEMMQuantMode[op[3]])
    if kind == "gen_attn":
        return GenerationAttention("gen_attn", 1.0, op[1], op[2], common.KVCacheQuantMode[op[4]], head_size=op[3],
                                   use_qk_norm=op[5])
    if kind == "ctx_attn":
        return ContextAttention("ctx_attn", 1.0, op[1], op[2], common.KVCacheQuantMode[op[4]],
                                common.FMHAQuantMode.bfloat16, head_size=op[3], use_qk_norm=op[5])
    if kind == "allreduce":
        return CustomAllReduce("allreduce", 1.0, op[1], op[2])
    if kind == "moe":
        _, hidden, inter, top_k, experts, tp, ep, mode, distribution = op
        return MoE("moe", 1.0, hidden, inter, top_k, experts, tp, ep, common.MoEQuantMode[mode], distribution, 1)
    raise ValueError(f"unknown op {kind}")


@lru_cache(maxsize=256)
def _ops_json(op: Op) -> str:
    from aiconfigurator_core.sdk.engine import build_ops_json

    return build_ops_json([_make_op(op)])


@lru_cache(maxsize=200_000)
def query_ms(src: Source, op: Op, batch: int = 1, s: int = 1, tokens: int | None = None, prefix: int = 0) -> float:
    """Measured (interpolated by the package) latency of one op in milliseconds.

    Token-major ops (GEMM, all-reduce, MoE) take `tokens`; generation attention takes `batch` sequences at
    context `s`; context attention `batch` prompts of `s` new tokens after `prefix` cached ones."""
    _, handle = _engine(src)
    is_context = op[0] != "gen_attn"
    (_, latency, _, _), = handle.evaluate_ops_json(_ops_json(op), is_context=is_context, batch_size=batch, s=s,
                                                   prefix=prefix, x=tokens)
    return float(latency)


def _interp(fn: Callable[[int], float], x: float, to_zero: bool) -> float:
    """fn at a fractional count: linear between neighbours; below 1, fn(1) (an op that runs whatever the
    count, like a GEMM reading its weights) or a fraction of it (`to_zero`: work per sequence)."""
    if x <= 0:
        return 0.0
    if x <= 1:
        return fn(1) * (x if to_zero else 1.0)
    lo = math.floor(x)
    a = fn(lo)
    if x == lo:
        return a
    return a + (x - lo) * (fn(lo + 1) - a)


@dataclass(frozen=True)
class LayerOps:
    """The database ops of one decoder layer on one TP rank."""

    dense: tuple[Op, ...]  # GEMMs of an attention + dense-MLP layer
    moe: tuple[Op, ...]  # GEMMs + fused MoE of an MoE layer (empty for a dense model)
    gen_attn: Op
    ctx_attn: Op
    allreduce: Op | None
    lm_head: Op


def layer_ops(model: ModelSpec, weights: str, kv_dtype: str, tp: int, ep: int = 1,
              attention_dp: bool = False) -> LayerOps:
    """The op shapes per rank, as TensorRT-LLM splits them under TP (heads and MLP columns over the ranks,
    KV heads replicated when fewer than the ranks); with expert parallelism `ep` the fused MoE holds
    num_experts / ep experts, each split tp / ep ways (the table's moe_tp_size and moe_ep_size). Under
    attention DP the attention, dense MLP and LM head are whole on every rank and nothing is all-reduced."""
    mode = GEMM_MODES[weights]
    h, d = model.hidden_size, model.head_dim
    split = 1 if attention_dp else tp
    heads = model.num_attention_heads // split
    kv_heads = -(-model.num_kv_heads // split)
    qkv = ("gemm", (heads + 2 * kv_heads) * d, h, mode)
    out = ("gemm", h, heads * d, mode)
    up_cols = (2 if model.mlp == "gated" else 1) * model.intermediate_size // split
    dense = (qkv, out, ("gemm", up_cols, h, mode), ("gemm", h, model.intermediate_size // split, mode))
    moe: tuple[Op, ...] = ()
    if model.moe:
        m = model.moe
        moe = (qkv, out, ("moe", h, m.expert_intermediate_size, m.top_k, m.num_experts, tp // ep, ep,
                          MOE_MODES[weights], moe_distribution(model.architecture)))
    kv = KV_MODES[kv_dtype]
    qk = model.qk_norm
    return LayerOps(dense, moe, ("gen_attn", heads, kv_heads, d, kv, qk), ("ctx_attn", heads, kv_heads, d, kv, qk),
                    ("allreduce", h, tp) if split > 1 else None,
                    ("gemm", -(-model.vocab_size // split), h, "bfloat16"))


def coverage(model: ModelSpec, gpu_name: str, weights: str, kv_dtype: str, tp: int, target: str, ep: int = 1,
             attention_dp: bool = False, tp_in_node: bool = True) -> Source | str:
    """The database that times this layout, or why aiconfigurator-core does not cover it (the reason the
    figure falls back to the roofline)."""
    src = source(gpu_name, target)
    if isinstance(src, str):
        return src
    system = src.system
    if weights not in GEMM_MODES:
        return f"aiconfigurator-core has no {weights} GEMM table"
    if kv_dtype not in KV_MODES:
        return f"aiconfigurator-core has no {kv_dtype} KV-cache attention table"
    if model.mla:
        return "MLA attention is not timed from aiconfigurator-core here"
    if (model.attention_pattern or model.sliding_window or model.attention_chunk_size or model.attention_sinks
            or model.full_head_dim):
        return "the model's attention variant (sliding/chunked windows, sinks) is not timed from it here"
    if model.moe:
        m = model.moe
        if m.shared_experts or m.first_k_dense_layers or m.layer_step != 1 or m.dense_layers or m.expert_bias:
            return "MoE layers with shared experts, interleaved dense layers or expert biases are not timed from it"
        if weights not in MOE_MODES:
            return f"aiconfigurator-core has no {weights} MoE table"
    if not attention_dp:
        if tp > 8 or (tp > 1 and not tp_in_node):
            return "the custom all-reduce table covers TP 2, 4 and 8 inside one node"
        if tp > 1 and system in NO_ALLREDUCE:
            return NO_ALLREDUCE[system]
        if model.num_attention_heads % tp:
            return f"{model.num_attention_heads} attention heads do not split over TP {tp}"
    try:
        ops = layer_ops(model, weights, kv_dtype, tp, ep, attention_dp)
        for op in ops.moe[2:] if model.moe else ops.dense:
            query_ms(src, op, tokens=8)
        query_ms(src, ops.gen_attn, batch=8, s=1024)
        query_ms(src, ops.ctx_attn, batch=1, s=1024)
        if ops.allreduce:
            query_ms(src, ops.allreduce, tokens=8)
    except Exception as exc:  # the package's PerfDataNotAvailableError and kin: a shape it has not measured
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"aiconfigurator-core lacks a table for this shape ({first[:160]})"
    return src


@dataclass(frozen=True)
class AicStep:
    """A step function with step.stage_work's signature, timed from one database."""

    src: Source

    @property
    def backend(self) -> str:
        return self.src.backend

    def __call__(self, model: ModelSpec, weights: str, act: str, kv_dtype: str, tp: int, stage: StageShape,
                 batch: Batch, hw: Hardware, f: Factors, ep: int = 1, attention_dp: bool = False) -> Work:
        own = stage_work(model, weights, act, kv_dtype, tp, stage, batch, hw, f, ep, attention_dp)
        # without attention DP every rank has every token: the MoE output is all-reduced like the MLP's; with
        # it, the tokens' dispatch to the experts and back is the planner's own (the tables hold none for it)
        ops = layer_ops(model, weights, kv_dtype, tp, ep, attention_dp)
        t = ops_ms(self.src, ops, stage, batch, tp if attention_dp else 1)
        return Work(weights_s=t["weights"] * 1e-3, attention_s=t["attention"] * 1e-3,
                    elementwise_s=own.elementwise_s, allreduce_s=t["allreduce"] * 1e-3,
                    lm_head_s=t["lm_head"] * 1e-3, handoff_s=own.handoff_s, dispatch_s=own.dispatch_s)


def ops_ms(src: Source, ops: LayerOps, stage: StageShape, batch: Batch, dp: int = 1) -> dict[str, float]:
    """Milliseconds of one iteration on one stage, by term, each the sum of its queried ops. Under attention DP
    (`dp` ranks) a rank's GEMMs, attention and logits see its own share of the iteration's tokens and
    sequences; the fused MoE sees every rank's tokens (dispatched to its experts)."""
    n = batch.tokens

    def tokens(op: Op, count: float) -> float:
        return _interp(lambda x: query_ms(src, op, tokens=x), count, to_zero=False)

    dense_layers = stage.layers - stage.moe_layers
    weights = dense_layers * sum(tokens(op, n / dp) for op in ops.dense)
    if ops.moe:
        *gemms, fused = ops.moe
        weights += stage.moe_layers * (sum(tokens(op, n / dp) for op in gemms) + tokens(fused, n))
    ctx = round(batch.context)
    attention = _interp(lambda b: query_ms(src, ops.gen_attn, batch=b, s=ctx), batch.decode / dp, to_zero=True)
    if batch.prefill:
        prefill = batch.prefill / dp
        prompt = batch.prompt_len or prefill
        if prefill >= prompt:  # whole prompts
            s = round(prompt)
            attention += _interp(lambda b: query_ms(src, ops.ctx_attn, batch=b, s=s), prefill / prompt,
                                 to_zero=True)
        else:  # one chunk of a prompt: on average half the prompt's other chunks are already cached
            chunk = max(1, round(prefill))
            attention += query_ms(src, ops.ctx_attn, batch=1, s=chunk, prefix=round((prompt - chunk) / 2))
    attention *= stage.layers
    allreduce = 2 * stage.layers * tokens(ops.allreduce, n) if ops.allreduce else 0.0
    lm_head = 0.0
    if stage.is_last:
        lm_head = _interp(lambda x: query_ms(src, ops.lm_head, tokens=x), batch.logits / dp, to_zero=False)
    return {"weights": weights, "attention": attention, "allreduce": allreduce, "lm_head": lm_head}
