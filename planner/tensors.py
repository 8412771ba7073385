"""The weight tensors one tensor-parallel rank holds, by kind.

Linear layers are what quantization changes; everything else ("plain" parameters:
norms, biases, the MoE router) stays in the activation dtype. Shapes follow the
TensorRT-LLM engine flow: column-parallel layers (q/k/v, gate/up, expert fc) split their
output features by TP, row-parallel layers (attention output, down projection) split their
input features, row-parallel biases are replicated, and MoE experts are split by TP
(TensorRT-LLM's default moe_tp_size = tp_size when no expert parallelism is asked for).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from planner.specs import ModelSpec


@dataclass(frozen=True)
class Linear:
    in_features: int
    out_features: int
    count: int = 1  # identical copies per layer (MoE experts)


@dataclass(frozen=True)
class LayerTensors:
    linears: tuple[Linear, ...]
    plain: int  # parameters kept in the activation dtype

    @property
    def linear_params(self) -> int:
        return sum(lin.in_features * lin.out_features * lin.count for lin in self.linears)

    @property
    def params(self) -> int:
        return self.linear_params + self.plain


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def kv_heads_per_rank(model: ModelSpec, tp: int) -> int:
    """KV heads on one rank; replicated when TP exceeds the KV head count."""
    return max(1, _cdiv(model.num_kv_heads, tp))


def _norm_params(model: ModelSpec, width: int) -> int:
    return width * (2 if model.norm == "layernorm" else 1)


def _attention(model: ModelSpec, tp: int) -> tuple[list[Linear], int]:
    h = model.hidden_size
    if model.mla:
        m = model.mla
        heads = model.num_attention_heads // tp
        linears = [Linear(h, m.kv_lora_rank + m.qk_rope_head_dim)]  # kv_a, replicated
        plain = m.kv_lora_rank  # kv_a_layernorm (RMSNorm)
        if m.q_lora_rank:
            q_out = heads * (m.qk_nope_head_dim + m.qk_rope_head_dim)
            linears += [Linear(h, m.q_lora_rank), Linear(m.q_lora_rank, q_out)]
            plain += m.q_lora_rank  # q_a_layernorm
        else:
            linears.append(Linear(h, heads * (m.qk_nope_head_dim + m.qk_rope_head_dim)))
        linears += [
            Linear(m.kv_lora_rank, heads * (m.qk_nope_head_dim + m.v_head_dim)),
            Linear(heads * m.v_head_dim, h),
        ]
        return linears, plain
    q_out = model.num_attention_heads * model.head_dim // tp
    kv_out = kv_heads_per_rank(model, tp) * model.head_dim
    linears = [Linear(h, q_out + 2 * kv_out), Linear(q_out, h)]
    plain = (q_out + 2 * kv_out if model.qkv_bias else 0) + (h if model.o_bias else 0)
    return linears, plain


def _mlp(model: ModelSpec, inter: int, tp: int, count: int = 1) -> tuple[list[Linear], int]:
    h = model.hidden_size
    inter_rank = _cdiv(inter, tp)
    up_out = 2 * inter_rank if model.mlp == "gated" else inter_rank
    linears = [Linear(h, up_out, count), Linear(inter_rank, h, count)]
    plain = (up_out + h) * count if model.mlp_bias else 0
    return linears, plain


def layer_tensors(model: ModelSpec, layer: int, tp: int) -> LayerTensors:
    """Weights of decoder layer `layer` (0-based) on one TP rank."""
    linears, plain = _attention(model, tp)
    plain += model.norms_per_layer * _norm_params(model, model.hidden_size)
    moe = model.moe
    if moe is None or layer < moe.first_k_dense_layers:
        mlp_lin, mlp_plain = _mlp(model, model.intermediate_size, tp)
    else:
        mlp_lin, mlp_plain = _mlp(model, moe.expert_intermediate_size, tp, moe.num_experts)
        if moe.shared_experts:
            shared_lin, shared_plain = _mlp(model, moe.shared_experts * moe.shared_intermediate_size, tp)
            mlp_lin += shared_lin
            mlp_plain += shared_plain
        mlp_plain += model.hidden_size * moe.num_experts + (moe.num_experts if moe.router_bias else 0)
    return LayerTensors(tuple(linears + mlp_lin), plain + mlp_plain)


def embedding_params(model: ModelSpec, tp: int, parallel: bool) -> int:
    rows = _cdiv(model.vocab_size, tp) if parallel else model.vocab_size
    return rows * model.hidden_size


def lm_head_params(model: ModelSpec, tp: int) -> int:
    """LM head on one rank of the last stage; TensorRT-LLM pads the vocabulary to a multiple of TP."""
    rows = _cdiv(model.vocab_size, tp)
    return rows * model.hidden_size + (rows if model.lm_head_bias else 0)


def final_norm_params(model: ModelSpec) -> int:
    return _norm_params(model, model.hidden_size) if model.final_norm else 0


@lru_cache(maxsize=256)
def total_params(model: ModelSpec) -> int:
    """Unsharded parameter count of the served model (MTP heads excluded; tied embeddings once)."""
    layers = sum(layer_tensors(model, i, 1).params for i in range(model.num_layers))
    embed = model.vocab_size * model.hidden_size
    head = 0 if model.tie_word_embeddings else lm_head_params(model, 1)
    if model.tie_word_embeddings and model.lm_head_bias:
        head = model.vocab_size
    return layers + embed + head + final_norm_params(model)
