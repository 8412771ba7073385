"""Predicted vs published throughput and latency: the performance model against NVIDIA's measurements.

    python benchmarks/bench_perf.py [--quiet] [--backend roofline|aiconfigurator]

Every figure goes through `planner.make_plan` as a user would ask for it:
- maximum-throughput rows (trtllm-bench, v0.17): `--objective throughput --tp N --pp 1 --quant fp8
  --kv-cache-dtype fp8 --kv-cache-free-gpu-mem-fraction 0.95 --bench-requests R` with the published
  input/output lengths and dataset size (the planner then chooses max_batch_size and max_num_tokens as
  trtllm-bench does, and replays trtllm-bench's run of R requests: the `benchmark` figure); with
  `--steady-state`, the plan's saturation figure (`performance`) instead;
- online rows (Triton backend, v0.14, BF16): `--tp N --pp 1 --request-rate QPS` at the published lengths; the
  output tokens/s are those of the published run of 500 requests (its tokens over the time from the first request
  to the last response), with `--steady-state` the plan's figure at the rate.
The "calibration" group is the sample in calibration.md (H100, Llama 3.1 8B/70B), on which the dense efficiency
factors were chosen; "MoE factor" is the Mixtral 8x7B/8x22B rows, on which moe_gemm_efficiency was chosen;
"held out" is every other row of the same document (H200 dense rows, Mistral 7B, Llama 3.1 405B), which no
factor was chosen on; "other GPUs" is the L40S (FP8, PCIe) and A100 (FP16) columns, also held out.
Errors are |predicted / published − 1|.

The "1.x" groups are the rows of the later perf-overview page (perf_overview_1.x.csv: PyTorch backend,
trtllm-bench, output tokens/s per GPU; Llama 3.3 70B, GPT-OSS, Qwen3, Llama 4 Maverick and DeepSeek R1 on
H100, H200, B200, GB200 and RTX PRO 6000), planned with the page's layout (`--tp N --pp M`, and for its DEPn
columns `--ep N --attention-dp`), `--flow pytorch --objective throughput --kv-cache-free-gpu-mem-fraction 0.95`
and the page's quantization; "1.x dense" and "1.x MoE" split them by model. No factor was chosen on them.
Rows the planner cannot plan are listed with its reason.

"0.19 B200" is the NVFP4 Llama 3.3 70B table of release 0.19.0's page (perf_overview_v0.19_b200.csv, B200, TP 1-8),
held out, planned for 0.19.0's engine flow (`--flow engine --trtllm-version 0.19.0`).

With `--backend aiconfigurator` (the `aic` extra) every row is planned with aiconfigurator-core's measured
kernel tables and again with the roofline; the tables cover the rows whose figure names aiconfigurator-core
as its backend, and the summary gives both backends' errors on those same rows (the others are listed as
not covered). NVIDIA reports about 6 % median error for aiconfigurator on its published throughput tables,
up to 38 %.
"""

from __future__ import annotations

import argparse
import csv
import statistics
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
GPUS = {"h100": "h100x8", "h200": "h200x8"}
CALIBRATION_MODELS = {"llama-3.1-8b", "llama-3.1-70b"}
# v0.17's throughput rows and v0.14's Triton rows were measured on TensorRT engines (the C++ executor): they are
# planned in the engine flow; the 1.x rows ran the PyTorch backend and are planned in the PyTorch flow.
ENGINE_ERA = "engine"
# $num_requests of the published runs by (input, output) length: perf-overview.md at 258c7540 (v0.17) and at
# 585c7565 (1.x; its table lists 1024/1024 and not 1000/1000, which is taken as the same 3000)
REQUESTS = {(128, 128): 30000, (128, 2048): 3000, (128, 4096): 1500, (2048, 128): 3000, (2048, 2048): 1500,
            (5000, 500): 1500, (1000, 1000): 3000, (500, 2000): 3000, (20000, 2000): 1000, (1024, 1024): 3000,
            (8192, 1024): 1500, (1024, 8192): 1500, (32768, 1024): 1000, (1024, 32768): 1000}
STEADY = False  # --steady-state: compare the saturation figure, not the run of the published dataset


def _requests(r: dict[str, str]) -> int | None:
    """--bench-requests for a trtllm-bench row: the published dataset size; none with --steady-state, whose
    comparison reads the saturation figure only."""
    return None if STEADY else REQUESTS[int(r["isl"]), int(r["osl"])]


