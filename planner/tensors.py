"""The weight tensors one tensor-parallel rank holds, by kind.

Linear layers are what quantization changes; everything else ("plain" parameters:
norms, biases, the MoE router) stays in the activation dtype. Shapes follow the
TensorRT-LLM engine flow: column-parallel layers (q/k/v, gate/up, expert fc) split their
output features by TP, row-parallel layers (attention output, down projection) split their
input features, row-parallel biases are replicated, and MoE experts are split by TP
(TensorRT-LLM's default moe_tp_size = tp_size when no expert parallelism is asked for).

The PyTorch flow adds two MoE layouts inside a TP group of size tp (`layer_tensors(..., ep,
attention_dp)`), read in NVIDIA/TensorRT-LLM tensorrt_llm/mapping.py (commit 05ebebb2: tp_size =
moe_tp_size x moe_ep_size; ep_experts gives each EP rank num_experts / moe_ep_size whole experts),
docs/source/features/parallel-strategy.md (commit 65b31db1) and
tensorrt_llm/_torch/models/modeling_deepseekv3.py (commit a43cf9e3):
- expert parallelism: num_experts / ep experts per rank, each split over moe_tp = tp / ep ranks;
- attention data parallelism: every rank holds the whole attention (no TP split, "All GEMM weights
  are replicated on every GPU"); the dense MLP layers and the shared experts run with TP 1
  (DeepseekV3DecoderLayer._compute_mlp_tp_size and Deepseekv3MoE._compute_shared_expert_tp_size
  return 1 under attention DP: "the MLP also uses DP instead of TP"). The planner applies the
  DeepSeek rule to every MoE family. Routed experts stay split over tp = moe_tp x moe_ep.

Layers differ by position in the families that interleave MoE and dense layers (Llama 4,
Qwen's decoder_sparse_step) or give full-attention layers their own head shape (Gemma 4);
`layer_groups` names the distinct shapes so that callers sum each once.
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
    kind: str = "attention"  # a CheckpointQuant.unquantized kind: attention, attention_output, dense_mlp, ...


@dataclass(frozen=True)
class LayerTensors:
    linears: tuple[Linear, ...]  # the linears the plan's weight scheme stores
    plain: int  # parameters kept in the activation dtype (norms, biases, router, unquantized linears)

    @property
    def linear_params(self) -> int:
        return sum(lin.in_features * lin.out_features * lin.count for lin in self.linears)

    @property
    def params(self) -> int:
        return self.linear_params + self.plain


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def kv_heads_per_rank(model: ModelSpec, tp: int, layer: int = 0) -> int:
    """KV heads of `layer` on one rank; replicated when TP exceeds the KV head count."""
    return max(1, _cdiv(layer_kv_heads(model, layer), tp))


def layer_kv_heads(model: ModelSpec, layer: int) -> int:
    if model.full_kv_heads and model.attention_kind(layer) == "full":
        return model.full_kv_heads
    return model.num_kv_heads


def layer_head_dim(model: ModelSpec, layer: int) -> int:
    if model.full_head_dim and model.attention_kind(layer) == "full":
        return model.full_head_dim
    return model.head_dim


def kv_elements_per_token(model: ModelSpec, layer: int, tp: int) -> int:
    """Values one token adds to `layer`'s KV cache on one rank.

    Keys and values per KV head, split by TP (replicated beyond the KV head count); MLA caches
    one compressed latent plus the decoupled RoPE key, whole on every rank (TensorRT-LLM's MLA
    keeps the latent unsplit under attention TP). Gemma 4's k_eq_v layers are counted with K
    and V too: the runtime's self-attention pools store both (KV factor 2; only a K-only cache
    type stores one, WindowBlockManager in kvCacheManager.cpp).
    """
    if model.mla:
        return model.mla.kv_lora_rank + model.mla.qk_rope_head_dim
    return 2 * kv_heads_per_rank(model, tp, layer) * layer_head_dim(model, layer)


def _norm_params(model: ModelSpec, width: int) -> int:
    return width * (2 if model.norm == "layernorm" else 1)


def _attention(model: ModelSpec, layer: int, tp: int) -> tuple[list[Linear], int]:
    h = model.hidden_size
    heads = model.num_attention_heads // tp
    sinks = heads if model.attention_sinks else 0  # one sink logit per head, split with the heads
    if model.mla:
        m = model.mla
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
            Linear(heads * m.v_head_dim, h, kind="attention_output"),
        ]
        return linears, plain + sinks
    head_dim = layer_head_dim(model, layer)
    q_out = heads * head_dim
    kv_heads = kv_heads_per_rank(model, tp, layer)
    # Gemma 4 full layers with k_eq_v have no v_proj: the key projection serves as the value.
    kv_out = kv_heads * head_dim * (1 if model.full_k_eq_v and model.attention_kind(layer) == "full" else 2)
    linears = [Linear(h, q_out + kv_out), Linear(q_out, h, kind="attention_output")]
    plain = (q_out + kv_out if model.qkv_bias else 0) + (h if model.o_bias else 0) + sinks
    if model.qk_norm:  # one RMSNorm weight of head_dim each for queries and keys, shared by all heads
        plain += 2 * head_dim
    return linears, plain


def _mlp(model: ModelSpec, inter: int, tp: int, count: int = 1, kind: str = "dense_mlp",
         bias: bool | None = None) -> tuple[list[Linear], int]:
    h = model.hidden_size
    inter_rank = _cdiv(inter, tp)
    up_out = 2 * inter_rank if model.mlp == "gated" else inter_rank
    linears = [Linear(h, up_out, count, kind), Linear(inter_rank, h, count, kind)]
    plain = (up_out + h) * count if (model.mlp_bias if bias is None else bias) else 0
    return linears, plain


def _unquantized(model: ModelSpec) -> frozenset[str]:
    return frozenset(model.checkpoint_quant.unquantized) if model.checkpoint_quant else frozenset()


@lru_cache(maxsize=1024)
def layer_tensors(model: ModelSpec, layer: int, tp: int, ep: int = 1, attention_dp: bool = False) -> LayerTensors:
    """Weights of decoder layer `layer` (0-based) on one TP rank.

    `ep` ranks of the TP group share the routed experts (each holds num_experts / ep of them, split
    over tp / ep ranks); with `attention_dp` the attention, dense MLP and shared experts are whole on
    every rank (see the module docstring). Linears a pre-quantized checkpoint leaves unquantized
    (CheckpointQuant.unquantized) are counted with the plain parameters, which stay in the activation dtype.
    """
    dense_tp = 1 if attention_dp else tp  # attention, dense MLP and shared experts
    linears, plain = _attention(model, layer, dense_tp)
    plain += model.norms_per_layer * _norm_params(model, model.hidden_size) + model.scalars_per_layer
    moe = model.moe
    if moe is None or not model.is_moe_layer(layer):
        mlp_lin, mlp_plain = _mlp(model, model.intermediate_size, dense_tp)
    else:
        mlp_lin, mlp_plain = _mlp(model, moe.expert_intermediate_size, tp // ep, _cdiv(moe.num_experts, ep),
                                  "experts", bias=moe.expert_bias or model.mlp_bias)
        if moe.shared_experts:
            shared_lin, shared_plain = _mlp(model, moe.shared_experts * moe.shared_intermediate_size, dense_tp,
                                            kind="shared_experts")
            mlp_lin += shared_lin
            mlp_plain += shared_plain
        # the router stays in the activation dtype under every scheme
        mlp_plain += model.hidden_size * moe.num_experts + (moe.num_experts if moe.router_bias else 0)
    keep = _unquantized(model)
    quantized = [lin for lin in linears + mlp_lin if lin.kind not in keep]
    plain += sum(lin.in_features * lin.out_features * lin.count for lin in linears + mlp_lin if lin.kind in keep)
    return LayerTensors(tuple(quantized), plain + mlp_plain)


def layer_key(model: ModelSpec, layer: int) -> tuple:
    """Layers with equal keys hold identical tensors and identical KV shapes."""
    return (model.is_moe_layer(layer), model.attention_kind(layer))


@lru_cache(maxsize=256)
def _representatives(model: ModelSpec) -> tuple[int, ...]:
    """For each layer, the model's first layer of the same shape."""
    first: dict[tuple, int] = {}
    return tuple(first.setdefault(layer_key(model, layer), layer) for layer in range(model.num_layers))


