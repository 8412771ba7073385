"""build.sh for the PyTorch flow: prepare the weights the LLM API loads; no engine is built.

When the plan quantizes a 16-bit checkpoint, ModelOpt's post-training quantization exports a
quantized Hugging Face checkpoint (the path TensorRT-LLM documents for its PyTorch backend);
when the checkpoint is already in the plan's format, only a check runs. An optional
`trtllm-serve` line serves the same LLM() options outside Triton. Every flag is checked
against the release's profile.
"""

from __future__ import annotations

from planner.emit.build_script import Step
from planner.emit.pytorch.llm_args import llm_arguments, model_path, pytorch_spec
from planner.emit.templating import render
from planner.errors import PlannerError
from planner.plan import Plan

OPTIONS_FILE = "llm_api_options.yaml"
UNQUANTIZED = {"fp16", "bf16", "fp32"}
CALIB_SIZE = "512"  # hf_ptq.py's default calibration sample count, written out so the log shows it


def native_scheme(plan: Plan) -> str | None:
    """The weight scheme the checkpoint is published in: the plan's record of a pre-quantized
    checkpoint, else the family's published format (profile `native_quantization`)."""
    if plan.quantization.checkpoint is not None:
        return plan.quantization.weights
    _, spec = pytorch_spec(plan)
    return spec.native_quantization.get(plan.model.architecture.lower())


def needs_ptq(plan: Plan) -> bool:
    """ModelOpt runs when the plan's weights or KV cache are quantized and the checkpoint is not."""
    q = plan.quantization
    if native_scheme(plan) == q.weights and (q.kv_cache != "fp8" or q.checkpoint is not None):
        return False  # served as published (a pre-quantized checkpoint brings its own KV scales)
    return q.weights not in UNQUANTIZED or q.kv_cache == "fp8"


def ptq_step(plan: Plan) -> Step:
    _, spec = pytorch_spec(plan)
    qz, q = spec.quantize, plan.quantization
    if q.weights not in qz.qformats and q.weights not in UNQUANTIZED:
        raise PlannerError(f"ModelOpt cannot export {q.weights} for the PyTorch flow")
    args: list[tuple[str, str | None]] = [
        ("--pyt_ckpt_path", "$HF_MODEL_DIR"),
        # full_prec keeps 16-bit weights and quantizes only the KV cache
        ("--qformat", qz.qformats.get(q.weights, "full_prec")),
    ]
    if q.kv_cache in qz.kv_cache_qformats:
        args.append(("--kv_cache_qformat", qz.kv_cache_qformats[q.kv_cache]))
    args += [("--export_path", "$CHECKPOINT_DIR"), ("--calib_size", CALIB_SIZE)]
    unknown = [f for f, _ in args if f not in qz.flags]
    if unknown:  # a bug in this module: never write a flag the pinned tools lack
        raise RuntimeError(f"hf_ptq.py flags {unknown} are not in the profile")
    return Step(["python3", f"$MODELOPT_DIR/{qz.script}"], args)


def serve_step(plan: Plan) -> Step:
    _, spec = pytorch_spec(plan)
    args: list[tuple[str, str | None]] = [("--backend", "pytorch")]
    if plan.serving.tokenizer_dir != plan.serving.hf_model_dir:
        args.append(("--tokenizer", plan.serving.tokenizer_dir))
    args += [("--host", "0.0.0.0"), ("--port", "8000"), ("--extra_llm_api_options", OPTIONS_FILE)]
    unknown = [f for f, _ in args if f not in spec.serve_flags]
    if unknown:
        raise RuntimeError(f"{spec.serve_command} flags {unknown} are not in the profile")
    return Step([spec.serve_command, "$MODEL_DIR"], args)


def serve_options(plan: Plan) -> str:
    """trtllm-serve's --extra_llm_api_options file: the LLM() arguments but the model paths."""
    import yaml

    args = {k: v for k, v in llm_arguments(plan).items() if k not in ("model", "tokenizer", "backend")}
    head = "# LLM() options for trtllm-serve --extra_llm_api_options (the same as model.yaml, without triton_config)\n"
    return head + yaml.safe_dump(args, sort_keys=False, default_flow_style=None, width=100)


def emit_build_script(plan: Plan) -> dict[str, str]:
    if plan.layout is None:
        raise PlannerError("the plan has no layout (nothing fits), so there are no weights to prepare", 3)
    profile, spec = pytorch_spec(plan)
    text = render(
        "pytorch/build.sh.j2", plan=plan, profile=profile, spec=spec,
        ptq=ptq_step(plan) if needs_ptq(plan) else None, native=native_scheme(plan),
        serve=serve_step(plan), options_file=OPTIONS_FILE, model_dir=model_path(plan),
        world_size=plan.layout.tp * plan.layout.pp,
    )
    return {"build.sh": text, OPTIONS_FILE: serve_options(plan)}
