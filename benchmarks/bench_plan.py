"""Timings of the planner: the cold command and a sweep of the catalogs through the Python API.

    python benchmarks/bench_plan.py [--runs N]

Prints the median and worst wall time of `planner plan` as a fresh process, and the time to
plan every catalog model on every catalog GPU (one node) under every quantization.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time


def cold_command(argv: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return times


def sweep() -> tuple[int, int, float]:
    from planner import catalog
    from planner.api import make_plan
    from planner.errors import InputError
    from planner.quant import WEIGHT_SCHEMES

    start = time.perf_counter()
    plans = fits = 0
    for model in catalog.models():
        for gpu in catalog.gpus():
            fleet = f"{gpu.name}x{gpu.gpus_per_node}"
            for quant in WEIGHT_SCHEMES:
                try:
                    plan = make_plan(model.name, fleet, quant=quant)
                except InputError:  # a scheme the GPU cannot run, a context too short, ...
                    continue
                plans += 1
                fits += plan.fits
    return plans, fits, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    exe = shutil.which("planner", path=os.path.dirname(sys.executable)) or "planner"
    for fmt in ("table", "json"):
        argv = [exe, "plan", "llama-3.1-70b", "--gpus", "h100x8", "--format", fmt]
        times = cold_command(argv, args.runs)
        print(f"cold `planner plan llama-3.1-70b --gpus h100x8 --format {fmt}`: "
              f"median {statistics.median(times) * 1000:.0f} ms, worst {max(times) * 1000:.0f} ms "
              f"over {args.runs} runs")
    plans, fits, seconds = sweep()
    print(f"sweep: {plans} plans (every model × GPU node × quantization the GPU runs), {fits} fit, "
          f"{seconds:.2f} s, {seconds / max(plans, 1) * 1000:.2f} ms per plan")


if __name__ == "__main__":
    main()
