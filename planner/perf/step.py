"""Time of one in-flight-batching iteration on one pipeline stage.

An iteration runs every token scheduled in it through the stage's layers at once: the decode
tokens of the running sequences (one each) and a chunk of prompt tokens. Each operation is timed
from the bytes it reads over the achievable HBM bandwidth and its FLOPs over the achievable
tensor-core peak, so a small batch is bound by reading the weights and a large one by arithmetic.
GEMMs (the linear layers, the fused MoE's grouped GEMMs and the LM head) take the smooth roofline,
the p-norm of the two times (p = gemm_roofline_exponent, measured on TensorRT-LLM's GEMM and fused-MoE
tables: about 1.4 times the larger where they are equal); the other operations the larger of the two:

- linear layers read the rank's weights once per iteration and do 2 FLOPs per weight per token, at the
  plan's GEMM precision, and at the 16-bit rate for the weights a checkpoint keeps unquantized (norms,
  routers, and e.g. the BF16 attention of NVIDIA's NVFP4 DeepSeek R1); datacenter Blackwell reaches a smaller
  share of its peak than Hopper at the same precision (blackwell_gemm_scale);
  an MoE layer reads only the experts its tokens activate (n tokens with top-k routing out of E experts hit
  E·(1 − (1 − k/E)^n) distinct experts on average, uniform routing assumed), streaming them as fast as a
  dense GEMM reads its weights (slower for 4-bit experts and for DeepGEMM's block-scaled FP8:
  moe_stream_scale), and does top-k experts' FLOPs per token at moe_gemm_efficiency of the GEMM rate. The
  fused MoE op also pays what its grouped GEMMs do not explain: a fixed cost per layer (routing, sorting,
  the launches of its chain of kernels) and a cost per routed (token, expert) pair (permuting the token in,
  quantizing it, the activation, the weighted sum back), both read off measured MoE kernel tables
  (perf.yaml); its FP4 grouped GEMMs run near the FP8 rate, not at twice it, block-scaled FP8 ones
  (DeepSeek's checkpoints) at under two thirds of the FP8 rate on Hopper, where each of their pairs also
  costs in proportion to the hidden size (quantizing the token per group of 128), so that slicing every
  expert across TP ranks, which multiplies the pairs, costs what the kernel tables show, and MXFP4 ones
  (gpt-oss) on Hopper, dequantized in Triton kernels, at under two thirds of the 16-bit rate;
- attention of a decode token reads the KV cache of its whole context (bytes per token from the
  memory model), of its last `sliding_window` tokens in a sliding layer and of its own chunk in a
  chunked one (Llama 4), and does 4·head_dim FLOPs per head and attended token; MLA attends in its latent
  space (weights absorbed: 2·(kv_lora_rank + rope) + 2·kv_lora_rank FLOPs per head and context
  token); a prompt token attends half its prompt on average (causal), within its window or chunk;
- elementwise kernels (norms, RoPE, activations, residual adds) move a few hidden vectors per
  token and pay a fixed launch cost each;
- with TP > 1, two all-reduces per layer (after attention and after the MLP) of the tokens'
  hidden vectors: a fixed cost plus 2·(tp − 1)/tp of the message over the link (ring bound);
- the last stage runs the LM head for the tokens that need logits; a stage hands its
  activations to the next over the stage link.

PyTorch-flow MoE layouts (planner.tensors for the weights each rank holds):
- expert parallelism `ep`: a rank holds num_experts / ep experts, each of width / (tp / ep); it reads
  only its own experts among those the iteration's tokens activate and does its share of the expert
  FLOPs, and the busiest rank's share of the routed tokens sets the time: routers load some experts
  more than others, so with ep > 1 one rank gets more than its ep-th (routing.py, the power-law load
  of perf.yaml's moe_routing_alpha). Without attention DP every rank has every token, so the MoE output
  is still all-reduced
  (communication_factory.py returns no MoE communication when attention DP is off);
- attention DP: each of the tp ranks runs the whole attention, dense MLP, shared experts and LM head
  for its own tokens (a tp-th of the iteration's), reading whole KV latents/heads for its own
  sequences, with no attention all-reduce; MoE layers move tokens to the experts and back instead:
  all-to-all dispatch and combine where the 1.x CUTLASS fused MoE takes it (`alltoall`: pure EP
  over more ranks than a token's top-k experts, on NVLink; each token goes to the ranks holding its
  experts, (ep − 1)·(1 − (1 − 1/ep)^k) remote ranks on average), else an all-gather of every rank's
  tokens (quantized first for NVFP4 and FP8) and a reduce-scatter of the expert outputs.

The result is seconds; `Work` keeps the terms apart so that tests can check each one.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from planner import tensors
from planner.memory import kv_bytes_per_token
from planner.perf.factors import Factors, routing_alpha
from planner.perf.hardware import Hardware
from planner.perf.routing import busiest_rank_load
from planner.quant import DTYPE_BYTES, SCHEMES, linear_bytes
from planner.specs import ModelSpec


class LayerShape(NamedTuple):
    """What one decoder layer holds on one TP rank, in bytes and parameters."""

    fixed_bytes: int  # attention projections and dense MLP / shared experts: read whatever the batch
    fixed_params: int
    expert_bytes: int  # one routed expert on this rank (0 for a dense layer)
    expert_params: int
    experts: int  # routed experts on this rank (num_experts / ep)
    top_k: int
    kv_bytes: int  # KV cache bytes per context token
    decode_attn_flops: int  # FLOPs per decode token per context token
    prefill_attn_flops: int  # FLOPs per prompt token per attended token
    total_experts: int = 0  # routed experts of the whole model
    plain_params: int = 0  # of fixed_params, those kept in the activation dtype (norms, router, unquantized linears)


def representative_layer(model: ModelSpec, moe_layer: bool) -> int:
    """The first layer of the kind asked for: MoE layers may start late (DeepSeek's dense first layers) or
    alternate with dense ones (Llama 4 Maverick's interleave step 2)."""
    return next((i for i in range(model.num_layers) if model.is_moe_layer(i) == moe_layer), 0)


@lru_cache(maxsize=1024)
def layer_shape(model: ModelSpec, weights: str, act: str, kv_dtype: str, tp: int, moe_layer: bool,
                ep: int = 1, attention_dp: bool = False) -> LayerShape:
    scheme = SCHEMES[weights]
    act_bytes = DTYPE_BYTES[act]
    lt = tensors.layer_tensors(model, representative_layer(model, moe_layer), tp, ep, attention_dp)
    attn_tp = 1 if attention_dp else tp
    fixed_b = lt.plain * act_bytes
    fixed_p = lt.plain
    expert_b = expert_p = experts = top_k = 0
    for lin in lt.linears:
        b = linear_bytes(scheme, lin.in_features, lin.out_features, act_bytes)
        p = lin.in_features * lin.out_features
        if moe_layer and lin.kind == "experts":  # routed experts
            expert_b += b
            expert_p += p
            experts = lin.count
        else:
            fixed_b += b * lin.count
            fixed_p += p * lin.count
    if experts:
        top_k = model.moe.top_k
    heads = model.num_attention_heads // attn_tp
    if model.mla:
        m = model.mla
        decode = heads * (2 * (m.kv_lora_rank + m.qk_rope_head_dim) + 2 * m.kv_lora_rank)
        prefill = heads * (2 * (m.qk_nope_head_dim + m.qk_rope_head_dim) + 2 * m.v_head_dim)
    else:
        decode = prefill = 4 * heads * model.head_dim
    return LayerShape(fixed_b, fixed_p, expert_b, expert_p, experts, top_k,
                      kv_bytes_per_token(model, 1, attn_tp, kv_dtype), decode, prefill,
                      model.moe.num_experts if experts else 0, lt.plain)


def active_experts(experts: int, top_k: int, tokens: float) -> float:
    """Distinct experts n tokens hit with uniform top-k routing: E·(1 − (1 − k/E)^n)."""
    if not experts or tokens <= 0:
        return 0.0
    return experts * (1.0 - (1.0 - top_k / experts) ** tokens)


class Batch(NamedTuple):
    """The tokens of one iteration: `decode` sequences at mean context `context`, plus `prefill`
    prompt tokens of prompts `prompt_len` long (a chunk may be part of a prompt)."""

    decode: float
    context: float
    prefill: float = 0.0
    prompt_len: float = 0.0

    @property
    def tokens(self) -> float:
        return self.decode + self.prefill

    @property
    def logits(self) -> float:
        # one logit row per decode token, one per prompt finished in this iteration
        return self.decode + (self.prefill / self.prompt_len if self.prompt_len else 0.0)


class Work(NamedTuple):
    """Seconds of one iteration on one stage, by term."""

    weights_s: float  # linear layers (roofline of weight reads vs GEMM FLOPs)
    attention_s: float
    elementwise_s: float
    allreduce_s: float
    lm_head_s: float
    handoff_s: float  # sending activations to the next stage
    dispatch_s: float = 0.0  # attention DP: moving tokens to the MoE experts and back

    @property
    def total_s(self) -> float:
        return (self.weights_s + self.attention_s + self.elementwise_s + self.allreduce_s + self.lm_head_s
                + self.handoff_s + self.dispatch_s)


class StageShape(NamedTuple):
    layers: int
    moe_layers: int
    is_last: bool
    has_next: bool
    first_layer: int = 0  # where the stage starts: which of its layers are MoE, sliding or chunked


@lru_cache(maxsize=1024)
def attention_groups(model: ModelSpec, first_layer: int, layers: int) -> tuple[tuple[bool, str, int | None, int], ...]:
    """The stage's layers counted by (is MoE, attention kind, window)."""
    counts: dict[tuple[bool, str, int | None], int] = {}
    for layer in range(first_layer, first_layer + layers):
        key = (model.is_moe_layer(layer), model.attention_kind(layer), model.attention_window(layer))
        counts[key] = counts.get(key, 0) + 1
    return tuple((moe, kind, window, n) for (moe, kind, window), n in counts.items())


def attended(kind: str, window: int | None, context: float) -> float:
    """Cached tokens a decode token at `context` attends to: all of them under full attention, the last
    `window` under sliding attention; under chunked attention (Llama 4) those of its own chunk, on average
    half a chunk once the sequence is past its first one."""
    if window is None or context <= window:
        return context
    return window if kind == "sliding" else window / 2


def prompt_attended(kind: str, window: int | None, prompt: float) -> float:
    """Tokens a prompt token attends to, on average over a causal prompt `prompt` long."""
    if window is None or prompt <= window:
        return prompt / 2
    if kind == "sliding":  # the first `window` tokens ramp up, the rest see a full window
        return window - window * window / (2 * prompt)
    whole, rest = divmod(prompt, window)  # chunked: each chunk is a causal prompt of its own
    return (whole * window * window / 2 + rest * rest / 2) / prompt


def _roofline(nbytes: float, flops: float, bw: float, peak: float) -> float:
    return max(nbytes / bw, flops / peak)


def _gemm(read_s: float, math_s: float, p: float) -> float:
    """A GEMM from its weight-reading and math times: the smooth roofline (read^p + math^p)^(1/p).
    Near the ridge point, where the two take about as long, neither hides the other."""
    return (read_s ** p + math_s ** p) ** (1 / p)


# Bytes per hidden element the all-gather moves: the CUTLASS fused MoE quantizes the tokens before it for
# these schemes (NVFP4 with one 1-byte scale per 16 values, per-tensor FP8), else they travel in the
# activation dtype (fused_moe_cutlass.py @7b437aaa, forward_chunk: run_post_quant_allgather)
_GATHER_BYTES = {"nvfp4": 0.5 + 1 / 16, "fp8": 1.0}


def alltoall(model: ModelSpec, tp: int, ep: int, link: str) -> bool:
    """Whether attention DP moves tokens to the experts all-to-all rather than by all-gather and
    reduce-scatter. TensorRT-LLM 1.x's CUTLASS fused MoE (enable_alltoall, fused_moe_cutlass.py at
    NVIDIA/TensorRT-LLM commit 7b437aaa) takes all-to-all only with pure EP across more ranks than a
    token's experts (moe_ep_size > experts_per_token) and NVLink up between them
    (MnnvlMemory.supports_mnnvl); PR #8950 dropped the top-k condition on main in November 2025,
    after the v1.2.0rc2 submodule (31116825)."""
    return ep == tp and ep > model.moe.top_k and link == "NVLink"


def remote_ranks(ep: int, top_k: int) -> float:
    """Other EP ranks one token's top-k experts live on, on average (uniform routing)."""
    return (ep - 1) * (1.0 - (1.0 - 1.0 / ep) ** top_k) if ep > 1 else 0.0


def routed_pair_s(weights: str, arch: int, hidden: int, f: Factors) -> float:
    """Seconds each routed (token, expert) pair costs beyond its expert GEMM FLOPs: a fixed cost, except for
    block-scaled FP8 experts on Hopper, whose per-token-group activation quantization grows with the hidden size."""
    if weights == "fp8_block" and arch < 10:
        return f.fp8_block_pair_ns_per_khidden_hopper * hidden / 1024 * 1e-9
    return f.moe_routed_pair_ns * 1e-9


def moe_stream_scale(weights: str, arch: int, f: Factors) -> float:
    """The share of hbm_efficiency at which the fused MoE streams its experts' weights: the CUTLASS kernels of
    16-bit, FP8 and block-scaled FP8 experts on Hopper stream as fast as a dense GEMM reads (perf.yaml); DeepGEMM's
    block-scaled FP8 on Blackwell, the 4-bit CUTLASS kernels on Blackwell and the Triton MXFP4 kernels of Hopper
    slower."""
    if weights in ("nvfp4", "mxfp4"):
        return f.moe_stream_scale_fp4_blackwell if arch >= 10 else f.moe_stream_scale_mxfp4_hopper
    if weights == "fp8_block" and arch >= 10:
        return f.moe_stream_scale_fp8_block_blackwell
    return 1.0


def stage_work(model: ModelSpec, weights: str, act: str, kv_dtype: str, tp: int, stage: StageShape,
               batch: Batch, hw: Hardware, f: Factors, ep: int = 1, attention_dp: bool = False) -> Work:
    """One iteration of the whole TP group's `batch` on one rank of `stage`."""
    bw = hw.hbm_bytes_s * f.hbm_efficiency
    fp4 = hw.gemm_precision == "fp4"
    dense_eff = f.gemm_efficiency * (f.blackwell_gemm_scale if hw.arch == 10 else 1.0)
    gemm = hw.gemm_flops * dense_eff * (f.fp4_gemm_scale if fp4 else 1.0)
    moe_gemm = hw.gemm_flops * f.gemm_efficiency * f.moe_gemm_efficiency * (f.fp4_moe_gemm_scale if fp4 else 1.0)
    moe_bw = bw * moe_stream_scale(weights, hw.arch, f)
    pair_s = routed_pair_s(weights, hw.arch, model.hidden_size, f)
    if weights == "fp8_block":  # block-scaled grouped GEMMs: CUTLASS on Hopper, DeepGEMM on Blackwell
        moe_gemm *= f.fp8_block_moe_gemm_scale_hopper if hw.arch < 10 else f.fp8_block_moe_gemm_scale_blackwell
    elif weights == "mxfp4" and hw.arch < 10:  # Hopper: Triton kernels dequantize the 4-bit experts per tile
        moe_gemm *= f.mxfp4_moe_scale_hopper
    attn_peak = hw.attention_flops * f.attention_efficiency
    gemm16 = hw.attention_flops * dense_eff  # weights kept in the activation dtype multiply at its rate
    lat = f.memory_op_latency_us * 1e-6
    n = batch.tokens
    dp = tp if attention_dp else 1
    local = n / dp  # tokens this rank runs through attention and the unsplit layers
    act_bytes = DTYPE_BYTES[act]
    weights_s = attention_s = 0.0
    stage_count = {False: 0, True: 0}  # the layers attention_groups sees, by kind: scales its sums to `count`
    for is_moe, _, _, k in attention_groups(model, stage.first_layer, stage.layers):
        stage_count[is_moe] += k
    for count, moe in ((stage.layers - stage.moe_layers, False), (stage.moe_layers, True)):
        if not count:
            continue
        s = layer_shape(model, weights, act, kv_dtype, tp, moe, ep, attention_dp)
        math_s = 2 * local * ((s.fixed_params - s.plain_params) / gemm + s.plain_params / gemm16)
        lin = _gemm(s.fixed_bytes / bw, math_s, f.gemm_roofline_exponent) + 2 * lat
        if s.experts:
            # this rank's share of the experts the iteration's tokens (all ranks' tokens) activate
            share = s.experts / s.total_experts
            hit = active_experts(s.total_experts, s.top_k, n) * share
            # routed (token, expert) pairs on the busiest rank: the others wait for it (routing.py)
            pairs = s.top_k * n * share * busiest_rank_load(s.total_experts, ep, n, s.top_k,
                                                             routing_alpha(model.architecture))
            grouped = _gemm(hit * s.expert_bytes / moe_bw, 2 * s.expert_params * pairs / moe_gemm,
                            f.gemm_roofline_exponent)
            lin += grouped + f.moe_layer_latency_us * 1e-6 + pairs * pair_s
        # context tokens the group's layers attend to, summed over them (both roofline terms grow with it)
        ctx = pre_ctx = 0.0
        seen = stage_count[moe]  # 0 where the caller's count of MoE layers is not the model's: all layers stand in
        for is_moe, kind, window, k in attention_groups(model, stage.first_layer, stage.layers):
            if is_moe == moe or not seen:
                ctx += k * attended(kind, window, batch.context)
                pre_ctx += k * prompt_attended(kind, window, batch.prompt_len)
        scale = count / (seen or stage.layers)
        ctx, pre_ctx = ctx * scale, pre_ctx * scale
        decode = batch.decode / dp
        dec = _roofline(decode * ctx * s.kv_bytes, decode * ctx * s.decode_attn_flops, bw, attn_peak)
        pre = batch.prefill / dp * pre_ctx * s.prefill_attn_flops / attn_peak
        weights_s += count * lin
        attention_s += dec + pre + count * ((lat if batch.decode else 0.0) + (lat if batch.prefill else 0.0))
    hidden_bytes = n * model.hidden_size * act_bytes
    elementwise_s = stage.layers * (local * model.hidden_size * f.activation_bytes_per_token_per_layer / bw
                                    + f.kernels_per_layer * lat)
    link = hw.tp_link_bytes_s * f.link_efficiency
    link_lat = f.allreduce_latency_us * 1e-6
    allreduce_s = dispatch_s = 0.0
    if tp > 1 and not attention_dp:
        one = link_lat + 2 * (tp - 1) / tp * hidden_bytes / link
        allreduce_s = 2 * stage.layers * one
    elif tp > 1 and stage.moe_layers:
        if alltoall(model, tp, ep, hw.tp_link):  # each own token to the ranks of its experts, its results back
            sent = local * model.hidden_size * act_bytes * remote_ranks(ep, model.moe.top_k)
            dispatch_s = stage.moe_layers * 2 * (link_lat + sent / link)
        else:  # all-gather every rank's (quantized) tokens, reduce-scatter the expert outputs
            gathered = n * model.hidden_size * _GATHER_BYTES.get(weights, act_bytes)
            dispatch_s = stage.moe_layers * (2 * link_lat + (tp - 1) / tp * (gathered + hidden_bytes) / link)
    lm_head_s = 0.0
    if stage.is_last:
        rows = -(-model.vocab_size // (1 if attention_dp else tp))
        lm_params = rows * model.hidden_size
        lm_head_s = _gemm(lm_params * act_bytes / bw, 2 * lm_params * batch.logits / dp / gemm16,
                          f.gemm_roofline_exponent) + lat
    handoff_s = 0.0
    if stage.has_next:
        handoff_s = hw.pp_link_latency_s + hidden_bytes / dp / (hw.pp_link_bytes_s * f.link_efficiency)
    return Work(weights_s, attention_s, elementwise_s, allreduce_s, lm_head_s, handoff_s, dispatch_s)
