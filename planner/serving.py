"""How the plan is served: paths, Triton batching and streaming choices.

These are the operator's choices that the emitters read from the plan; they do not
change the memory model.
"""


import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

# A container image reference, [registry[:port]/]path[:tag][@algorithm:digest] (the OCI
# distribution reference grammar, loosely). Checked so that it can appear where nothing can
# quote it (a Containerfile's FROM).
IMAGE_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*(:[0-9]+/[A-Za-z0-9._/-]+)?"
                       r"(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?(@[a-z0-9]+:[a-f0-9]{32,})?")


class ServingInfo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    hf_model_dir: str = "./hf_model"
    checkpoint_dir: str = "./trtllm_checkpoint"
    engine_dir: str = "./engines"
    tokenizer_dir: str = "./hf_model"
    decoupled: bool = False  # streaming responses (Triton decoupled transaction policy)
    bls: bool = False  # also emit tensorrt_llm_bls
    batching_strategy: str = "inflight_fused_batching"
    max_queue_delay_microseconds: int = Field(default=0, ge=0)
    preprocessing_instances: int = Field(default=1, ge=1)
    postprocessing_instances: int = Field(default=1, ge=1)
    image: str | None = None  # Triton TensorRT-LLM container for deploy/ (None: the version profile's)

    @field_validator("image")
    @classmethod
    def _image_reference(cls, value: str | None) -> str | None:
        if value is not None and not IMAGE_REF.fullmatch(value):
            raise ValueError(f"{value!r} is not a container image reference (registry/path:tag)")
        return value
