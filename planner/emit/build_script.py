"""build.sh: TensorRT-LLM checkpoint conversion (or ModelOpt quantization), then trtllm-build.

Every command is written out literally, flag by flag, so an operator (and
`engine_contract.check_build_script`) can read exactly what runs. Flags and choices come
from the release's contract data (`planner/data/trtllm/contract/<version>/`): a flag the
family's script lacks is never written, and the finished text is parsed against the
release's argument parsers before it is returned. Every user string is shell-quoted by the
template.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.emit.templating import render
from planner.engine_contract import ContractError, ReleaseContract, ScriptContract, check_build_script, load_contract
from planner.engine_rules import CONVERT_KV_FLAGS, CONVERT_WEIGHT_ONLY, checkpoint_route, no_converter_reason
from planner.errors import PlannerError
from planner.plan import Plan
from planner.target import Profile, load_profile

DTYPE_NAMES = {"fp16": "float16", "bf16": "bfloat16", "fp32": "float32"}
# FP8 context FMHA needs an FP8 KV cache and FP8 activations
FP8_ACTIVATION_SCHEMES = {"fp8", "nvfp4", "w4a8_awq"}


@dataclass(frozen=True)
class Step:
    """One command: a program and its (flag, value) pairs; value None means a bare switch."""

    program: list[str]
    args: list[tuple[str, str | None]]
    # The release contract of the engine-flow script it runs (None for the PyTorch flow's commands)
    script: ScriptContract | None = None
    # Where build.sh looks for the script when the release's layout is not established
    candidates: tuple[str, ...] = ()


def _check(step: Step, version: str) -> None:
    unknown = [f for f, _ in step.args if not step.script.accepts(f)]
    if unknown:  # a bug in this module: never write a flag the pinned release lacks
        raise RuntimeError(f"{step.script.script} flags {unknown} are unknown to TensorRT-LLM {version}")


def _program(script: ScriptContract) -> tuple[list[str], tuple[str, ...]]:
    if script.path_verified or len(script.paths) == 1:
        return ["python3", f"$TRTLLM_DIR/{script.paths[0]}"], ()
    return ["python3", "$CONVERT_SCRIPT"], tuple(script.paths)


def quantize_step(plan: Plan, profile: Profile, contract: ReleaseContract) -> Step:
    q, layout = plan.quantization, plan.layout
    script = contract.script("quantize")
    args: list[tuple[str, str | None]] = [
        ("--model_dir", "$HF_MODEL_DIR"), ("--output_dir", "$CHECKPOINT_DIR"),
        ("--dtype", DTYPE_NAMES[q.activation_dtype]), ("--qformat", profile.quantize.qformats[q.weights]),
    ]
    if q.kv_cache in CONVERT_KV_FLAGS:
        args.append(("--kv_cache_dtype", q.kv_cache))
    if q.weights in ("int4_awq", "w4a8_awq"):
        args.append(("--awq_block_size", str(q.group_size or 128)))
    args += [("--calib_size", "512"), ("--tp_size", str(layout.tp)), ("--pp_size", str(layout.pp))]
    return Step(["python3", f"$TRTLLM_DIR/{script.paths[0]}"], args, script)


def convert_step(plan: Plan, script: ScriptContract) -> Step:
    """The family's convert_checkpoint.py, with only the flags that script declares."""
    q, layout = plan.quantization, plan.layout
    args: list[tuple[str, str | None]] = []
    if script.accepts("--ckpt-type"):  # Gemma: no default, and a Hugging Face checkpoint is "hf"
        args.append(("--ckpt-type", "hf"))
    # Each flag under the script's own first spelling (Gemma: --model-dir, --output-model-dir)
    args += [(_spelling(script, "--model_dir"), "$HF_MODEL_DIR"),
             (_spelling(script, "--output_dir"), "$CHECKPOINT_DIR"), ("--dtype", DTYPE_NAMES[q.activation_dtype])]
    if script.accepts("--tp_size"):
        args.append(("--tp_size", str(layout.tp)))
    else:  # Gemma: tensor parallelism only, as --world-size
        args.append(("--world-size", str(layout.tp)))
    if script.accepts("--pp_size"):
        args.append(("--pp_size", str(layout.pp)))
    precision = CONVERT_WEIGHT_ONLY.get(q.weights)
    if precision:
        args += [("--use_weight_only", None), ("--weight_only_precision", precision)]
    if q.weights == "int4_gptq":
        args.append(("--per_group", None))
        if script.accepts("--quant_ckpt_path"):  # LLaMA reads the GPTQ tensors from a separate file
            args.append(("--quant_ckpt_path", "$GPTQ_CHECKPOINT"))
    if q.kv_cache in CONVERT_KV_FLAGS:
        args.append((CONVERT_KV_FLAGS[q.kv_cache], None))
    if plan.runtime.use_parallel_embedding:
        args.append(("--use_parallel_embedding", None))
    if script.accepts("--workers"):
        args.append(("--workers", str(min(layout.tp * layout.pp, plan.fleet.gpus_per_node))))
    program, candidates = _program(script)
    return Step(program, args, script, candidates)


def _spelling(script: ScriptContract, name: str) -> str:
    flag = script.flag(name)
    return flag.names[0] if flag else name


def build_step(plan: Plan, contract: ReleaseContract) -> Step:
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
    return Step(["trtllm-build"], args, contract.script("trtllm-build"))


def emit_build_script(plan: Plan) -> dict[str, str]:
    if plan.layout is None:
        raise PlannerError("the plan has no layout (nothing fits), so there is no engine to build", 3)
    version = plan.target.trtllm_version
    profile = load_profile(version)
    contract = load_contract(version)
    if contract is None:
        raise PlannerError(f"no engine-flow contract data for TensorRT-LLM {version}", 1)
    unsupported = no_converter_reason(_family(plan), version)
    steps: list[Step] = []
    converter = contract.converter(plan.model.architecture)
    if not unsupported:
        route = checkpoint_route(plan.quantization.weights, plan.quantization.kv_cache)
        first = quantize_step(plan, profile, contract) if route == "quantize" else convert_step(plan, converter)
        steps = [first, build_step(plan, contract)]
        for step in steps:
            _check(step, version)
    gptq = plan.quantization.weights == "int4_gptq" and not unsupported
    text = render(
        "build.sh.j2", plan=plan, profile=profile, contract=contract, steps=steps, unsupported=unsupported,
        gptq_file=gptq and steps[0].script.accepts("--quant_ckpt_path"),
        gptq_in_model_dir=gptq and not steps[0].script.accepts("--quant_ckpt_path"),
    )
    if steps:
        try:
            check_build_script(text, contract)
        except ContractError as exc:  # a bug here: the text must parse against the release it targets
            raise RuntimeError(f"build.sh does not parse against TensorRT-LLM {version}: {exc}") from exc
    return {"build.sh": text}


def _family(plan: Plan):
    """The little of the plan's model that the contract rules read (they take a ModelSpec-like value)."""
    return _Family(plan.model.name, plan.model.architecture)


@dataclass(frozen=True)
class _Family:
    name: str
    architecture: str
