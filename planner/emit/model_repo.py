"""model_repository/: the Triton models that serve a plan's engine.

Tensors and parameter keys come from the pinned version's profile; values come from
the plan. Python models (preprocessing, postprocessing, tensorrt_llm_bls) get their
`1/model.py` from planner/triton_models/<name>/model.py.
"""

from __future__ import annotations

from pathlib import Path

from planner.emit.templating import render
from planner.errors import PlannerError
from planner.plan import Plan
from planner.target import Profile, load_profile

ROOT = "model_repository"
TRITON_MODELS_DIR = Path(__file__).resolve().parents[1] / "triton_models"

# Where the tensorrt_llm backend's executor worker lives in NVIDIA's trtllm containers
# (the value NVIDIA's tensorrt_llm/config.pbtxt template hard-codes).
EXECUTOR_WORKER = "/opt/tritonserver/backends/tensorrtllm/trtllmExecutorWorker"


def python_model_source(name: str) -> str:
    """The model.py of a Python-backend model; a missing file is an error, never skipped."""
    path = TRITON_MODELS_DIR / name / "model.py"
    if not path.is_file():
        raise PlannerError(
            f"cannot emit model_repository/{name}: {path} is missing "
            f"(the Python backend code for the {name} model)"
        )
    return path.read_text(encoding="utf-8")


def tensorrt_llm_parameters(plan: Plan, profile: Profile) -> list[tuple[str, str]]:
    """Parameter values for the tensorrt_llm model, each key checked against the profile."""
    rt = plan.runtime
    params: list[tuple[str, str]] = [
        ("max_beam_width", str(plan.workload.max_beam_width)),
        ("FORCE_CPU_ONLY_INPUT_TENSORS", "no"),
        ("gpt_model_type", plan.serving.batching_strategy),
        ("gpt_model_path", plan.serving.engine_dir),
        ("batch_scheduler_policy", "guaranteed_no_evict"),
        # float repr is shortest round-trip, so the same plan gives the same bytes
        ("kv_cache_free_gpu_mem_fraction", repr(float(rt.kv_cache_free_gpu_mem_fraction))),
        ("exclude_input_in_output", "true"),
        ("enable_kv_cache_reuse", "false"),
        # chunked context (the engines are built with paged context FMHA, which it needs): prompts fill each
        # step's max_num_tokens in chunks, as the performance model schedules them (llm_args.py says where
        # trtllm-bench does); without it a prompt longer than max_num_tokens is an error. The backend's
        # default is false (tensorrtllm_backend docs/model_config.md).
        ("enable_chunked_context", "true"),
        ("executor_worker_path", EXECUTOR_WORKER),
    ]
    if rt.max_tokens_in_paged_kv_cache is not None:
        params.append(("max_tokens_in_paged_kv_cache", str(rt.max_tokens_in_paged_kv_cache)))
    known = set(profile.triton.tensorrt_llm.parameters)
    unknown = [k for k, _ in params if k not in known]
    if unknown:  # a bug in this module: never write a key the pinned release does not read
        raise RuntimeError(f"tensorrt_llm parameters {unknown} are unknown to TensorRT-LLM {profile.version}")
    return params


def _python_model(plan: Plan, name: str, description: str, io, parameters, instances: int,
                  decoupled: bool | None, batching: str | None = None) -> dict[str, str]:
    """batching: "preferred" (batch up to max_batch_size within the queue delay), "default"
    (dynamic_batching {}), or None (no dynamic batching, as NVIDIA's tensorrt_llm_bls)."""
    return {
        f"{ROOT}/{name}/config.pbtxt": render(
            "model_repository/python_model.pbtxt.j2", plan=plan, name=name, description=description, io=io,
            parameters=parameters, instances=instances, decoupled=decoupled, batching=batching,
        ),
        f"{ROOT}/{name}/1/model.py": python_model_source(name),
    }


def emit_model_repository(plan: Plan) -> dict[str, str]:
    if plan.layout is None:
        raise PlannerError("the plan has no layout (nothing fits), so there is no model repository to emit", 3)
    profile = load_profile(plan.target.trtllm_version)
    tri = profile.triton
    serving = plan.serving
    files: dict[str, str] = {}
    files[f"{ROOT}/tensorrt_llm/config.pbtxt"] = render(
        "model_repository/tensorrt_llm.pbtxt.j2", plan=plan, profile=profile, io=tri.tensorrt_llm,
        parameters=tensorrt_llm_parameters(plan, profile),
    )
    # the engine files go elsewhere (gpt_model_path); Triton still wants a version directory
    files[f"{ROOT}/tensorrt_llm/1/.gitkeep"] = ""
    files.update(_python_model(
        plan, "preprocessing", "preprocessing: text to token ids (Python backend)", tri.preprocessing,
        [("tokenizer_dir", serving.tokenizer_dir), ("add_special_tokens", "true")],
        serving.preprocessing_instances, None, batching="preferred",
    ))
    files.update(_python_model(
        plan, "postprocessing", "postprocessing: token ids to text (Python backend)", tri.postprocessing,
        [("tokenizer_dir", serving.tokenizer_dir), ("skip_special_tokens", "true")],
        serving.postprocessing_instances, None, batching="default",
    ))
    files[f"{ROOT}/ensemble/config.pbtxt"] = render(
        "model_repository/ensemble.pbtxt.j2", plan=plan, ens=tri.ensemble,
        steps=("preprocessing", "tensorrt_llm", "postprocessing"),
    )
    files[f"{ROOT}/ensemble/1/.gitkeep"] = ""
    if serving.bls:
        files.update(_python_model(
            plan, "tensorrt_llm_bls", "tensorrt_llm_bls: business-logic scripting alternative to the ensemble",
            tri.tensorrt_llm_bls,
            [("tensorrt_llm_model_name", "tensorrt_llm"), ("accumulate_tokens", "false")],
            1, serving.decoupled,
        ))
    return files
