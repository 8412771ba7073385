"""The committed example outputs in model_repository_examples/ and how to regenerate them.

Refresh with `python scripts/regenerate_examples.py` or `PLANNER_UPDATE_GOLDEN=1 pytest
tests/test_emit_golden.py`; the golden test fails when the committed files drift.
"""

from __future__ import annotations

from pathlib import Path

from planner.emit import render_all

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "model_repository_examples"

# directory name -> make_plan arguments
EXAMPLES: dict[str, dict] = {
    "llama-3.1-8b_l40sx1": {"model": "llama-3.1-8b", "gpus": "l40sx1"},
    "llama-3.1-70b_fp8_h100x8": {"model": "llama-3.1-70b", "gpus": "h100x8", "quant": "fp8"},
    "llama-3.1-405b_2xh100x8": {"model": "llama-3.1-405b", "gpus": "2xh100x8"},
}


def render_example(name: str) -> dict[str, str]:
    from planner.api import make_plan

    return render_all(make_plan(**EXAMPLES[name]))


def regenerate(root: Path = EXAMPLES_DIR) -> list[Path]:
    from planner.emit.writer import write_all

    written: list[Path] = []
    for name in EXAMPLES:
        written += write_all(render_example(name), root / name, force=True)
    return written
