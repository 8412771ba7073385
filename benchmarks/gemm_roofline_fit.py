"""How sharply a dense GEMM turns from reading its weights to doing its math: the exponent p of the
smooth roofline t(M) = c + ((bytes / BW)^p + (FLOPs / PEAK)^p)^(1/p) on measured GEMM latencies.

    python benchmarks/gemm_roofline_fit.py [--systems h100_sxm h200_sxm b200_sxm]

Needs the `aic` extra (aiconfigurator-core ships the tables and scipy): its GEMM tables measured under
TensorRT-LLM 1.3.0rc20 (systems/data/<system>/gemm/trtllm/1.3.0rc20/gemm_perf.parquet). For each weight
shape N x K (both 1,024-16,384) and precision, the latencies over M = 1-16,384 tokens are fitted for each p
of a grid, with BW, PEAK and the fixed cost c free; the p with the least RMS error in log time is the curve's.
A sharp max() is p = infinity; p = 1 adds the two times. The medians printed are the source of
perf.yaml's gemm_roofline_exponent.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

GRID = (1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 6.0, 10.0)
WEIGHT_BYTES = {"bfloat16": 2.0, "fp8": 1.0, "fp8_block": 1.0, "nvfp4": 0.5625}
VERSION = "1.3.0rc20"


def best_exponent(m, t, weight_bytes: float, n: int, k: int) -> tuple[float, float]:
    """(p, RMS of log-time residuals) of the best fit on the grid."""
    import numpy as np
    from scipy.optimize import least_squares

    nbytes, flops = n * k * weight_bytes, 2.0 * m * n * k
    best = (GRID[-1], float("inf"))
    for p in GRID:
        def residual(x, p=p):
            bw, peak, c = np.exp(x)
            return np.log(c + ((nbytes / bw) ** p + (flops / peak) ** p) ** (1 / p)) - np.log(t)

        with np.errstate(over="ignore"):
            fit = least_squares(residual, np.log([3e12, 1e15, 3e-6]))
        rms = float(np.sqrt(np.mean(fit.fun ** 2)))
        if rms < best[1]:
            best = (p, rms)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", nargs="+", default=["h100_sxm", "h200_sxm", "b200_sxm"])
    args = parser.parse_args()
    import aiconfigurator_core
    import pandas as pd

    data = Path(aiconfigurator_core.__file__).parent / "systems" / "data"
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
                fits.append(best_exponent(curve.m.to_numpy(float), curve.latency.to_numpy() * 1e-3,
                                          weight_bytes, int(n), int(k)))
            if not fits:
                continue
            ps = sorted(p for p, _ in fits)
            q = statistics.quantiles(ps, n=4) if len(ps) > 1 else [ps[0]] * 3
            print(f"{system:10} {dtype:10} {len(ps):>6} {q[0]:>6.2f} {q[1]:>6.2f} {q[2]:>6.2f} "
                  f"{statistics.median(r for _, r in fits):>6.3f}")
            if dtype != "fp8_block":
                every += ps
    print(f"median p over the bf16, fp8 and nvfp4 curves ({len(every)}): {statistics.median(every):.2f}")


if __name__ == "__main__":
    main()
