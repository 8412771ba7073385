"""How sharply a GEMM turns from reading its weights to doing its math: the exponent p of the smooth
roofline ((bytes / BW)^p + (FLOPs / PEAK)^p)^(1/p) on measured latencies.

    python benchmarks/gemm_roofline_fit.py [--systems h100_sxm h200_sxm b200_sxm]
        [--moe | --moe-stream | --moe-split | --math-rate]

Needs the `aic` extra (aiconfigurator-core ships the tables and scipy): its tables measured under
TensorRT-LLM 1.3.0rc20 (systems/data/<system>/{gemm,moe}/trtllm/1.3.0rc20/*.parquet). A sharp max() is
p = infinity; p = 1 adds the two times. For each curve the latencies are fitted for each p of a grid, with
BW, PEAK and a fixed cost c free; the p with the least RMS error in log time is the curve's. The medians
printed are the source of perf.yaml's gemm_roofline_exponent.

- dense GEMMs (default): t(M) = c + roofline, per weight shape N x K (both 1,024-16,384) and precision, over
  M = 1-16,384 tokens;
- the PyTorch flow's fused MoE (`--moe`, the CUTLASS kernel at TP 1 EP 1): t(n) = c + n·k·s + roofline of the
  experts the n tokens hit (E·(1 − (1 − k/E)^n), uniform routing) and their top-k FLOPs, per expert shape and
  routing distribution, with the per-pair cost s fixed at perf.yaml's moe_routed_pair_ns.

`--math-rate` prints the rate dense GEMMs reach where the math binds (M, N and K all 4,096 or more), as a share
of the catalog GPU's dense peak at the precision, median over the shapes; then B200's share over each Hopper
system's at the same precision, and B200's NVFP4 share over its FP8 share. The median B200-over-Hopper ratio
(H100 and H200, BF16 and FP8) is perf.yaml's blackwell_gemm_scale.

`--moe-split` prints what a routed (token, expert) pair costs beyond its FLOPs and the grouped GEMMs' FLOP rate,
from each expert shape's TP x EP splits of 8 GPUs under balanced routing: at moe_tp t a rank handles t times the
pairs of moe_tp 1, each a t-th as wide, so the latency slope per pair (4,096 to 16,384 tokens) against the pair's
FLOPs is a line with the cost per pair as its intercept and the inverse rate as its slope. It prints the median
intercept per 1,024 hidden elements and, for block-scaled FP8, the median rate over the per-tensor FP8 rate at the
same shape: the H100 and H200 medians are perf.yaml's fp8_block_pair_ns_per_khidden_hopper and
fp8_block_moe_gemm_scale_hopper.

`--moe-stream` prints how fast the fused MoE streams its experts' weights when few tokens make it weight bound:
at 8-64 tokens under balanced routing (every expert hit once tokens x top-k reach the experts), all experts'
weight bytes over the latency less perf.yaml's moe_layer_latency_us, as a fraction of the catalog GPU's
datasheet bandwidth, median over the expert shapes, per precision and kernel. These are the source of
perf.yaml's moe_stream_scale_* (each divided by hbm_efficiency).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

GRID = (1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 6.0, 10.0)
WEIGHT_BYTES = {"bfloat16": 2.0, "fp8": 1.0, "fp8_block": 1.0, "nvfp4": 0.5625}
# 4-bit values with one 8-bit scale per 32 (MXFP4); the block-scaled FP8 scales are a part in 4,000, left out
STREAM_BYTES = {**WEIGHT_BYTES, "w4a16_mxfp4": 0.5 + 1 / 32}
PEAK_KEY = {"bfloat16": "bf16", "fp8": "fp8", "nvfp4": "fp4"}  # the tables' precisions, as the GPU catalog names them
CATALOG_GPU = {"h100_sxm": "h100-sxm", "h200_sxm": "h200", "b200_sxm": "b200"}
VERSION = "1.3.0rc20"


def fit(t, nbytes, flops, fixed_s, start: tuple[float, float, float], p: float) -> tuple[tuple[float, ...], float]:
    """((bandwidth, peak, c), RMS of log-time residuals) of the fit of t = c + fixed_s + roofline(nbytes, flops)
    at exponent p, with the three free (`start` their first guesses)."""
    import numpy as np
    from scipy.optimize import least_squares

    def residual(x):
        bw, peak, c = np.exp(x)
        return np.log(c + fixed_s + ((nbytes / bw) ** p + (flops / peak) ** p) ** (1 / p)) - np.log(t)

    with np.errstate(over="ignore"):
        found = least_squares(residual, np.log(start))
    return tuple(float(v) for v in np.exp(found.x)), float(np.sqrt(np.mean(found.fun ** 2)))


def best_exponent(t, nbytes, flops, fixed_s, start: tuple[float, float, float]) -> tuple[float, float]:
    """(p, RMS of log-time residuals) of the best fit on the grid."""
    return min(((p, fit(t, nbytes, flops, fixed_s, start, p)[1]) for p in GRID), key=lambda pr: pr[1])


def gemm_exponent(m, t, weight_bytes: float, n: int, k: int) -> tuple[float, float]:
    """One dense GEMM curve: M tokens through an N x K weight."""
    return best_exponent(t, n * k * weight_bytes, 2.0 * m * n * k, 0.0, (3e12, 1e15, 3e-6))


MOE_START = (3e12, 5e14, 2e-5)


def moe_terms(n, weight_bytes: float, hidden: int, width: int, top_k: int, experts: int, pair_s: float):
    """(bytes read, FLOPs, fixed seconds) of a fused-MoE curve: n tokens, each to top_k of `experts` experts
    (gate, up and down of `width`), the experts hit under uniform routing, each routed pair at pair_s."""
    import numpy as np

    from planner.perf.step import active_experts

    hit = np.array([active_experts(experts, top_k, tokens) for tokens in n])
    return hit * 3 * hidden * width * weight_bytes, 6.0 * hidden * width * top_k * n, top_k * n * pair_s


def moe_exponent(n, t, *shape) -> tuple[float, float]:
    """One fused-MoE curve's best exponent (`shape`: moe_terms's arguments after n)."""
    return best_exponent(t, *moe_terms(n, *shape), MOE_START)


def moe_math_rate(n, t, *shape) -> float:
    """The FLOP rate of one fused-MoE curve's grouped GEMMs: its peak fitted at p = 2 (the exponent the model
    uses), with the bandwidth and the fixed cost free."""
    (_, peak, _), _ = fit(t, *moe_terms(n, *shape), MOE_START, 2.0)
    return peak


def _row(label: str, fits: list[tuple[float, float]], extra: str = "") -> None:
    ps = sorted(p for p, _ in fits)
    q = statistics.quantiles(ps, n=4) if len(ps) > 1 else [ps[0]] * 3
    print(f"{label} {len(ps):>6} {q[0]:>6.2f} {q[1]:>6.2f} {q[2]:>6.2f} {statistics.median(r for _, r in fits):>6.3f}"
          f"{extra}")


def fused_moe(data: Path, systems: list[str]) -> None:
    import pandas as pd

    from planner import catalog
    from planner.perf.factors import factors

    pair_s = factors().moe_routed_pair_ns * 1e-9
    gemm_efficiency = factors().gemm_efficiency
    by_routing: dict[str, list[float]] = {}
    # math: the grouped GEMMs' FLOP rate fitted at p = 2, over the datasheet peak times gemm_efficiency (median
    # over the curves): what perf.yaml's moe_gemm_efficiency stands for
    print(f"{'system':10} {'precision':10} {'routing':14} {'curves':>6} {'p 25%':>6} {'median':>6} {'p 75%':>6} "
          f"{'rms':>6} {'math':>6}")
    for system in systems:
        peaks = catalog.get_gpu(CATALOG_GPU[system]).dense_tflops
        table = pd.read_parquet(data / system / "moe" / "trtllm" / VERSION / "moe_perf.parquet")
        table = table[(table.moe_tp_size == 1) & (table.moe_ep_size == 1)
                      & (table.kernel_source == "moe_torch_flow_cutlass")]
        for (dtype, routing), rows in table.groupby(["moe_dtype", "distribution"]):
            if dtype not in ("bfloat16", "fp8", "nvfp4"):
                continue
            fits, rates = [], []
            peak = peaks[PEAK_KEY[dtype]] * 1e12 * gemm_efficiency
            for (h, w, k, e), curve in rows.groupby(["hidden_size", "inter_size", "topk", "num_experts"]):
                curve = curve.sort_values("num_tokens")
                args = (curve.num_tokens.to_numpy(float), curve.latency.to_numpy() * 1e-3, WEIGHT_BYTES[dtype],
                        int(h), int(w), int(k), int(e), pair_s)
                fits.append(moe_exponent(*args))
                rates.append(moe_math_rate(*args) / peak)
            _row(f"{system:10} {dtype:10} {routing:14}", fits, f" {statistics.median(rates):>6.2f}")
            by_routing.setdefault(routing, []).extend(p for p, _ in fits)
    for routing, ps in sorted(by_routing.items()):
        print(f"median p under {routing} routing ({len(ps)} curves): {statistics.median(ps):.2f}")


def moe_stream(data: Path, systems: list[str]) -> dict[tuple[str, str, str], dict[int, float]]:
    """Prints the table; returns its medians by (system, precision, kernel) and tokens."""
    import pandas as pd

    from planner import catalog
    from planner.perf.factors import factors

    fixed_s = factors().moe_layer_latency_us * 1e-6
    medians: dict[tuple[str, str, str], dict[int, float]] = {}
    print(f"{'system':10} {'precision':12} {'kernel':26} " + " ".join(f"{f'{n} tok':>10}" for n in (8, 16, 32, 64)))
    for system in systems:
        bandwidth = catalog.get_gpu(CATALOG_GPU[system]).bandwidth_gb_s * 1e9
        table = pd.read_parquet(data / system / "moe" / "trtllm" / VERSION / "moe_perf.parquet")
        table = table[(table.moe_tp_size == 1) & (table.moe_ep_size == 1) & (table.distribution == "balanced")]
        for (dtype, kernel), rows in table.groupby(["moe_dtype", "kernel_source"]):
            if dtype not in STREAM_BYTES or "nongated" in kernel or "min_latency" in kernel:
                continue
            shares: dict[int, list[float]] = {}
            for (h, w, k, e), curve in rows.groupby(["hidden_size", "inter_size", "topk", "num_experts"]):
                for n in (8, 16, 32, 64):
                    at = curve[curve.num_tokens == n]
                    if at.empty or n * k < e:  # some experts idle: not a full read
                        continue
                    seconds = at.latency.iloc[0] * 1e-3 - fixed_s
                    shares.setdefault(n, []).append(e * 3 * h * w * STREAM_BYTES[dtype] / seconds / bandwidth)
            medians[system, dtype, kernel] = {n: statistics.median(v) for n, v in shares.items()}
            cells = [f"{statistics.median(shares[n]):>5.2f} ({len(shares[n]):>2})" if n in shares else f"{'-':>10}"
                     for n in (8, 16, 32, 64)]
            print(f"{system:10} {dtype:12} {kernel:26} " + " ".join(cells))
    return medians


def math_rate(data: Path, systems: list[str]) -> dict[tuple[str, str], float]:
    """Prints the table; returns the median share of the dense peak by (system, precision)."""
    import pandas as pd

    from planner import catalog

    shares: dict[tuple[str, str], float] = {}
    print(f"{'system':10} {'precision':10} {'shapes':>6} {'share of the dense peak (median)':>34}")
    for system in systems:
        peaks = catalog.get_gpu(CATALOG_GPU[system]).dense_tflops
        table = pd.read_parquet(data / system / "gemm" / "trtllm" / VERSION / "gemm_perf.parquet")
        for dtype, key in PEAK_KEY.items():
            rows = table[(table.gemm_dtype == dtype) & (table.m >= 4096) & (table.n >= 4096) & (table.k >= 4096)]
            if rows.empty or not peaks.get(key):
                continue
            rate = 2.0 * rows.m * rows.n * rows.k / (rows.latency * 1e-3) / (peaks[key] * 1e12)
            shares[system, dtype] = float(rate.median())
            print(f"{system:10} {dtype:10} {len(rows):>6} {shares[system, dtype]:>34.3f}")
    ratios = []
    for h in (s for s in systems if s != "b200_sxm"):
        for d in ("bfloat16", "fp8"):
            if ("b200_sxm", d) in shares and (h, d) in shares:
                ratios.append(shares["b200_sxm", d] / shares[h, d])
                print(f"b200_sxm over {h} at {d}: {ratios[-1]:.3f}")
    if ratios:
        print(f"median B200 over Hopper ({len(ratios)} ratios): {statistics.median(ratios):.3f}")
    if ("b200_sxm", "nvfp4") in shares and ("b200_sxm", "fp8") in shares:
        print(f"b200_sxm NVFP4 over FP8: {shares['b200_sxm', 'nvfp4'] / shares['b200_sxm', 'fp8']:.3f}")
    return shares


def split_costs(curves, h: int, w: int, k: int, e: int, gpus: int = 8) -> tuple[float, float] | None:
    """(seconds per routed pair beyond its FLOPs, FLOP rate) of one expert shape, from its TP x EP splits over
    `gpus` GPUs: a rank at moe_tp t and moe_ep g = gpus / t runs k / g routed pairs per token, each of width
    w / t, so its latency slope per pair is c + 6·h·(w / t) / R; a line through the splits gives c and R."""
    import numpy as np

    xs, ys = [], []
    for t in (1, 2, 4, 8):
        g = gpus // t
        if g < 1 or e % g:
            continue
        curve = curves[(curves.moe_tp_size == t) & (curves.moe_ep_size == g)].set_index("num_tokens").latency
        if 4096 not in curve.index or 16384 not in curve.index:
            continue
        slope = (curve[16384] - curve[4096]) * 1e-3 / (16384 - 4096)
        xs.append(6.0 * h * w / t)
        ys.append(slope / (k / g))
    if len(xs) < 3:
        return None
    inverse_rate, c = np.polyfit(xs, ys, 1)
    return (float(c), float(1 / inverse_rate)) if inverse_rate > 0 else None


def moe_split(data: Path, systems: list[str]) -> dict[tuple[str, str], tuple[float, float]]:
    """Prints the table; returns, by (system, precision), the median per-pair cost in ns per 1,024 hidden elements
    and the median block-scaled-over-per-tensor FP8 rate ratio (nan where the precision is not fp8_block)."""
    import pandas as pd

    out: dict[tuple[str, str], tuple[float, float]] = {}
    print(f"{'system':10} {'precision':10} {'shapes':>6} {'ns/pair per 1k hidden':>22} {'TFLOPS':>7} "
          f"{'rate / fp8 rate':>16}")
    for system in systems:
        table = pd.read_parquet(data / system / "moe" / "trtllm" / VERSION / "moe_perf.parquet")
        table = table[(table.kernel_source == "moe_torch_flow_cutlass") & (table.distribution == "balanced")]
        fits: dict[str, dict[tuple[int, ...], tuple[float, float]]] = {}
        for (dtype, h, w, k, e), curves in table.groupby(["moe_dtype", "hidden_size", "inter_size", "topk",
                                                          "num_experts"]):
            got = split_costs(curves, int(h), int(w), int(k), int(e))
            if got is not None:
                fits.setdefault(dtype, {})[int(h), int(w), int(k), int(e)] = got
        for dtype, shapes in sorted(fits.items()):
            per_khidden = statistics.median(c * 1e9 / (shape[0] / 1024) for shape, (c, _) in shapes.items())
            rate = statistics.median(r for _, r in shapes.values())
            both = [r / fits["fp8"][shape][1] for shape, (_, r) in shapes.items() if shape in fits.get("fp8", {})]
            ratio = statistics.median(both) if dtype == "fp8_block" and both else float("nan")
            out[system, dtype] = (per_khidden, ratio)
            print(f"{system:10} {dtype:10} {len(shapes):>6} {per_khidden:>22.2f} {rate / 1e12:>7.0f} "
                  f"{'-' if ratio != ratio else f'{ratio:.2f} ({len(both)})':>16}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", nargs="+", default=["h100_sxm", "h200_sxm", "b200_sxm"])
    parser.add_argument("--moe", action="store_true", help="the fused-MoE tables instead of the GEMM ones")
    parser.add_argument("--math-rate", action="store_true",
                        help="dense GEMMs' share of the peak where the math binds (perf.yaml blackwell_gemm_scale)")
    parser.add_argument("--moe-split", action="store_true",
                        help="the fused MoE's per-pair cost and rate from its TP x EP splits "
                             "(perf.yaml fp8_block_*_hopper)")
    parser.add_argument("--moe-stream", action="store_true",
                        help="the fused MoE's weight-streaming rate at few tokens (perf.yaml moe_stream_scale_*)")
    args = parser.parse_args()
    import aiconfigurator_core
    import pandas as pd

    data = Path(aiconfigurator_core.__file__).parent / "systems" / "data"
    for flag, table in (("moe", fused_moe), ("moe_stream", moe_stream), ("moe_split", moe_split),
                        ("math_rate", math_rate)):
        if getattr(args, flag):
            table(data, args.systems)
            return
    every: list[float] = []
    print(f"{'system':10} {'precision':10} {'curves':>6} {'p 25%':>6} {'median':>6} {'p 75%':>6} {'rms':>6}")
    for system in args.systems:
        table = pd.read_parquet(data / system / "gemm" / "trtllm" / VERSION / "gemm_perf.parquet")
        for dtype, weight_bytes in WEIGHT_BYTES.items():
            rows = table[(table.gemm_dtype == dtype) & (table.m <= 16384)
                         & table.n.between(1024, 16384) & table.k.between(1024, 16384)]
            fits = []
            for (n, k), curve in rows.groupby(["n", "k"]):
                curve = curve.sort_values("m")
                fits.append(gemm_exponent(curve.m.to_numpy(float), curve.latency.to_numpy() * 1e-3,
                                          weight_bytes, int(n), int(k)))
            if not fits:
                continue
            _row(f"{system:10} {dtype:10}", fits)
            if dtype != "fp8_block":
                every += [p for p, _ in fits]
    print(f"median p over the bf16, fp8 and nvfp4 curves ({len(every)}): {statistics.median(every):.2f}")


if __name__ == "__main__":
    main()
