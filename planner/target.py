"""The TensorRT-LLM release a plan targets."""

DEFAULT_TRTLLM_VERSION = "0.19.0"


def check_version(version: str) -> None:
    """Placeholder until version profiles land: accept only the default."""
    from planner.errors import InputError

    if version != DEFAULT_TRTLLM_VERSION:
        raise InputError(f"unknown TensorRT-LLM version {version!r}; available: {DEFAULT_TRTLLM_VERSION}")
