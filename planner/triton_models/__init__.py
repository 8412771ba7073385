"""Python backend model code shipped with the planner.

Each sub-package holds a ``model.py`` meant to be copied to
``<model_repository>/<model>/1/model.py``; it runs inside Triton's Python backend
and is never imported by the planner itself.
"""

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent
NAMES = ("preprocessing", "postprocessing", "tensorrt_llm_bls", "tensorrt_llm_standin")


def model_file(name: str) -> Path:
    """Path of the ``model.py`` for ``name`` (one of NAMES)."""
    if name not in NAMES:
        raise KeyError(f"no shipped Triton model {name!r}; known: {', '.join(NAMES)}")
    return MODELS_DIR / name / "model.py"
