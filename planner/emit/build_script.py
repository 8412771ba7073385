"""build.sh: TensorRT-LLM checkpoint conversion (or ModelOpt quantization), then trtllm-build.

Every flag comes from the plan and is checked against the pinned version's profile;
every user string is shell-quoted by the template.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.emit.templating import render
from planner.errors import InputError, PlannerError
from planner.plan import Plan
from planner.target import Profile, load_profile

DTYPE_NAMES = {"fp16": "float16", "bf16": "bfloat16", "fp32": "float32"}
# Schemes ModelOpt's quantize.py produces (calibrated); the rest go through convert_checkpoint.py
MODELOPT_SCHEMES = {"fp8", "int8_sq", "int4_awq", "w4a8_awq", "nvfp4"}
WEIGHT_ONLY = {"int8_wo": "int8", "int4_wo": "int4"}
# FP8 context FMHA needs an FP8 KV cache and FP8 activations
FP8_ACTIVATION_SCHEMES = {"fp8", "nvfp4", "w4a8_awq"}


@dataclass(frozen=True)
class Step:
    """One command: a program and its (flag, value) pairs; value None means a bare switch."""

    program: list[str]
    args: list[tuple[str, str | None]]


def _check(flags, allowed, tool: str, version: str) -> None:
    unknown = [f for f, _ in flags if f not in allowed]
    if unknown:  # a bug in this module: never write a flag the pinned release lacks
        raise RuntimeError(f"{tool} flags {unknown} are unknown to TensorRT-LLM {version}")


def checkpoint_step(plan: Plan, profile: Profile, script: str) -> Step:
    q = plan.quantization
    dtype = DTYPE_NAMES[q.activation_dtype]
    layout = plan.layout
    kv_quant = q.kv_cache in ("fp8", "int8")
    if q.weights in MODELOPT_SCHEMES or kv_quant:
        args: list[tuple[str, str | None]] = [
            ("--model_dir", "$HF_MODEL_DIR"), ("--output_dir", "$CHECKPOINT_DIR"), ("--dtype", dtype),
            ("--qformat", profile.quantize.qformats[q.weights]),
        ]
        if kv_quant:
            args.append(("--kv_cache_dtype", q.kv_cache))
        if q.weights in ("int4_awq", "w4a8_awq"):
            args.append(("--awq_block_size", str(q.group_size or 128)))
        args += [("--calib_size", "512"), ("--tp_size", str(layout.tp)), ("--pp_size", str(layout.pp))]
        _check(args, profile.quantize.flags, "quantize.py", profile.version)
        return Step(["python3", f"$TRTLLM_DIR/{profile.quantize.script}"], args)
    args = [("--model_dir", "$HF_MODEL_DIR"), ("--output_dir", "$CHECKPOINT_DIR"), ("--dtype", dtype),
            ("--tp_size", str(layout.tp)), ("--pp_size", str(layout.pp))]
    if q.weights in WEIGHT_ONLY:
        args += [("--use_weight_only", None), ("--weight_only_precision", WEIGHT_ONLY[q.weights])]
    elif q.weights == "int4_gptq":
        args += [("--use_weight_only", None), ("--weight_only_precision", "int4_gptq"), ("--per_group", None),
                 ("--quant_ckpt_path", "$GPTQ_CHECKPOINT")]
    if plan.runtime.use_parallel_embedding:
        args.append(("--use_parallel_embedding", None))
    args.append(("--workers", str(min(layout.tp * layout.pp, plan.fleet.gpus_per_node))))
    _check(args, profile.convert.flags, "convert_checkpoint.py", profile.version)
    return Step(["python3", f"$TRTLLM_DIR/{script}"], args)


def build_step(plan: Plan, profile: Profile) -> Step:
    w, q, layout = plan.workload, plan.quantization, plan.layout
    fp8_fmha = q.kv_cache == "fp8" and q.weights in FP8_ACTIVATION_SCHEMES
    args: list[tuple[str, str | None]] = [
        ("--checkpoint_dir", "$CHECKPOINT_DIR"),
        ("--output_dir", "$ENGINE_DIR"),
        ("--max_batch_size", str(w.max_batch_size)),
        ("--max_input_len", str(w.max_input_len)),
        ("--max_seq_len", str(w.max_seq_len)),
        ("--max_num_tokens", str(w.max_num_tokens)),
        ("--max_beam_width", str(w.max_beam_width)),
        ("--kv_cache_type", "paged"),
        ("--tokens_per_block", str(plan.runtime.tokens_per_block)),
        ("--gpt_attention_plugin", "auto"),
        ("--gemm_plugin", "auto"),
        ("--context_fmha", "enable"),
        ("--remove_input_padding", "enable"),
        ("--use_paged_context_fmha", "enable"),
        ("--use_fp8_context_fmha", "enable" if fp8_fmha else "disable"),
        ("--workers", str(min(layout.tp * layout.pp, plan.fleet.gpus_per_node))),
    ]
    _check(args, profile.build.flags, profile.build.command, profile.version)
    return Step([profile.build.command], args)


def emit_build_script(plan: Plan) -> dict[str, str]:
    if plan.layout is None:
        raise PlannerError("the plan has no layout (nothing fits), so there is no engine to build", 3)
    profile = load_profile(plan.target.trtllm_version)
    try:
        script = profile.convert_script(plan.model.architecture)
        unsupported = None
    except InputError as exc:
        script, unsupported = None, exc.message
    steps = [] if unsupported else [checkpoint_step(plan, profile, script), build_step(plan, profile)]
    text = render(
        "build.sh.j2", plan=plan, profile=profile, steps=steps, convert_script=script,
        unsupported=unsupported, needs_gptq=plan.quantization.weights == "int4_gptq",
    )
    return {"build.sh": text}
