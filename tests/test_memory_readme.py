"""The README's worked memory example is what the planner computes (it cannot drift from the code)."""

from __future__ import annotations

from pathlib import Path

from planner.api import make_plan
from planner.memory import MIB

README = Path(__file__).resolve().parent.parent / "README.md"


def test_worked_example_matches_the_plan():
    plan = make_plan("llama-3.1-70b", "h100x8", quant="fp8", kv_cache_dtype="fp8", tp=8, max_batch_size=2048,
                     max_input_len=512, max_output_len=512, flow="engine", trtllm_version="0.19.0")
    (s,) = plan.memory.per_gpu
    rows = {
        "engine (weights)": s.weights_bytes, "execution context": s.activation_bytes,
        "runtime buffers": s.runtime_buffers_bytes, "decoder": s.decoder_bytes, "communication": s.comm_bytes,
        "CUDA context": s.context_bytes, "driver reservation": s.reserved_bytes,
        "free before the pool": s.free_bytes, "KV cache": s.kv_cache_bytes, "total": s.total_bytes,
    }
    text = README.read_text(encoding="utf-8")
    for label, value in rows.items():
        assert f"| {label} | {value / MIB:,.1f} |" in text, label
    assert f"{plan.kv_cache.max_tokens:,} tokens" in text
    assert s.total_bytes == (s.weights_bytes + s.activation_bytes + s.runtime_buffers_bytes + s.decoder_bytes
                             + s.comm_bytes + s.context_bytes + s.reserved_bytes + s.kv_cache_bytes)