def _tokens_s(plan, per_gpu: bool = False) -> float:
    """The plan's figure for a trtllm-bench row: its replay of the published run, or with --steady-state its
    saturation throughput."""
    fig = plan.performance if STEADY else plan.benchmark
    return fig.output_tokens_per_s_per_gpu if per_gpu else fig.output_tokens_per_s


def _rows(name: str) -> list[dict[str, str]]:
    with open(DATA / name, encoding="utf-8") as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


def _pct(xs: list[float]) -> str:
    if not xs:
        return "no rows"
    xs = sorted(xs)
    p90 = xs[min(len(xs) - 1, round(0.9 * (len(xs) - 1)))]
    return (f"median {100 * statistics.median(xs):5.1f} %  p90 {100 * p90:5.1f} %  max {100 * xs[-1]:5.1f} %  "
            f"({len(xs)} rows)")


def _planner(backend: str, compared: dict[str, list[float]], skipped: list[str]):
    """make_plan with `backend`. With aiconfigurator: None for a row the tables do not cover (noted in
    `skipped`), and the roofline's error on each covered row goes to `compared` under the caller's key."""
    from planner.api import make_plan

    if backend == "roofline":
        return make_plan

    def plan(*args, **kwargs):
        p = make_plan(*args, perf_backend=backend, **kwargs)
        if p.performance is None or not p.performance.backend.startswith("aiconfigurator-core"):
            skipped.append(f"{args[0]} {args[1]} tp {kwargs.get('tp')} {kwargs.get('max_input_len')}/"
                           f"{kwargs.get('max_output_len')}: "
                           f"{p.performance.backend if p.performance else p.performance_note}")
            return None
        plan.roofline = make_plan(*args, **kwargs)
        return p

    plan.roofline = None
    return plan


def _tput_error(make_plan, plan, r: dict[str, str], gpu: str, published: float, group: str,
                roofline: dict | None, quiet: bool, label: str) -> float | None:
    """|predicted / published - 1| of one trtllm-bench row's plan (None when it has no figures), the roofline's
    error on the same row under `group` when another backend planned it, and the row printed."""
    perf = plan.performance
    if perf is None:
        print(f"{r['model']:15} {gpu:5} {r['tp']:>2}: no figures ({plan.performance_note or 'does not fit'})")
        return None
    err = _tokens_s(plan) / published - 1
    if roofline is not None:
        roofline.setdefault(group, []).append(abs(_tokens_s(make_plan.roofline) / published - 1))
    if not quiet:
        print(f"{r['model']:15} {gpu:5} {r['tp']:>2} {r['isl']:>5}/{r['osl']:<5} {plan.workload.max_batch_size:>5} "
              f"{plan.workload.max_num_tokens:>6} {perf.concurrency:>5} {_tokens_s(plan):>10,.0f} "
              f"{published:>10,.0f} {100 * err:>+6.1f}%  {label}")
    return abs(err)


def throughput_rows(quiet: bool, backend: str = "roofline", roofline: dict | None = None,
                    skipped: list[str] | None = None) -> dict[str, list[float]]:
    make_plan = _planner(backend, roofline, skipped)

    errors: dict[str, list[float]] = {"calibration": [], "MoE factor": [], "held out": [], "other GPUs": []}
    if not quiet:
        print(f"{'model':15} {'gpu':5} {'TP':>2} {'in/out':>11} {'batch':>5} {'tokens':>6} {'conc':>5} "
              f"{'predicted':>10} {'published':>10} {'error':>7}")
    for r in _rows("perf_overview_v0.17.csv"):
        for gpu in GPUS:
            if not r[gpu].strip():
                continue
            published = float(r[gpu])
            tp = int(r["tp"])
            plan = make_plan(r["model"], GPUS[gpu], quant="fp8", kv_cache_dtype="fp8", tp=tp, pp=1,
                             max_input_len=int(r["isl"]), max_output_len=int(r["osl"]), objective="throughput",
                             kv_cache_free_gpu_mem_fraction=0.95, flow=ENGINE_ERA,
                             bench_requests=_requests(r))
            if plan is None:
                continue
            group = "held out"
            if gpu == "h100" and r["model"] in CALIBRATION_MODELS:
                group = "calibration"
            elif r["model"].startswith("mixtral"):
                group = "MoE factor"
            err = _tput_error(make_plan, plan, r, gpu, published, group, roofline, quiet, group)
            if err is not None:
                errors[group].append(err)
    for r in _rows("perf_overview_v0.17_l40s_a100.csv"):
        gpu, published, tp = r["gpu"], float(r["tokens_s"]), int(r["tp"])
        plan = make_plan(r["model"], f"{'a100-80gb' if gpu == 'a100' else gpu}x8", quant=r["quant"],
                         kv_cache_dtype=r["quant"], tp=tp, pp=1, max_input_len=int(r["isl"]),
                         max_output_len=int(r["osl"]), objective="throughput", kv_cache_free_gpu_mem_fraction=0.95,
                         flow=ENGINE_ERA, bench_requests=_requests(r))
        if plan is None:
            continue
        err = _tput_error(make_plan, plan, r, gpu, published, "other GPUs", roofline, quiet,
                          f"other GPUs ({r['quant']})")
        if err is not None:
            errors["other GPUs"].append(err)
    return errors


