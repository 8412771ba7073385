"""KV cache bytes per token, layer by layer, and the attention windows the runtime is told.

Each decoder layer caches `tensors.kv_elements_per_token` values per token. Layers whose
attention sees a bounded span differ by runtime:

- Sliding-window layers (Gemma 3, gpt-oss, Gemma 4). TensorRT-LLM's KV cache manager keeps
  one block pool per attention-window size ("variable sliding window attention", VSWA) when
  it is given a per-layer window vector (`KvCacheConfig.max_attention_window` in the LLM API
  of the PyTorch flow; the vector repeats over the layers). A sequence then holds at most
  `window` tokens in a sliding layer's pool (BlockManager: maxTokenNum = windowSize + sink
  tokens, plus one block only with beam search), and the memory is split between the pools
  in proportion to window x cache size per token (BlockManager::calculateWindowSizeToShare,
  cpp/tensorrt_llm/batch_manager/kvCacheManager.cpp; docs/source/features/kvcache.md:
  "A separate pool is created for each combination of attention window size and number of
  heads"). So every pool runs out at the same number of sequences, and the pool behaves as
  if each token cost the full layers' bytes plus the sliding layers' bytes x window / seq len.
  The planner assumes this in the PyTorch flow and records the vector in the plan
  (`kv_cache.attention_windows`) for model.yaml. The engine flow here counts every layer in
  full: none of the windowed families has an engine converter, and Gemma 2 has always been
  planned with full-length KV on it.
- Chunked-attention layers (Llama 4, attention_chunk_size 8192). The runtime's KV manager
  knows windows, not chunks; the chunk is a mask inside the attention kernel. No published
  configuration sizes their KV below the sequence, so both flows count them in full.
- MLA layers cache one latent per token (tensors.kv_elements_per_token).
"""

from __future__ import annotations

from planner import tensors
from planner.quant import DTYPE_BYTES
from planner.specs import ModelSpec


def kv_window(model: ModelSpec, layer: int, windowed: bool) -> int | None:
    """Tokens of one sequence that `layer` keeps in the KV cache at most (None: all of them)."""
    if windowed and model.attention_kind(layer) == "sliding":
        return model.sliding_window
    return None


def kv_bytes_per_token(model: ModelSpec, layers: int, tp: int, kv_dtype: str, first_layer: int = 0,
                       seq_len: int | None = None, windowed: bool = False) -> int:
    """KV bytes per token on one rank of a stage holding layers first_layer .. first_layer + layers - 1.

    With `windowed` and a `seq_len`, a sliding layer of window W costs its bytes x min(W, seq_len)
    / seq_len (rounded up over the stage): the pool's size in tokens of full-length sequences.
    """
    nbytes = DTYPE_BYTES[kv_dtype]
    full = 0
    bounded = 0  # bytes x window, summed over windowed layers
    for rep, count in tensors.layer_groups(model, first_layer, layers):
        per_layer = tensors.kv_elements_per_token(model, rep, tp) * nbytes * count
        window = kv_window(model, rep, windowed)
        if window is None or seq_len is None or window >= seq_len:
            full += per_layer
        else:
            bounded += per_layer * window
    return full + (-(-bounded // seq_len) if bounded else 0)


def attention_windows(model: ModelSpec, max_seq_len: int) -> list[int] | None:
    """The per-layer `max_attention_window` vector (one period of the layer pattern) that makes the
    runtime keep sliding layers to their window; None when every layer attends to the whole sequence."""
    if "sliding" not in model.attention_pattern or not model.sliding_window:
        return None
    if model.sliding_window >= max_seq_len:
        return None
    return [min(model.sliding_window, max_seq_len) if kind == "sliding" else max_seq_len
            for kind in model.attention_pattern]
