"""What a TensorRT-LLM release's engine flow can build, decided from its contract data.

The layout search and the input checks ask these questions before any memory is estimated:
- can this family's converter split layers into pipeline stages at all (Gemma, Phi cannot)?
- does the release split layers evenly only (0.19.0), so PP must divide the layer count?
- does the release's engine builder refuse this quantization on this GPU (SM 100-119)?
- does the family's converter (or quantize.py) take this quantization, KV cache and option?
- does the family have an engine-flow converter at all (DeepSeek-V3 has none)?

The facts come from `planner.engine_contract` (data read from each release, with sources);
this module holds only the mechanism. `checkpoint_route` is also what build.sh follows, so the
rules and the emitted commands cannot disagree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from planner.errors import InputError
from planner.quant import KV_MIN_CC
from planner.specs import GpuSpec, ModelSpec

if TYPE_CHECKING:  # the contract is read only when an engine-flow plan needs it
    from planner.engine_contract import ReleaseContract, ScriptContract

# Weight schemes ModelOpt's quantize.py calibrates and exports; the rest go through the
# family's convert_checkpoint.py.
MODELOPT_SCHEMES = ("fp8", "int8_sq", "int4_awq", "w4a8_awq", "nvfp4")
# Weight-only schemes as convert_checkpoint.py spells them (--weight_only_precision)
CONVERT_WEIGHT_ONLY = {"int8_wo": "int8", "int4_wo": "int4", "int4_gptq": "int4_gptq"}
# KV cache dtypes as convert_checkpoint.py switches
CONVERT_KV_FLAGS = {"int8": "--int8_kv_cache", "fp8": "--fp8_kv_cache"}
QUANTIZED_KV = ("fp8", "int8")
SIXTEEN_BIT = ("fp32", "fp16", "bf16")  # unquantized: convert_checkpoint.py --dtype (quantize.py full_prec)


def contract(version: str) -> ReleaseContract | None:
    from planner.engine_contract import load_contract

    return load_contract(version)


def checkpoint_route(weights: str, kv_dtype: str) -> str:
    """Which script makes the TensorRT-LLM checkpoint: "quantize" (ModelOpt) or "convert".

    ModelOpt calibrates every scheme it exports and any quantized KV cache; GPTQ weights are
    already quantized, so they always go through the family's converter.
    """
    if weights in MODELOPT_SCHEMES:
        return "quantize"
    if kv_dtype in QUANTIZED_KV and weights != "int4_gptq":
        return "quantize"
    return "convert"


def _sm(gpu: GpuSpec) -> int:
    major, minor = gpu.cc
    return major * 10 + minor


def _script_name(version: str, script: ScriptContract) -> str:
    return f"TensorRT-LLM {version}'s {script.paths[0] if script.paths else script.script}"


def layout_reason(model: ModelSpec, tp: int, pp: int, version: str) -> str | None:
    """Why release `version` cannot build (tp, pp) for this model; None when it can (or is unknown)."""
    c = contract(version)
    if c is None or pp == 1:
        return None
    conv = c.converter(model.architecture)
    if conv is not None and not conv.pipeline_parallel:
        return (f"{_script_name(version, conv)} cannot split {model.architecture} into pipeline stages "
                f"({conv.pipeline_evidence}); use PP 1")
    if c.even_pp_split_only and model.num_layers % pp:
        return (f"TensorRT-LLM {version} splits layers evenly only: {model.num_layers} layers do not divide "
                f"into {pp} stages (uneven stages arrived after {version}, TensorRT-LLM PR #4399)")
    return None


def builder_refuses(gpu: GpuSpec, weights: str, kv_dtype: str, version: str) -> str | None:
    """Why the release's engine builder refuses this quantization on `gpu`; None when it builds."""
    c = contract(version)
    if c is None:
        return None
    r = c.builder_sm_refusals
    sm = _sm(gpu)
    if not r.sm_min <= sm < r.sm_below:
        return None
    what = [f"{weights} weights"] if weights in r.weights else []
    what += [f"a KV cache in {kv_dtype}"] if kv_dtype in r.kv_cache else []
    if not what:
        return None
    return (f"TensorRT-LLM {version}'s engine builder refuses {' and '.join(what)} on {gpu.name} "
            f"(SM {sm}: tensorrt_llm/builder.py rejects INT8/INT4 weight-only, SmoothQuant and an INT8 KV cache "
            f"for SM {r.sm_min}-{r.sm_below - 1})")


