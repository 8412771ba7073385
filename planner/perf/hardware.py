"""The hardware figures one layout runs on: peaks at the plan's precision and the links it crosses.

Every figure comes from the GPU catalog (planner/data/gpus.yaml, each with its source); a GPU
whose entry lacks one yields a reason instead of a guess.
"""

from __future__ import annotations

from typing import NamedTuple

from planner.specs import GpuSpec

# The tensor-core precision each weight scheme's GEMMs run in. Weight-only and W4A16 schemes
# dequantize to the activation dtype inside the GEMM; W4A8 and block-scaled FP8 run FP8 math (the
# block scales are applied to FP8 partial sums); SmoothQuant INT8;
# NVFP4 the Blackwell FP4 tensor cores (TensorRT-LLM docs, reference/precision.md).
_GEMM_PRECISION = {
    "fp32": "fp32", "fp16": "fp16", "bf16": "bf16", "fp8": "fp8", "fp8_block": "fp8", "w4a8_awq": "fp8",
    "int8_sq": "int8", "nvfp4": "fp4",
}


class Hardware(NamedTuple):
    hbm_bytes_s: float
    gemm_flops: float  # dense tensor-core peak at the GEMM precision
    attention_flops: float  # dense 16-bit peak (fused attention runs in the activation dtype)
    tp_link_bytes_s: float  # per direction, between the GPUs of one TP group
    pp_link_bytes_s: float  # per direction, between consecutive pipeline stages
    pp_link_latency_s: float
    tp_link: str
    pp_link: str
    gemm_precision: str = "bf16"  # the tensor-core precision the GEMMs run in (its efficiency: factors.py)
    arch: int = 9  # compute capability major: which kernels a scheme's MoE GEMMs run on (factors.py)


def gemm_precision(weights: str, act: str) -> str:
    return _GEMM_PRECISION.get(weights, act)


def hardware(gpu: GpuSpec, weights: str, act: str, tp: int, pp: int, gpus_per_node: int,
             tp_across_nodes: bool = False) -> Hardware | str:
    """The figures a (tp, pp) layout needs, or why the catalog cannot give them."""
    prec = gemm_precision(weights, act)
    attn_prec = "fp16" if act not in gpu.dense_tflops and "fp16" in gpu.dense_tflops else act
    missing = [f"dense {p} TFLOPS" for p in dict.fromkeys((prec, attn_prec)) if not gpu.dense_tflops.get(p)]

    def link(intra: bool) -> tuple[str, float | None, float | None]:
        if not intra:
            return "network", gpu.network_gb_s, gpu.network_latency_us
        if gpu.nvlink_gb_s and gpu.nvlink_domain > 1:
            return "NVLink", gpu.nvlink_gb_s, gpu.nvlink_latency_us
        return "PCIe", gpu.pcie_gb_s, gpu.pcie_latency_us

    tp_name, tp_bw, _ = link(tp <= gpus_per_node or tp_across_nodes)
    if tp > 1 and not tp_bw:
        missing.append(f"{tp_name} bandwidth")
    pp_name, pp_bw, pp_lat = link(tp * pp <= gpus_per_node or tp_across_nodes)
    if pp > 1 and (not pp_bw or pp_lat is None):
        missing.append(f"{pp_name} bandwidth and latency")
    if missing:
        return f"the GPU catalog lacks {gpu.name}'s {', '.join(missing)}"
    return Hardware(
        hbm_bytes_s=gpu.bandwidth_gb_s * 1e9,
        gemm_flops=gpu.dense_tflops[prec] * 1e12,
        attention_flops=gpu.dense_tflops[attn_prec] * 1e12,
        tp_link_bytes_s=(tp_bw or 0) * 1e9,
        pp_link_bytes_s=(pp_bw or 0) * 1e9,
        pp_link_latency_s=(pp_lat or 0) * 1e-6,
        tp_link=tp_name,
        pp_link=pp_name,
        gemm_precision=prec,
        arch=gpu.cc[0],
    )
