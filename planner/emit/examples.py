"""The committed example outputs in model_repository_examples/ and how to regenerate them.

Refresh with `python scripts/regenerate_examples.py` or `PLANNER_UPDATE_GOLDEN=1 pytest
tests/test_emit_golden.py`; the golden test fails when the committed files drift.
"""

from __future__ import annotations

from pathlib import Path

from planner.emit import render_all

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "model_repository_examples"

ENGINE_0_19 = {"flow": "engine", "trtllm_version": "0.19.0"}

# directory name -> make_plan arguments
EXAMPLES: dict[str, dict] = {
    # engine flow (trtllm-build, the inflight_batcher_llm ensemble) on TensorRT-LLM 0.19.0
    "llama-3.1-8b_l40sx1": {"model": "llama-3.1-8b", "gpus": "l40sx1", **ENGINE_0_19},
    "llama-3.1-70b_fp8_h100x8": {"model": "llama-3.1-70b", "gpus": "h100x8", "quant": "fp8", **ENGINE_0_19},
    "llama-3.1-405b_2xh100x8": {"model": "llama-3.1-405b", "gpus": "2xh100x8", **ENGINE_0_19},
    # engine flow on TensorRT-LLM 1.2.1: Gemma's own converter flags (--ckpt-type hf, --world-size, no PP)
    "engine-1.2.1_gemma-2-27b_h100x2": {"model": "gemma-2-27b", "gpus": "h100x2", "tp": 2, "flow": "engine",
                                        "trtllm_version": "1.2.1"},
    # PyTorch flow (the default target: TensorRT-LLM 1.2.1's LLM API, the llmapi repository)
    "pytorch_llama-3.1-70b_h100x8": {"model": "llama-3.1-70b", "gpus": "h100x8"},
    "pytorch_llama-3.1-8b_fp8_h100x1": {"model": "llama-3.1-8b", "gpus": "h100x1", "quant": "fp8",
                                        "kv_cache_dtype": "fp8"},
    "pytorch_deepseek-v3_fp8_h200x8": {"model": "deepseek-v3", "gpus": "h200x8"},
}


def render_example(name: str) -> dict[str, str]:
    from planner.api import make_plan

    return render_all(make_plan(**EXAMPLES[name]))


def regenerate(root: Path = EXAMPLES_DIR) -> list[Path]:
    """Write every example as `planner plan --out` would, marker included, so that `--force`
    (which replaces only the planner's own output) and `planner diff` work on them."""
    import shutil

    from planner.emit.writer import MARKER, write_all

    written: list[Path] = []
    for name in EXAMPLES:
        target = root / name
        if target.is_dir() and not (target / MARKER).is_file():
            shutil.rmtree(target)  # an example committed before the writer kept a marker
        written += write_all(render_example(name), target, force=True)
    return written