def v019_rows(quiet: bool, backend: str = "roofline", roofline: dict | None = None,
              skipped: list[str] | None = None) -> list[float]:
    """perf_overview_v0.19_b200.csv: NVFP4 Llama 3.3 70B on B200 under TensorRT-LLM 0.19.0 (held out), planned
    for that release's engine flow."""
    make_plan = _planner(backend, roofline, skipped)
    errors: list[float] = []
    for r in _rows("perf_overview_v0.19_b200.csv"):
        tp, published = int(r["tp"]), float(r["tokens_s"])
        plan = make_plan(r["model"], f"{r['gpu']}x8", quant=r["quant"], kv_cache_dtype="fp8", tp=tp, pp=1,
                         max_input_len=int(r["isl"]), max_output_len=int(r["osl"]), objective="throughput",
                         kv_cache_free_gpu_mem_fraction=0.95, flow=ENGINE_ERA, trtllm_version="0.19.0",
                         bench_requests=_requests(r))
        if plan is None:
            continue
        err = _tput_error(make_plan, plan, r, r["gpu"], published, "0.19 B200", roofline, quiet, "0.19.0 B200 (NVFP4)")
        if err is not None:
            errors.append(err)
    return errors


def _one_x_model(r: dict[str, str]) -> str:
    """The catalog model of a perf_overview_1.x.csv row: NVIDIA's NVFP4 DeepSeek R1 checkpoint is an entry of
    its own (its attention stays BF16), not the block-FP8 deepseek-r1 quantized again."""
    return "deepseek-r1-fp4" if r["model"] == "deepseek-r1" and r["quant"] == "FP4" else r["model"]


def _one_x_quant(r: dict[str, str]) -> tuple[str | None, str | None]:
    """(--quant, --kv-cache-dtype) of a perf_overview_1.x.csv row, from the page's checkpoints and options.
    None: the catalog checkpoint's own scheme."""
    if _one_x_model(r) == "deepseek-r1-fp4":
        return None, "fp8"  # nvidia/DeepSeek-R1-0528-NVFP4-v2 with the page's kv_cache_config dtype fp8
    quant = {"FP4": "nvfp4", "FP8": "fp8"}[r["quant"]]
    if r["model"].startswith("gpt-oss"):
        # openai/gpt-oss-* ship MXFP4 experts (the catalog's checkpoint scheme); the page's llm_options set
        # kv_cache_config dtype fp8 on Blackwell and "Hopper: use auto" (the checkpoint's 16-bit KV)
        return None, ("fp8" if r["gpu"] in ("b200", "gb200") else None)
    if r["model"] == "deepseek-r1" and r["quant"] == "FP8":
        quant = None  # deepseek-ai/DeepSeek-R1-0528: the block-scaled FP8 checkpoint the catalog describes
    # DeepSeek R1: kv_cache_config dtype fp8 on the page; the other ModelOpt FP8/NVFP4 checkpoints leave the
    # KV dtype to the checkpoint (auto), read here as FP8, ModelOpt's kv_cache_quant_algo for these exports.
    # Maverick's: TensorRT-LLM's TestLlama4MaverickInstruct.test_fp8 loads nvidia/Llama-4-Maverick-17B-128E-
    # Instruct-FP8 with no KV dtype and asserts kv_cache_quant_algo == FP8 (tests/integration/defs/accuracy/
    # test_llm_api_pytorch.py @ 000b1b9b); Qwen3-235B's FP8 accuracy references list only FP8 KV (references/
    # gsm8k.yaml @ 0120c5c2, mmlu.yaml @ 000a01de).
    return quant, "fp8"


BLACKWELL = {"b200", "gb200", "rtx-pro-6000-blackwell"}  # the 1.x page's GPUs; the others are Hopper


