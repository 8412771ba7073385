"""Timings of the planner: the cold command and a sweep of the catalogs through the Python API.

    python benchmarks/bench_plan.py [--runs N]

Prints the median and worst wall time of `planner plan` as a fresh process, and the time to
plan every catalog model on every catalog GPU (one node) under every quantization the GPU runs,
each plan with its performance figures. Beside each wall time, the CPU time (user + sys) the work
took: on a shared, loaded machine the wall time counts the waits for a core, the CPU time does not.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cold_command(argv: list[str], runs: int) -> tuple[list[float], list[float]]:
    """(wall times, CPU times) of `runs` fresh processes."""
    walls, cpus = [], []
    for _ in range(runs):
        cpu = _children_cpu()
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        walls.append(time.perf_counter() - start)
        cpus.append(_children_cpu() - cpu)
    return walls, cpus


def sweep() -> tuple[int, int, float, float]:
    from planner import catalog
    from planner.api import make_plan
    from planner.errors import InputError
    from planner.quant import WEIGHT_SCHEMES

    start, cpu = time.perf_counter(), time.process_time()
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
    return plans, fits, time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    exe = shutil.which("planner", path=os.path.dirname(sys.executable)) or "planner"
    for fmt in ("table", "json"):
        argv = [exe, "plan", "llama-3.1-70b", "--gpus", "h100x8", "--format", fmt]
        walls, cpus = cold_command(argv, args.runs)
        print(f"cold `planner plan llama-3.1-70b --gpus h100x8 --format {fmt}`: "
              f"median {statistics.median(walls) * 1000:.0f} ms, worst {max(walls) * 1000:.0f} ms wall; "
              f"median {statistics.median(cpus) * 1000:.0f} ms CPU (user + sys) over {args.runs} runs")
    plans, fits, seconds, cpu = sweep()
    print(f"sweep: {plans} plans (every model × GPU node × quantization the GPU runs, with performance), "
          f"{fits} fit, {seconds:.2f} s wall, {cpu:.2f} s CPU, {seconds / max(plans, 1) * 1000:.2f} ms per plan")


if __name__ == "__main__":
    main()
