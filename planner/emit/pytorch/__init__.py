"""Artifacts of the PyTorch (LLM API) flow: the llmapi model repository, weight preparation, launch.

No engine is built: Triton's Python `tensorrt_llm` model of the release's llmapi repository
constructs `LLM(**model.yaml)` at load time. Everything here reads the plan and the release's
`pytorch` profile (planner/data/trtllm/<version>.yaml).
"""

from __future__ import annotations

from planner.emit.pytorch.build_script import emit_build_script
from planner.emit.pytorch.llm_args import llm_arguments
from planner.emit.pytorch.model_repo import emit_model_repository

__all__ = ["emit_build_script", "emit_model_repository", "llm_arguments"]
