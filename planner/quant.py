"""Quantization schemes: storage cost of each tensor kind and the hardware each needs.

Sources:
- TensorRT-LLM docs, "Numerical Precision" (docs/source/reference/precision.md): which
  schemes exist (FP8 per-tensor, INT8 SmoothQuant, INT4/INT8 weight-only, AWQ/GPTQ
  group-wise W4A16, W4A8 AWQ, NVFP4) and the architectures that run them.
- TensorRT-LLM quantization/modelopt checkpoints: AWQ keeps one fp16/bf16 scale per group
  of 128 input channels plus a per-input-channel pre-quant scale; GPTQ keeps a scale and
  a zero point per group; NVFP4 keeps one fp8 scale per 16 values plus a global fp32
  scale; FP8 keeps per-tensor fp32 weight and activation scales; weight-only INT8/INT4
  keep one scale per output channel.
- Embeddings and the LM head stay in the activation dtype under every scheme (the
  ModelOpt default excludes `lm_head`); so do norms and the MoE router.
- MXFP4 (gpt-oss): OCP Microscaling Formats (MX) v1.0 spec: blocks of 32 FP4 (e2m1) values
  sharing one 8-bit power-of-two (e8m0) scale, 4.25 bits per weight; gpt-oss stores them as
  `*_blocks` (uint8, two values per byte) and `*_scales` (uint8) tensors.
- FP8 block scales (DeepSeek-V3 `quantization_config.weight_block_size` [128, 128]): e4m3
  weights and one fp32 `weight_scale_inv` per 128 x 128 block.
"""

from __future__ import annotations

from fractions import Fraction
from typing import NamedTuple

WEIGHT_SCHEMES = (
    "fp32", "fp16", "bf16", "fp8", "int8_wo", "int4_wo", "int4_awq", "int4_gptq",
    "w4a8_awq", "int8_sq", "nvfp4", "mxfp4", "fp8_block",
)
KV_DTYPES = ("fp32", "fp16", "bf16", "fp8", "int8")

DTYPE_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2, "fp8": 1, "int8": 1}


class Scheme(NamedTuple):
    name: str
    weight_bits: int  # bits per stored linear-layer weight
    min_cc: tuple[int, int]  # lowest compute capability that runs it
    needs: str  # the GPU precision it needs, as named in the GPU catalog
    group_size: int | None = None  # group-wise schemes: input channels per scale
    group_scale_bytes: int = 0  # per group and output channel (scale, + zero for GPTQ)
    pre_quant_scale: bool = False  # AWQ: one activation-dtype scale per input channel
    per_channel_scale_bytes: int = 0  # per output channel
    per_tensor_scale_bytes: int = 0  # per linear layer
    block_size: int | None = None  # NVFP4 / MXFP4: values per block scale (one byte each)
    tile: int | None = None  # 2-D block scaling: one fp32 scale per tile x tile weights
    description: str = ""
    # Row-parallel inputs must split into whole groups/blocks per rank (ModelOpt's group-wise
    # and NVFP4 kernels). None where the runtime pads each rank's slice or the rule is unknown.
    tp_alignment: int | None = None
    kernels: str = ""  # which GPUs run it and with which kernels, with the source