def one_x_rows(quiet: bool, backend: str = "roofline", roofline: dict | None = None,
               skipped: list[str] | None = None, unplanned: list[str] | None = None,
               by_generation: dict[str, list[float]] | None = None) -> dict[str, list[float]]:
    """The perf_overview_1.x.csv rows (per-GPU output tokens/s); `unplanned` gets each row the planner
    refuses, with its reason, and `by_generation` the MoE rows' errors again, by GPU generation."""
    from planner.api import resolve_model
    from planner.errors import PlannerError

    make_plan = _planner(backend, roofline, skipped)
    errors: dict[str, list[float]] = {"1.x dense": [], "1.x MoE": []}
    if not quiet:
        print(f"\n{'model':16} {'gpu':22} {'layout':8} {'q':3} {'in/out':>11} {'batch':>5} {'conc':>5} "
              f"{'pred/GPU':>9} {'published':>9} {'error':>7}")
    for r in _rows("perf_overview_1.x.csv"):
        tp, pp, ep = int(r["tp"]), int(r["pp"]), int(r["ep"])
        quant, kv = _one_x_quant(r)
        name = f"{r['model']} {r['gpu']} {r['layout']} {r['quant']} {r['isl']}/{r['osl']}"
        try:
            plan = make_plan(_one_x_model(r), f"{r['gpu']}x{tp * pp}", quant=quant, kv_cache_dtype=kv, tp=tp, pp=pp,
                             ep=ep if ep > 1 else None, attention_dp=True if r["attention_dp"] == "yes" else None,
                             max_input_len=int(r["isl"]), max_output_len=int(r["osl"]), objective="throughput",
                             kv_cache_free_gpu_mem_fraction=0.95, flow="pytorch",
                             bench_requests=_requests(r))
        except PlannerError as exc:
            if unplanned is not None:
                unplanned.append(f"{name}: {exc}")
            continue
        if plan is None:
            continue
        perf = plan.performance
        if perf is None:
            if unplanned is not None:
                unplanned.append(f"{name}: no figures ({plan.performance_note or 'does not fit'})")
            continue
        published = float(r["tokens_s_gpu"])
        group = "1.x MoE" if resolve_model(r["model"], None).moe else "1.x dense"
        err = _tokens_s(plan, per_gpu=True) / published - 1
        errors[group].append(abs(err))
        generation = f"{group} {'Blackwell' if plan.fleet.gpu in BLACKWELL else 'Hopper'}"
        if group == "1.x MoE" and by_generation is not None:
            by_generation.setdefault(generation, []).append(abs(err))
        if roofline is not None:
            base_err = abs(_tokens_s(make_plan.roofline, per_gpu=True) / published - 1)
            roofline.setdefault(group, []).append(base_err)
            if group == "1.x MoE":
                roofline.setdefault(generation, []).append(base_err)
        if not quiet:
            print(f"{r['model']:16} {r['gpu']:22} {r['layout']:8} {r['quant']:3} {r['isl']:>5}/{r['osl']:<5} "
                  f"{plan.workload.max_batch_size:>5} {perf.concurrency:>5} {_tokens_s(plan, per_gpu=True):>9,.0f} "
                  f"{published:>9,.0f} {100 * err:>+6.1f}%")
    return errors


ONLINE_REQUESTS = 500  # the online measurements' run (perf_overview_online_v0.14.csv's header)


def _online_run_tokens_s(perf, qps: float, osl: int, requests: int = ONLINE_REQUESTS) -> float:
    """Output tokens/s of the published online run: its requests' tokens over the time from the first request
    to the last response (the last arrival, or the queue draining at the replica's pace, then that request's
    own time in the system); with --steady-state, the plan's figure at the rate."""
    if STEADY:
        return perf.output_tokens_per_s
    span = max((requests - 1) / qps, requests * osl / perf.output_tokens_per_s)
    last = (perf.ttft_ms + (osl - 1) * perf.tpot_ms) / 1e3
    return requests * osl / (span + last)


