"""How the plan is served: paths, Triton batching and streaming choices.

These are the operator's choices that the emitters read from the plan; they do not
change the memory model.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ServingInfo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    hf_model_dir: str = "./hf_model"
    checkpoint_dir: str = "./trtllm_checkpoint"
    engine_dir: str = "./engines"
    tokenizer_dir: str = "./hf_model"
    decoupled: bool = False  # streaming responses (Triton decoupled transaction policy)
    bls: bool = False  # also emit tensorrt_llm_bls
    batching_strategy: str = "inflight_fused_batching"
    max_queue_delay_microseconds: int = 0
    preprocessing_instances: int = 1
    postprocessing_instances: int = 1