SCHEMES: dict[str, Scheme] = {
    s.name: s
    for s in (
        Scheme("fp32", 32, (7, 0), "fp32", description="float32 weights and activations"),
        Scheme("fp16", 16, (7, 0), "fp16", description="float16 weights and activations"),
        Scheme("bf16", 16, (8, 0), "bf16", description="bfloat16 weights and activations"),
        Scheme("fp8", 8, (8, 9), "fp8", per_tensor_scale_bytes=8,
               description="FP8 (e4m3) weights and activations, per-tensor scales"),
        Scheme("int8_wo", 8, (7, 0), "int8", per_channel_scale_bytes=2,
               description="INT8 weight-only, per-channel scales"),
        Scheme("int4_wo", 4, (7, 0), "int4", per_channel_scale_bytes=2,
               description="INT4 weight-only, per-channel scales"),
        Scheme("int4_awq", 4, (8, 0), "int4", group_size=128, group_scale_bytes=2, pre_quant_scale=True,
               description="INT4 AWQ (W4A16), group 128", tp_alignment=128),
        Scheme("int4_gptq", 4, (8, 0), "int4", group_size=128, group_scale_bytes=4,
               description="INT4 GPTQ (W4A16), group 128, scale and zero per group", tp_alignment=128),
        Scheme("w4a8_awq", 4, (8, 9), "fp8", group_size=128, group_scale_bytes=2, pre_quant_scale=True,
               per_tensor_scale_bytes=8, description="INT4 AWQ weights with FP8 activations, group 128",
               tp_alignment=128),
        Scheme("int8_sq", 8, (7, 5), "int8", per_channel_scale_bytes=4, per_tensor_scale_bytes=4,
               description="INT8 SmoothQuant (W8A8), per-channel weight scales"),
        Scheme("nvfp4", 4, (10, 0), "fp4", block_size=16, per_tensor_scale_bytes=8,
               description="NVFP4 weights and activations, fp8 scale per 16 values", tp_alignment=16),
        Scheme("mxfp4", 4, (9, 0), "bf16", block_size=32,
               description="MXFP4 weights (OCP microscaling: e2m1 values, one e8m0 scale per 32)",
               kernels="Hopper (SM90): weight-only, BF16 activations, MoE backend TRITON (OpenAI's Triton "
                       "kernels); Blackwell (SM100/SM103): MXFP8 activations x MXFP4 weights, MoE backend "
                       "TRTLLM. Source: TensorRT-LLM docs, deployment-guide/deployment-guide-for-gpt-oss-on-"
                       "trtllm.md, 'MoE Backend Support Matrix' (H200 BF16 x MXFP4 TRITON; B200/GB200/B300/GB300 "
                       "MXFP8 x MXFP4 TRTLLM) and examples/models/core/gpt_oss/README.md @ d513eeaf (the GPU "
                       "catalog's notes say which kernels each GPU uses). Ampere and Ada have no MXFP4 path "
                       "in TensorRT-LLM."),
        Scheme("fp8_block", 8, (9, 0), "fp8", tile=128,
               description="FP8 (e4m3) weights, one fp32 scale per 128x128 block, activations scaled "
                           "per 1x128 group at run time (DeepSeek-V3/R1, Kimi K2, Qwen3 -FP8 checkpoints)",
               kernels="Hopper (SM90) and Blackwell (SM100): FP8 block-scale GEMMs (DeepGEMM / CUTLASS) in "
                       "the PyTorch flow. Source: TensorRT-LLM docs, deployment-guide/quick-start-recipe-for-"
                       "deepseek-r1-on-trtllm.md ('Blackwell & Hopper Hardware', FP8 checkpoint on H200/B200)."),
    )
}

KV_MIN_CC = {"fp32": (7, 0), "fp16": (7, 0), "bf16": (8, 0), "fp8": (8, 9), "int8": (7, 0)}


def activation_dtype(weights: str, model_dtype: str) -> str:
    """The dtype that activations, embeddings and the LM head keep."""
    if weights in ("fp32", "fp16", "bf16"):
        return weights
    return {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}[model_dtype]


def linear_bytes(scheme: Scheme, in_features: int, out_features: int, act_bytes: int) -> int:
    """Bytes one linear layer's weight takes on one rank, scales included (biases excluded)."""
    numel = in_features * out_features
    if scheme.name in ("fp32", "fp16", "bf16"):
        return numel * DTYPE_BYTES[scheme.name]
    total = Fraction(numel * scheme.weight_bits, 8)
    if scheme.group_size:
        groups = -(-in_features // scheme.group_size)
        total += groups * out_features * scheme.group_scale_bytes
    if scheme.pre_quant_scale:
        total += in_features * act_bytes
    if scheme.block_size:
        total += -(-numel // scheme.block_size)  # one byte per block (fp8 for NVFP4, e8m0 for MXFP4)
    if scheme.tile:
        total += -(-in_features // scheme.tile) * -(-out_features // scheme.tile) * 4  # fp32 per tile
    total += out_features * scheme.per_channel_scale_bytes + scheme.per_tensor_scale_bytes
    return int(-(-total // 1))