@lru_cache(maxsize=4096)
def layer_groups(model: ModelSpec, first_layer: int, layers: int) -> tuple[tuple[int, int], ...]:
    """(representative layer, count) for each distinct layer shape among layers
    first_layer .. first_layer + layers - 1. The representative is the model's first layer of
    that shape, so that stages of the same make-up give equal results (and share caches)."""
    reps = _representatives(model)
    counts: dict[int, int] = {}
    for layer in range(first_layer, first_layer + layers):
        # past the last layer (what-if stage sizes) the layer pattern simply continues
        rep = reps[layer] if layer < len(reps) else _rep_of(model, layer_key(model, layer), layer)
        counts[rep] = counts.get(rep, 0) + 1
    return tuple(sorted(counts.items()))


def _rep_of(model: ModelSpec, key: tuple, layer: int) -> int:
    """The model's first layer with shape `key`; `layer` itself when no layer of the model has it."""
    return next((r for r in dict.fromkeys(_representatives(model)) if layer_key(model, r) == key), layer)


@lru_cache(maxsize=256)
def has_dense_layers(model: ModelSpec) -> bool:
    return any(not model.is_moe_layer(i) for i in range(model.num_layers))


def encoder_params(model: ModelSpec) -> int:
    """Vision tower and projector of a multimodal checkpoint, held whole on the first stage."""
    return model.encoder_params


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
    layers = sum(layer_tensors(model, rep, 1).params * n for rep, n in layer_groups(model, 0, model.num_layers))
    embed = model.vocab_size * model.hidden_size
    head = 0 if model.tie_word_embeddings else lm_head_params(model, 1)
    if model.tie_word_embeddings and model.lm_head_bias:
        head = model.vocab_size
    return layers + embed + head + final_norm_params(model) + encoder_params(model)
