"""Timings of the planner: the cold command and sweeps of the catalogs through the Python API.

    python benchmarks/bench_plan.py [--runs N] [--no-sweep | --sweep catalog|quantizations] [--instructions]

The cold command is `planner plan llama-3.1-70b --gpus h100x8` as a fresh process, run as an
installed planner runs: its bytecode compiled (pip compiles a wheel's modules; the benchmark runs
compileall on the package, as PYTHONDONTWRITEBYTECODE may be set) and the parsed package data
cached (planner.package_data; the first run of a new version fills the cache, and its time is
printed apart). Beside each wall time, the CPU time (user + sys): on a shared, loaded machine the
wall time counts the waits for a core, the CPU time does not. Alternating with it, the floor any
command built on click and pydantic pays on the same interpreter (start-up, both imports, one model
built and dumped, the exit without teardown that the planner takes), and the planner's own share
above it: a machine's speed moves both alike.

`--instructions` counts instead of timing: the instructions the cold command (json) and the floor execute,
under valgrind's callgrind (needs valgrind; about a minute). The count does not move with a machine's speed or
load, so it tells whether a change made the command cheaper where the wall times of a shared machine cannot.
It does move with the interpreter's build, which both modes name first (see `interpreter`).

Two sweeps, each plan with its performance figures:
- the catalog: every catalog model on one node of every catalog GPU, as `planner plan MODEL
  --gpus GPUxN` plans it (the checkpoint's own precision, or what the GPU runs instead);
- the catalog × quantizations: the same under every weight quantization the GPU runs.
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cold_command(argv: list[str], runs: int, env: dict[str, str]) -> tuple[list[float], list[float]]:
    """(wall times, CPU times) of `runs` fresh processes."""
    walls, cpus = [], []
    for _ in range(runs):
        cpu = _children_cpu()
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=env)
        walls.append(time.perf_counter() - start)
        cpus.append(_children_cpu() - cpu)
    return walls, cpus


# What any click + pydantic command pays before its own work: the interpreter, both imports, one model,
# and the exit the planner command takes (os._exit once the output is flushed, no interpreter teardown).
FLOOR = ("import click, os, sys\nfrom pydantic import BaseModel\nclass M(BaseModel):\n    x: int\n"
         "M(x=1).model_dump_json()\nsys.stdout.flush()\nos._exit(0)")


def sweep(quantizations: bool) -> tuple[int, int, float, float]:
    from planner import catalog
    from planner.api import make_plan
    from planner.errors import InputError
    from planner.quant import WEIGHT_SCHEMES

    start, cpu = time.perf_counter(), time.process_time()
    plans = fits = 0
    for model in catalog.models():
        for gpu in catalog.gpus():
            fleet = f"{gpu.name}x{gpu.gpus_per_node}"
            for quant in WEIGHT_SCHEMES if quantizations else (None,):
                try:
                    plan = make_plan(model.name, fleet, quant=quant)
                except InputError:  # a scheme the GPU cannot run, a context too short, ...
                    continue
                plans += 1
                fits += plan.fits
    return plans, fits, time.perf_counter() - start, time.process_time() - cpu


def instructions(argv: list[str], env: dict[str, str]) -> int:
    """Instructions `argv` executes, counted by callgrind."""
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg", *argv],
                             capture_output=True, text=True, env=env, check=True).stderr
    return int(re.search(r"I\s+refs:\s+([\d,]+)", out).group(1).replace(",", ""))


def report_instructions(argv: dict[str, list[str]], env: dict[str, str]) -> None:
    if not shutil.which("valgrind"):
        raise SystemExit("--instructions needs valgrind (callgrind) on PATH")
    counts = {name: instructions(argv[name], env) for name in ("json", "floor")}
    print(f"instructions (callgrind): cold `planner plan llama-3.1-70b --gpus h100x8 --format json` "
          f"{counts['json'] / 1e6:,.1f} M; floor {counts['floor'] / 1e6:,.1f} M; the planner's own share "
          f"{(counts['json'] - counts['floor']) / 1e6:,.1f} M ({1 - counts['floor'] / counts['json']:.0%})")


def interpreter() -> str:
    """The interpreter the figures are for: its build moves them as much as the machine does. pyenv's default
    CPython loads libpython as a shared library and is built without profile-guided optimisation; on one
    machine it ran the cold command in 744 M instructions where Debian's statically linked 3.11 ran it in 607 M."""
    try:
        with open("/proc/self/maps") as maps:  # Linux: the libraries this very process has mapped
            shared = any("libpython" in line for line in maps)
        linked = "libpython loaded as a shared library" if shared else "libpython linked into the executable"
    except OSError:  # no /proc: say how it was configured
        shared = sysconfig.get_config_var("Py_ENABLE_SHARED")
        linked = "built with --enable-shared" if shared else "libpython linked statically"
    return f"interpreter: {platform.python_implementation()} {platform.python_version()} ({sys.executable}), {linked}"


def _ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:.0f} ms, worst {max(values) * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--no-sweep", action="store_true", help="time the cold command only")
    parser.add_argument("--sweep", choices=("catalog", "quantizations"), help="run one sweep only")
    parser.add_argument("--instructions", action="store_true",
                        help="count the cold command's and the floor's instructions (callgrind) instead of timing")
    args = parser.parse_args()
    if args.sweep:
        report_sweep(args.sweep)
        return
    compileall.compile_dir(ROOT / "planner", quiet=1)
    exe = shutil.which("planner", path=os.path.dirname(sys.executable)) or "planner"
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "PLANNER_CACHE_DIR": cache}
        argv = {fmt: [exe, "plan", "llama-3.1-70b", "--gpus", "h100x8", "--format", fmt] for fmt in ("table", "json")}
        argv["floor"] = [sys.executable, "-c", FLOOR]
        first, _ = cold_command(argv["table"], 1, env)  # also fills the package-data cache
        print(interpreter())
        if args.instructions:
            report_instructions(argv, env)
            return
        print(f"first run (empty package-data cache), table: {first[0] * 1000:.0f} ms wall")
        # the formats alternate, so that a machine whose speed drifts weighs on both alike
        walls = {fmt: [] for fmt in argv}
        cpus = {fmt: [] for fmt in argv}
        for _ in range(args.runs):
            for fmt, line in argv.items():
                wall, cpu = cold_command(line, 1, env)
                walls[fmt] += wall
                cpus[fmt] += cpu
        for fmt in ("table", "json"):
            print(f"cold `planner plan llama-3.1-70b --gpus h100x8 --format {fmt}`: {_ms(walls[fmt])} wall; "
                  f"{_ms(cpus[fmt])} CPU (user + sys) over {args.runs} runs")
        floor = statistics.median(walls["floor"])
        print(f"floor (interpreter, click and pydantic imported, one model dumped): {_ms(walls['floor'])} wall; "
              f"the planner's own share of the table command: "
              f"{(statistics.median(walls['table']) - floor) * 1000:.0f} ms")
    if args.no_sweep:
        return
    for what in ("catalog", "quantizations"):  # each in a fresh process: no cache warmed by the other
        subprocess.run([sys.executable, __file__, "--sweep", what], check=True)


def report_sweep(what: str) -> None:
    plans, fits, seconds, cpu = sweep(what == "quantizations")
    label = {"catalog": "every model × GPU node",
             "quantizations": "every model × GPU node × quantization the GPU runs"}[what]
    print(f"sweep: {plans} plans ({label}, with performance), {fits} fit, {seconds:.2f} s wall, "
          f"{cpu:.2f} s CPU, {seconds / max(plans, 1) * 1000:.2f} ms per plan")

if __name__ == "__main__":
    main()