def online_rows(quiet: bool, backend: str = "roofline", roofline: dict | None = None,
                skipped: list[str] | None = None) -> dict[str, list[float]]:
    make_plan = _planner(backend, roofline, skipped)

    errors: dict[str, list[float]] = {"TTFT": [], "TPOT (ITL)": [], "output tokens/s": []}
    if not quiet:
        print(f"\n{'model':15} {'gpu':5} {'TP':>2} {'in/out':>9} {'QPS':>4} {'TTFT ms':>14} {'ITL ms':>12} "
              f"{'out tok/s':>14}   (predicted / published)")
    for r in _rows("perf_overview_online_v0.14.csv"):
        isl, osl, qps = int(r["isl"]), int(r["osl"]), float(r["qps"])
        plan = make_plan(r["model"], GPUS[r["gpu"]], quant="bf16", tp=int(r["tp"]), pp=1, max_input_len=isl,
                         max_output_len=osl, max_batch_size=256, request_rate=qps, flow=ENGINE_ERA)
        if plan is None:
            continue
        # one replica serves the published rate: the fleet string only names the GPU
        perf = plan.performance
        if perf is None:
            print(f"{r['model']}: no figures ({plan.performance_note})")
            continue
        # the plan spreads the rate over its replicas; the measurement ran one replica at the full rate
        one = make_plan(r["model"], f"{GPUS[r['gpu']].split('x')[0]}x{r['tp']}", quant="bf16", tp=int(r["tp"]),
                        pp=1, max_input_len=isl, max_output_len=osl, max_batch_size=256, request_rate=qps,
                        flow=ENGINE_ERA)
        if one is None:
            continue
        one, base = one.performance, getattr(getattr(make_plan, "roofline", None), "performance", None)
        pairs = ((one.ttft_ms, float(r["ttft_ms"])), (one.tpot_ms, float(r["itl_ms"])),
                 (_online_run_tokens_s(one, qps, osl), float(r["output_tok_s"])))
        for key, (pred, pub) in zip(errors, pairs, strict=True):
            errors[key].append(abs(pred / pub - 1))
        if roofline is not None:
            for key, pred, (_, pub) in zip(errors, (base.ttft_ms, base.tpot_ms, _online_run_tokens_s(base, qps, osl)),
                                           pairs, strict=True):
                roofline.setdefault(key, []).append(abs(pred / pub - 1))
        if not quiet:
            print(f"{r['model']:15} {r['gpu']:5} {r['tp']:>2} {isl:>4}/{osl:<4} {qps:>4g} "
                  f"{pairs[0][0]:>6.0f} / {pairs[0][1]:<5g} {pairs[1][0]:>5.1f} / {pairs[1][1]:<4g} "
                  f"{pairs[2][0]:>6.0f} / {pairs[2][1]:<6g}")
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quiet", action="store_true", help="Only the error summaries.")
    parser.add_argument("--backend", choices=("roofline", "aiconfigurator"), default="roofline",
                        help="Performance backend; aiconfigurator: the rows its tables cover, next to the roofline.")
    parser.add_argument("--steady-state", action="store_true",
                        help="compare the plan's steady-state figures, not replays of the published runs (trtllm-bench "
                             "rows: the saturation figure; online rows: the output tokens/s at the request rate).")
    args = parser.parse_args()
    global STEADY
    STEADY = args.steady_state
    base: dict[str, list[float]] | None = None if args.backend == "roofline" else {}
    skipped: list[str] = []
    tput = throughput_rows(args.quiet, args.backend, base, skipped)
    unplanned: list[str] = []
    by_generation: dict[str, list[float]] = {}
    one_x = one_x_rows(args.quiet, args.backend, base, skipped, unplanned, by_generation)
    online = online_rows(args.quiet, args.backend, base, skipped)
    v019 = v019_rows(args.quiet, args.backend, base, skipped)
    if unplanned:
        print(f"\n1.x rows the planner cannot plan ({len(unplanned)} rows):")
        for line in unplanned:
            print(f"  {line}")
    if skipped:
        print(f"\nnot covered by {args.backend} ({len(skipped)} rows):")
        for line in skipped:
            print(f"  {line}")

    def show(label: str, errs: list[float], width: int) -> None:
        print(f"  {label:{width}} {args.backend + ' ' if base is not None else ''}{_pct(errs)}")
        if base is not None:
            print(f"  {'':{width}} {'roofline':{len(args.backend)}} {_pct(base.get(label, []))}")

    def show_groups(title: str, groups: dict[str, list[float]], total: str) -> None:
        print(title)
        for group, errs in groups.items():
            show(group, errs, 12)
        if base is not None:
            base[total] = [e for g in groups for e in base.get(g, [])]
        show(total, [e for errs in groups.values() for e in errs], 12)

    show_groups("\nmaximum throughput (trtllm-bench rows), |predicted/published - 1|:", tput, "all")
    show_groups("TensorRT-LLM 1.x rows (trtllm-bench, PyTorch backend, per GPU), |predicted/published - 1|:",
                one_x, "1.x all")
    for label, errs in sorted(by_generation.items()):  # the MoE rows again, by GPU generation
        show(label, errs, 20)
    print("online serving (Triton rows, below saturation):")
    for key, errs in online.items():
        show(key, errs, 16)
    print("held out, TensorRT-LLM 0.19.0 (NVFP4 Llama 3.3 70B on B200, engine flow):")
    show("0.19 B200", v019, 16)


if __name__ == "__main__":
    main()
