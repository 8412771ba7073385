"""Time of one in-flight-batching iteration on one pipeline stage.

An iteration runs every token scheduled in it through the stage's layers at once: the decode
tokens of the running sequences (one each) and a chunk of prompt tokens. Each operation costs
the larger of the bytes it reads over the achievable HBM bandwidth and its FLOPs over the
achievable tensor-core peak (a roofline per operation), so a small batch is bound by reading
the weights and a large one by arithmetic:

- linear layers read the rank's weights once per iteration and do 2 FLOPs per weight per token;
  an MoE layer reads only the experts its tokens activate (n tokens with top-k routing out of
  E experts hit E·(1 − (1 − k/E)^n) distinct experts on average, uniform routing assumed) and
  does top-k experts' FLOPs per token;
- attention of a decode token reads the KV cache of its whole context (bytes per token from the
  memory model) and does 4·head_dim FLOPs per head and context token; MLA attends in its latent
  space (weights absorbed: 2·(kv_lora_rank + rope) + 2·kv_lora_rank FLOPs per head and context
  token); a prompt token attends half its prompt on average (causal);
- elementwise kernels (norms, RoPE, activations, residual adds) move a few hidden vectors per
  token and pay a fixed launch cost each;
- with TP > 1, two all-reduces per layer (after attention and after the MLP) of the tokens'
  hidden vectors: a fixed cost plus 2·(tp − 1)/tp of the message over the link (ring bound);
- the last stage runs the LM head for the tokens that need logits; a stage hands its
  activations to the next over the stage link.

The result is seconds; `Work` keeps the terms apart so that tests can check each one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from planner import tensors
from planner.memory import kv_bytes_per_token
from planner.perf.factors import Factors
from planner.perf.hardware import Hardware
from planner.quant import DTYPE_BYTES, SCHEMES, linear_bytes
from planner.specs import ModelSpec


@dataclass(frozen=True)
class LayerShape:
    """What one decoder layer holds on one TP rank, in bytes and parameters."""

    fixed_bytes: int  # attention projections and dense MLP / shared experts: read whatever the batch
    fixed_params: int
    expert_bytes: int  # one routed expert (0 for a dense layer)
    expert_params: int
    experts: int
    top_k: int
    kv_bytes: int  # KV cache bytes per context token
    decode_attn_flops: int  # FLOPs per decode token per context token
    prefill_attn_flops: int  # FLOPs per prompt token per attended token


@lru_cache(maxsize=1024)
def layer_shape(model: ModelSpec, weights: str, act: str, kv_dtype: str, tp: int, moe_layer: bool) -> LayerShape:
    scheme = SCHEMES[weights]
    act_bytes = DTYPE_BYTES[act]
    first_moe = model.moe.first_k_dense_layers if model.moe else model.num_layers
    lt = tensors.layer_tensors(model, first_moe if moe_layer else 0, tp)
    fixed_b = lt.plain * act_bytes
    fixed_p = lt.plain
    expert_b = expert_p = experts = top_k = 0
    for lin in lt.linears:
        b = linear_bytes(scheme, lin.in_features, lin.out_features, act_bytes)
        p = lin.in_features * lin.out_features
        if moe_layer and lin.count > 1:  # routed experts
            expert_b += b
            expert_p += p
            experts = lin.count
        else:
            fixed_b += b * lin.count
            fixed_p += p * lin.count
    if experts:
        top_k = model.moe.top_k
    heads = model.num_attention_heads // tp
    if model.mla:
        m = model.mla
        decode = heads * (2 * (m.kv_lora_rank + m.qk_rope_head_dim) + 2 * m.kv_lora_rank)
        prefill = heads * (2 * (m.qk_nope_head_dim + m.qk_rope_head_dim) + 2 * m.v_head_dim)
    else:
        decode = prefill = 4 * heads * model.head_dim
    return LayerShape(fixed_b, fixed_p, expert_b, expert_p, experts, top_k,
                      kv_bytes_per_token(model, 1, tp, kv_dtype), decode, prefill)


def active_experts(experts: int, top_k: int, tokens: float) -> float:
    """Distinct experts n tokens hit with uniform top-k routing: E·(1 − (1 − k/E)^n)."""
    if not experts or tokens <= 0:
        return 0.0
    return experts * (1.0 - (1.0 - top_k / experts) ** tokens)


@dataclass(frozen=True)
class Batch:
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


@dataclass(frozen=True)
class Work:
    """Seconds of one iteration on one stage, by term."""

    weights_s: float  # linear layers (roofline of weight reads vs GEMM FLOPs)
    attention_s: float
    elementwise_s: float
    allreduce_s: float
    lm_head_s: float
    handoff_s: float  # sending activations to the next stage

    @property
    def total_s(self) -> float:
        return (self.weights_s + self.attention_s + self.elementwise_s + self.allreduce_s + self.lm_head_s
                + self.handoff_s)


@dataclass(frozen=True)
class StageShape:
    layers: int
    moe_layers: int
    is_last: bool
    has_next: bool


def _roofline(nbytes: float, flops: float, bw: float, peak: float) -> float:
    return max(nbytes / bw, flops / peak)


def stage_work(model: ModelSpec, weights: str, act: str, kv_dtype: str, tp: int, stage: StageShape,
               batch: Batch, hw: Hardware, f: Factors) -> Work:
    bw = hw.hbm_bytes_s * f.hbm_efficiency
    gemm = hw.gemm_flops * f.gemm_efficiency
    attn_peak = hw.attention_flops * f.attention_efficiency
    lat = f.memory_op_latency_us * 1e-6
    n = batch.tokens
    act_bytes = DTYPE_BYTES[act]
    weights_s = attention_s = 0.0
    for count, moe in ((stage.layers - stage.moe_layers, False), (stage.moe_layers, True)):
        if not count:
            continue
        s = layer_shape(model, weights, act, kv_dtype, tp, moe)
        lin = _roofline(s.fixed_bytes, 2 * s.fixed_params * n, bw, gemm) + 2 * lat
        if s.experts:
            hit = active_experts(s.experts, s.top_k, n)
            moe = f.moe_gemm_efficiency
            lin += _roofline(hit * s.expert_bytes, 2 * s.expert_params * s.top_k * n, bw * moe, gemm * moe) + lat
        dec = _roofline(batch.decode * batch.context * s.kv_bytes,
                        batch.decode * batch.context * s.decode_attn_flops, bw, attn_peak)
        pre = batch.prefill * batch.prompt_len / 2 * s.prefill_attn_flops / attn_peak
        weights_s += count * lin
        attention_s += count * (dec + pre + (lat if batch.decode else 0.0) + (lat if batch.prefill else 0.0))
    hidden_bytes = n * model.hidden_size * act_bytes
    elementwise_s = stage.layers * (n * model.hidden_size * f.activation_bytes_per_token_per_layer / bw
                                    + f.kernels_per_layer * lat)
    allreduce_s = 0.0
    if tp > 1:
        one = f.allreduce_latency_us * 1e-6 + 2 * (tp - 1) / tp * hidden_bytes / (hw.tp_link_bytes_s
                                                                                   * f.link_efficiency)
        allreduce_s = 2 * stage.layers * one
    lm_head_s = 0.0
    if stage.is_last:
        rows = -(-model.vocab_size // tp)
        lm_params = rows * model.hidden_size
        lm_head_s = _roofline(lm_params * act_bytes, 2 * lm_params * batch.logits, bw,
                              hw.attention_flops * f.gemm_efficiency) + lat
    handoff_s = 0.0
    if stage.has_next:
        handoff_s = hw.pp_link_latency_s + hidden_bytes / (hw.pp_link_bytes_s * f.link_efficiency)
    return Work(weights_s, attention_s, elementwise_s, allreduce_s, lm_head_s, handoff_s)