def converter_reason(model: ModelSpec, weights: str, kv_dtype: str, version: str,
                     use_parallel_embedding: bool = False) -> str | None:
    """Why the family's checkpoint script of `version` cannot take this quantization or option."""
    c = contract(version)
    if c is None:
        return None
    conv = c.converter(model.architecture)
    if conv is None:
        return no_converter_reason(model, version)
    route = checkpoint_route(weights, kv_dtype)
    name = _script_name(version, conv)
    reason = _no_route_reason(c, weights, route)
    if reason:
        return reason
    if route == "convert":
        precision = CONVERT_WEIGHT_ONLY.get(weights)
        if precision and not conv.accepts("--weight_only_precision", precision):
            offered = conv.flag("--weight_only_precision")
            choices = ", ".join(offered.choices or ()) if offered else "none"
            return f"{name} has no weight-only precision {precision} (it offers: {choices})"
        if weights == "int4_gptq" and not conv.accepts("--per_group"):
            return f"{name} has no --per_group for GPTQ weights"
        kv_flag = CONVERT_KV_FLAGS.get(kv_dtype)
        if kv_flag and not conv.accepts(kv_flag):
            return f"{name} has no {kv_flag}, so it cannot combine {weights} weights with a KV cache in {kv_dtype}"
    # quantize.py has no such flag and needs none: ModelOpt's export shards the embedding itself
    if route == "convert" and use_parallel_embedding and not conv.accepts("--use_parallel_embedding"):
        return f"{name} has no --use_parallel_embedding"
    return None


def _no_route_reason(c: ReleaseContract, weights: str, route: str) -> str | None:
    """Why neither quantize.py nor a converter of release `c` can produce `weights` (pre-quantized
    formats such as MXFP4 or FP8 block scales); None when one of them can."""
    if route == "quantize":
        quantize = c.script("quantize")
        qformat = "full_prec" if weights in SIXTEEN_BIT else weights
        if quantize.accepts("--qformat", qformat):
            return None
    elif weights in SIXTEEN_BIT or weights in CONVERT_WEIGHT_ONLY:
        return None
    offered = c.script("quantize").flag("--qformat")
    return (f"TensorRT-LLM {c.version}'s engine flow cannot produce {weights} weights: quantize.py --qformat offers "
            f"{', '.join(offered.choices or ()) if offered else 'nothing'} and convert_checkpoint.py only weight-only "
            f"{', '.join(sorted(set(CONVERT_WEIGHT_ONLY.values())))}; serve a pre-quantized {weights} checkpoint "
            f"with the PyTorch flow of TensorRT-LLM {c.pytorch_flow_release} (--trtllm-version "
            f"{c.pytorch_flow_release} --flow pytorch)")


def no_converter_reason(model: ModelSpec, version: str) -> str | None:
    c = contract(version)
    if c is None or c.converter(model.architecture) is not None:
        return None
    family = model.architecture.lower()
    why = c.no_engine_converter.get(
        family, f"no convert_checkpoint.py for {model.architecture} is in the planner's contract data for {version}")
    return (f"{model.name} ({model.architecture}) cannot be built by TensorRT-LLM {version}'s engine flow: {why}; "
            f"serve it with the PyTorch flow of TensorRT-LLM {c.pytorch_flow_release} "
            f"(--trtllm-version {c.pytorch_flow_release} --flow pytorch)")


def check_engine(model: ModelSpec, gpu: GpuSpec, weights: str, kv_dtype: str, version: str,
                 use_parallel_embedding: bool = False, runnable: list[str] | None = None,
                 explicit_engine: bool = False) -> None:
    """InputError when release `version`'s engine flow cannot build this model at this quantization.

    `runnable` lists the weight schemes the GPU itself can run; the message names those the
    release builds for this family, so the user sees what to pick instead.
    A family without an engine converter is refused when the engine flow was asked for
    (`explicit_engine`) or the release has no other flow (0.19.0); otherwise the plan takes
    the flow the family runs in (the PyTorch flow), so no engine rule applies to it.
    """
    reason = no_converter_reason(model, version)
    if reason:
        c = contract(version)
        if explicit_engine or version != c.pytorch_flow_release:
            raise InputError(reason)
        return
    reason = builder_refuses(gpu, weights, kv_dtype, version) or converter_reason(
        model, weights, kv_dtype, version, use_parallel_embedding)
    if not reason:
        return
    ok = [s for s in runnable or () if _buildable(model, gpu, s, kv_dtype, version, use_parallel_embedding)]
    if ok:
        reason += (f"; with the KV cache in {kv_dtype}, TensorRT-LLM {version} builds {model.architecture} on "
                   f"{gpu.name} as {', '.join(ok)}")
    # An unquantized KV cache keeps the model's dtype, so only the quantized alternatives are named
    kv_ok = [k for k in QUANTIZED_KV if k != kv_dtype and gpu.cc >= KV_MIN_CC[k]
             and _buildable(model, gpu, weights, k, version, use_parallel_embedding)]
    if kv_dtype in QUANTIZED_KV and _buildable(model, gpu, weights, "bf16", version, use_parallel_embedding):
        kv_ok.append("the model's dtype")
    if kv_ok:
        reason += f"; {weights} weights build with the KV cache in {' or '.join(kv_ok)}"
    raise InputError(reason)


def _buildable(model: ModelSpec, gpu: GpuSpec, weights: str, kv_dtype: str, version: str,
               use_parallel_embedding: bool) -> bool:
    return not (builder_refuses(gpu, weights, kv_dtype, version)
                or converter_reason(model, weights, kv_dtype, version, use_parallel_embedding))
