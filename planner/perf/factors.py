"""The efficiency factors of the performance model, read once from planner/data/perf.yaml."""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from planner import package_data

DATA = package_data.path("perf.yaml")


class Factors(NamedTuple):
    """Achievable fractions of the peaks and fixed costs (each with its source in perf.yaml)."""

    hbm_efficiency: float
    memory_op_latency_us: float
    gemm_efficiency: float
    gemm_roofline_exponent: float
    attention_efficiency: float
    link_efficiency: float
    allreduce_latency_us: float
    kernels_per_layer: float
    step_overhead_us: float
    per_sequence_step_us: float
    activation_bytes_per_token_per_layer: float
    moe_gemm_efficiency: float
    fp4_gemm_scale: float
    blackwell_gemm_scale: float
    fp4_moe_gemm_scale: float
    fp8_block_moe_gemm_scale_hopper: float
    fp8_block_moe_gemm_scale_blackwell: float
    mxfp4_moe_scale_hopper: float
    moe_stream_scale_fp8_block_blackwell: float
    moe_stream_scale_fp4_blackwell: float
    moe_stream_scale_mxfp4_hopper: float
    moe_layer_latency_us: float
    moe_routed_pair_ns: float
    fp8_block_pair_ns_per_khidden_hopper: float
    request_overhead_ms: float


@lru_cache(maxsize=1)
def factors() -> Factors:
    raw = package_data.load("perf.yaml")["factors"]
    names = set(Factors._fields)
    missing = names - raw.keys()
    if missing:  # a broken data file is a bug, not user input
        raise RuntimeError(f"perf.yaml lacks {', '.join(sorted(missing))}")
    return Factors(**{name: float(raw[name]["value"]) for name in names})


@lru_cache(maxsize=64)
def routing_alpha(architecture: str) -> float:
    """The power-law exponent of the routed-expert load of a model architecture (perf.yaml)."""
    alphas = package_data.load("perf.yaml")["moe_routing_alpha"]
    return float(alphas.get(architecture, alphas["default"]))
