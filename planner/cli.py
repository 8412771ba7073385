"""The `planner` command line (click).

Every failure ends in one readable line on stderr and an exit code (ARCHITECTURE.md lists them):
0 fits · 1 unexpected (a bug; `--debug` shows the traceback) · 2 bad input · 3 fits nowhere ·
4 a live-server check failed · 5 regenerated artifacts differ from the committed ones ·
74 the output could not be written (sysexits EX_IOERR) · 130 interrupted.
A reader that closes the pipe early (`| head`) does not change the exit code.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from planner.startup import collect_garbage_rarely, exit_now, skip_pydantic_plugin_discovery

skip_pydantic_plugin_discovery()  # before pydantic is first imported
collect_garbage_rarely()  # before click and pydantic allocate their modules and schemas

import click  # noqa: E402

from planner.errors import (  # noqa: E402
    EXIT_BAD_INPUT,
    EXIT_BUG,
    EXIT_INTERRUPTED,
    EXIT_IO_ERROR,
    EXIT_NO_FIT,
    EXIT_OK,
    InputError,
    PlannerError,
)

MAX_ERROR_CHARS = 400  # an error is one line a terminal can show, whatever the input held

FORMATS = ("table", "json", "yaml")


# `plan` and `compare`: who times the steps (planner.perf.BACKENDS, spelled out here so that the
# command line does not import the performance model before it is needed)
_perf_backend_option = click.option(
    "--perf-backend", type=click.Choice(("roofline", "aiconfigurator")), default="roofline", show_default=True,
    help="Who times the steps: the planner's roofline, or aiconfigurator-core's measured kernel tables where they "
         "cover the GPU and layout (pip install 'planner[aic]').")


def _load_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """`-c plan.yaml`: every option from one YAML file (see optionfile.py); command-line flags still win."""
    if not value:
        return value
    from planner.optionfile import read_option_file

    defaults = read_option_file(Path(value), ctx.command, str(ctx.info_name))
    ctx.default_map = {**(ctx.default_map or {}), **defaults}
    return value


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="planner")
@click.option("--debug", is_flag=True, help="Show tracebacks for unexpected errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Plan LLM deployments on Triton Inference Server with the TensorRT-LLM backend."""
    ctx.obj = {"debug": debug}


@cli.command()
@click.argument("model_name", metavar="MODEL", required=False)
@click.option("-c", "--config", type=click.Path(dir_okay=False), is_eager=True, expose_value=False,
              callback=_load_config,
              help="Read options from a YAML file; keys are the option names shown here (model for MODEL, "
                   "model-path for --model).")
@click.option("--model", "model_path", metavar="PATH",
              help="Local Hugging Face config.json, a directory with one, or safetensors files/index.")
@click.option("--gpus", default="h100x8", show_default=True,
              help="Fleet: GPU, GPUxN, NODESxGPUxN (e.g. h100x8, 2xh100x8) or a YAML fleet file.")
@click.option("--quant", default=None,
              help="Weights: fp32 fp16 bf16 fp8 int8_wo int4_wo int4_awq int4_gptq w4a8_awq int8_sq nvfp4 "
                   "mxfp4 fp8_block [default: a pre-quantized checkpoint's own scheme, else its 16-bit dtype; "
                   "fp16 on GPUs without bf16].")
@click.option("--kv-cache-dtype", default=None, help="KV cache: fp32 fp16 bf16 fp8 int8 [default: activation dtype].")
@click.option("--max-batch-size", type=int, default=None,
              help="Sequences per batch [default: 64; with --objective throughput, trtllm-bench's choice].")
@click.option("--max-input-len", type=int, default=2048, show_default=True)
@click.option("--max-output-len", type=int, default=512, show_default=True)
@click.option("--max-num-tokens", type=int, default=None,
              help="Tokens per engine step [default: min(8192, batch × input); with --objective throughput, "
                   "trtllm-bench's choice].")
@click.option("--max-beam-width", type=int, default=1, show_default=True)
@click.option("--tp", type=int, default=None, help="Force tensor parallelism (what-if).")
@click.option("--pp", type=int, default=None, help="Force pipeline parallelism (what-if).")
@click.option("--ep", type=int, default=None,
              help="Force expert parallelism inside the TP group (PyTorch flow, MoE models; what-if).")
@click.option("--attention-dp/--no-attention-dp", "attention_dp", default=None,
              help="Force attention data parallelism on or off (PyTorch flow, MoE models; what-if).")
@click.option("--kv-cache-free-gpu-mem-fraction", type=float, default=0.9, show_default=True)
@click.option("--tokens-per-block", type=int, default=32, show_default=True)
@click.option("--max-tokens-in-paged-kv-cache", type=int, default=None)
@click.option("--use-parallel-embedding", is_flag=True, help="Shard the input embedding across TP ranks.")
@click.option("--trtllm-version", default=None, help="Target TensorRT-LLM release (see `planner versions`).")
@click.option("--flow", type=click.Choice(["pytorch", "engine"], case_sensitive=False), default=None,
              help="PyTorch LLM-API flow (llmapi repository) or TensorRT engine flow (trtllm-build) "
                   "[default: the release's default, or the only flow the model family runs in].")
@click.option("--objective", type=click.Choice(("min-gpus", "throughput", "latency")), default="min-gpus",
              show_default=True, help="Layout choice: fewest GPUs per replica, most fleet tokens/s, or lowest TPOT.")
@click.option("--ttft-ms", type=float, default=None, help="Reject layouts whose time to first token exceeds this.")
@click.option("--tpot-ms", type=float, default=None, help="Reject layouts whose time per output token exceeds this.")
@click.option("--request-rate", type=float, default=None,
              help="Requests/s to serve: size the fleet for it and report the figures at that rate.")
@click.option("--gpu-hour-price", type=float, default=None, help="Price of one GPU-hour: cost per million tokens.")
@click.option("--bench-requests", type=click.IntRange(min=1), default=None,
              help="Also predict what `trtllm-bench throughput` reports for a dataset of this many requests at "
                   "the input and output lengths (all queued at once).")
@_perf_backend_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Write build.sh, model_repository/, deploy/, plan.json and report.html here.")
@click.option("--force", is_flag=True, help="Replace a non-empty --out directory.")
@click.option("--check", is_flag=True, help="With --out: compare instead of writing; exit 5 if they differ.")
@click.option("--hf-model-dir", default=None, help="Hugging Face checkpoint the build converts.")
@click.option("--checkpoint-dir", default=None,
              help="Where the TensorRT-LLM checkpoint is written (PyTorch flow: the quantized Hugging Face export).")
@click.option("--engine-dir", default=None, help="Where trtllm-build writes the engines (and Triton reads them).")
@click.option("--tokenizer-dir", default=None, help="Tokenizer directory for pre/postprocessing.")
@click.option("--streaming/--no-streaming", "decoupled", default=None,
              help="Decoupled (streaming) Triton models.")
@click.option("--bls/--no-bls", default=None, help="Also emit the tensorrt_llm_bls model.")
@click.option("--max-queue-delay-us", "max_queue_delay_microseconds", type=click.IntRange(min=0), default=None,
              help="Triton dynamic batching: how long a request may wait for others [default: 0].")
@click.option("--preprocessing-instances", type=click.IntRange(min=1), default=None,
              help="CPU instances of the tokenizing model [default: 1].")
@click.option("--postprocessing-instances", type=click.IntRange(min=1), default=None,
              help="CPU instances of the detokenizing model [default: 1].")
@click.option("--image", default=None, help="Triton TensorRT-LLM container image for deploy/.")
def plan(model_name: str | None, model_path: str | None, fmt: str, out: str | None, force: bool, check: bool,
         trtllm_version: str | None, **options: Any) -> int:
    """Plan MODEL on a GPU fleet: memory and speed per layout, the layout the objective picks, replicas."""
    from planner.api import make_plan
    from planner.target import DEFAULT_TRTLLM_VERSION

    if model_name and model_path:
        raise InputError("give either MODEL or --model PATH, not both")
    if out is not None and not out.strip():
        raise InputError(f"--out needs a directory name, got {out!r}")
    if check and not out:
        raise InputError("--check needs --out DIR (the artifacts to compare against)")
    serving = _serving(options)
    result = make_plan(model_name, model_path=model_path, trtllm_version=trtllm_version or DEFAULT_TRTLLM_VERSION,
                       serving=serving, **options)
    if check:
        return _drift(result, Path(out))
    written = None
    if out and result.fits:  # before printing: a reader that closes the pipe early must not lose the files
        from planner.emit import write_all

        written = write_all(result, Path(out), force=force)
        _validate_written(Path(out))
    _print_plan(result, fmt)
    if written is not None:
        click.echo(f"planner: wrote {len(written)} files to {out}, validated", err=True)
    if not result.fits:
        click.echo(f"planner: {no_fit_summary(result)}", err=True)
        if out:
            click.echo(f"planner: nothing written to {out}", err=True)
    return EXIT_OK if result.fits else EXIT_NO_FIT


def _validate_written(out: Path) -> None:
    """Generated artifacts must pass the same checks as `planner validate`; a failure is a bug."""
    from planner.validate import format_issues, validate_repository

    issues = validate_repository(out / "model_repository")
    if issues:
        raise PlannerError(f"generated repository in {out} is invalid: {format_issues(issues)}", EXIT_BUG)


SERVING_OPTIONS = ("hf_model_dir", "checkpoint_dir", "engine_dir", "tokenizer_dir", "decoupled", "bls",
                   "max_queue_delay_microseconds", "preprocessing_instances", "postprocessing_instances", "image")


def _serving(options: dict[str, Any]) -> Any:
    """Pop the serving options (those given) into a ServingInfo."""
    from pydantic import ValidationError

    from planner.serving import ServingInfo

    given = {k: v for k in SERVING_OPTIONS if (v := options.pop(k, None)) is not None}
    if given.get("hf_model_dir") and not given.get("tokenizer_dir"):
        given["tokenizer_dir"] = given["hf_model_dir"]
    fields = ServingInfo.model_fields
    try:
        return ServingInfo(**{k: v for k, v in given.items() if k in fields})
    except ValidationError as exc:
        err = exc.errors()[0]
        message = str(err["msg"]).removeprefix("Value error, ")
        raise InputError(f"--{str(err['loc'][0]).replace('_', '-')}: {message}") from None


def _drift(result: Any, out: Path) -> int:
    """Compare what the plan generates with the files in `out`: exit 0 if identical, else 5."""
    import difflib

    from planner.drift import compare
    from planner.emit import render_all
    from planner.errors import EXIT_DRIFT

    if not result.fits:
        raise PlannerError(f"{no_fit_summary(result)}; nothing to compare", EXIT_NO_FIT)
    expected = render_all(result)
    differences = compare(expected, out)
    with _stdout_errors():
        for d in differences:
            before = f"a/{d.rel}" if d.old is not None or d.note else "/dev/null"
            after = f"b/{d.rel}" if d.new is not None else "/dev/null"
            if d.note:
                sys.stdout.write(f"--- {before}\n+++ {after}\n@@ {d.rel}: {d.note} @@\n")
                continue
            sys.stdout.writelines(difflib.unified_diff((d.old or "").splitlines(keepends=True),
                                                       (d.new or "").splitlines(keepends=True),
                                                       fromfile=before, tofile=after))
            if not d.old and not d.new:  # an empty file on one side only: unified_diff prints nothing
                sys.stdout.write(f"--- {before}\n+++ {after}\n")
    if differences:
        click.echo(f"planner: {len(differences)} file(s) in {out} differ from what the plan generates", err=True)
        return EXIT_DRIFT
    click.echo(f"planner: {out} matches the plan ({len(expected)} files)", err=True)
    return EXIT_OK


def no_fit_summary(result: Any) -> str:
    """One line: what does not fit, by how much, and what would."""
    from planner.render import gib, layout_of

    head = f"{result.model.name} does not fit on {result.fleet.nodes}×{result.fleet.gpus_per_node}× {result.fleet.gpu}"
    stages = result.memory.per_gpu
    if stages:
        lay = result.layout
        closest = f"the closest layout ({layout_of(lay)})"
        worst = min(stages, key=lambda s: s.free_bytes)
        if worst.free_bytes <= 0:
            head += f": short by {gib(-worst.free_bytes)} GiB per GPU on {closest}"
        elif result.kv_cache.max_tokens < result.kv_cache.required_tokens:
            head += f": the KV cache holds {result.kv_cache.max_tokens:,} of the {result.kv_cache.required_tokens:,} " \
                    f"tokens needed on {closest}"
        else:  # memory suffices: a latency limit or a rule rejected it; say which
            key = (lay.tp, lay.pp, lay.ep, lay.attention_dp)
            why = next((r.reason for r in result.rejected if (r.tp, r.pp, r.ep, r.attention_dp) == key), "rejected")
            head += f": {closest} fits in memory but {why}"
    if result.advice:
        head += "; would fit: " + "; ".join(result.advice)
    return head


def _print_plan(result: Any, fmt: str) -> None:
    with _stdout_errors():
        _write_plan(result, fmt)


def _write_plan(result: Any, fmt: str) -> None:
    if fmt == "json":
        sys.stdout.write(result.to_json())
    elif fmt == "yaml":
        sys.stdout.write(result.to_yaml())
    else:
        from planner.render import plan_tables
        from planner.textout import Writer

        plan_tables(result, Writer.for_stream(sys.stdout))


@cli.command()
@click.argument("model_name", metavar="MODEL")
@click.option("--gpus", required=True, help="Fleets, comma-separated (e.g. h100x8,h200x8,b200x8,l40sx8).")
@click.option("--quant", "quants", default=None, help="Weight schemes, comma-separated (e.g. fp8,nvfp4).")
@click.option("--kv-cache-dtype", default=None)
@click.option("--max-batch-size", type=int, default=None)
@click.option("--max-input-len", type=int, default=2048, show_default=True)
@click.option("--max-output-len", type=int, default=512, show_default=True)
@click.option("--max-num-tokens", type=int, default=None)
@click.option("--kv-cache-free-gpu-mem-fraction", type=float, default=0.9, show_default=True)
@click.option("--objective", type=click.Choice(("min-gpus", "throughput", "latency")), default="throughput",
              show_default=True)
@click.option("--ttft-ms", type=float, default=None)
@click.option("--tpot-ms", type=float, default=None)
@click.option("--request-rate", type=float, default=None, help="Requests/s: GPUs needed on each fleet.")
@click.option("--gpu-hour-price", default=None, help="Price of one GPU-hour: one number, or one per fleet.")
@_perf_backend_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--html", "html_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the comparison as one self-contained HTML page.")
def compare(model_name: str, gpus: str, quants: str | None, gpu_hour_price: str | None, fmt: str,
            html_path: str | None = None, **options: Any) -> int:
    """Compare MODEL across fleets and quantizations: layout, speed, GPUs needed, cost."""
    from planner.compare import compare as run
    from planner.compare import table

    rows = run(model_name, gpus, quants, gpu_hour_price, **options)
    if fmt == "table":
        _console().print(table(rows, f"{model_name}: {options['max_input_len']} in / {options['max_output_len']} out, "
                                     f"objective {options['objective']}"))
    else:
        _dump(rows, fmt)
    if html_path:
        from planner.report.command import write_compare

        click.echo(f"planner: wrote {write_compare(rows, model_name, options, html_path)}", err=True)
    return EXIT_OK


@cli.command()
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
def models(fmt: str) -> int:
    """List the built-in models."""
    from planner import catalog

    entries = catalog.models()
    if fmt == "table":
        from planner.render import models_table

        with _stdout_errors():
            _console().print(models_table(entries))
    else:
        _dump([m.model_dump(mode="json", exclude_none=True) for m in entries], fmt)
    return EXIT_OK


@cli.command()
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
def gpus(fmt: str) -> int:
    """List the built-in GPUs."""
    from planner import catalog

    entries = catalog.gpus()
    if fmt == "table":
        from planner.render import gpus_table

        with _stdout_errors():
            _console().print(gpus_table(entries))
    else:
        _dump([g.model_dump(mode="json", exclude_none=True) for g in entries], fmt)
    return EXIT_OK


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("-c", "--config", "config", type=click.Path(dir_okay=False), default=None,
              help="Regenerate from this YAML config instead of DIRECTORY/plan.json's request.")
def diff(directory: str, config: str | None) -> int:
    """Would regenerating DIRECTORY change it? Exit 0 if not, 5 with a unified diff if so."""
    from planner.api import make_plan
    from planner.plan import Plan

    out = Path(directory)
    if config:
        ctx = click.get_current_context()
        sub = plan.make_context("plan", ["-c", config, "--out", directory, "--check"], parent=ctx)
        return ctx.invoke(plan, **sub.params)
    plan_path = out / "plan.json"
    from pydantic import ValidationError

    from planner import safeio

    if safeio.path_kind(plan_path, "plan") is None:
        raise InputError(f"{plan_path} does not exist: is {directory} a `planner plan --out` directory?")
    data = safeio.read_json(plan_path, 16 * safeio.MIB, "plan")
    try:
        previous = Plan.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise InputError(f"{plan_path} is not a plan this planner reads: {field}: {err['msg']}") from None
    if previous.request is None:
        raise InputError(f"{plan_path} does not record the request it was made from; use -c CONFIG")
    result = make_plan(**previous.request.model_dump(), serving=previous.serving)
    return _drift(result, out)


@cli.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
def validate(directory: str) -> int:
    """Check a model repository (or a `plan --out` directory) against Triton's schema and wiring rules."""
    from planner.validate import format_issues, validate_repository

    root = Path(directory)
    repo = root / "model_repository" if (root / "model_repository").is_dir() else root
    issues = validate_repository(repo)
    if issues:
        click.echo(format_issues(issues))
        click.echo(f"planner: {len(issues)} problem(s) in {repo}", err=True)
        return EXIT_BAD_INPUT
    click.echo(f"planner: {repo} is valid")
    return EXIT_OK


LIVE_FORMATS = ("table", "json")


def _live_options(command: Any) -> Any:
    """Options shared by `smoke` and `rehearse`: what to send and how to report it."""
    options = [
        click.option("--protocol", type=click.Choice(["grpc", "http"]), default=None,
                     help="Decoupled models stream over either (gRPC stream, HTTP generate_stream) "
                          "[default: grpc for grpc:// URLs and port 8001, else http; rehearse: grpc]."),
        click.option("--model", default=None,
                     help="Model to send text requests to [default: tensorrt_llm for a PyTorch-flow plan, "
                          "else ensemble]."),
        click.option("--requests", type=click.IntRange(min=1), default=8, show_default=True),
        click.option("--concurrency", type=click.IntRange(min=1), default=2, show_default=True),
        click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True,
                     help="Seconds each call may take, start to last byte."),
        click.option("--deadline", type=click.FloatRange(min=0, min_open=True), default=None,
                     help="Seconds the whole check may take [default: --timeout × (10 + requests / concurrency + 1)]."),
        click.option("--max-tokens", type=click.IntRange(min=1), default=16, show_default=True),
        click.option("--prompt", default=None, help="Prompt sent with every request."),
        click.option("--format", "fmt", type=click.Choice(LIVE_FORMATS), default="table", show_default=True),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _read_plan_json(path: Path) -> dict[str, Any]:
    from planner.live.rehearse import load_plan

    try:
        return load_plan(path)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _finish_live(report: Any, fmt: str, what: str) -> int:
    from planner.errors import EXIT_LIVE_FAILED
    from planner.live import render_rich
    from planner.live.report import problems

    with _stdout_errors():
        if fmt == "json":
            sys.stdout.write(report.to_json())
        else:
            render_rich(report, _console())
    if report.ok:
        click.echo(f"planner: {what} passed: {report.succeeded}/{report.requests} requests answered", err=True)
        return EXIT_OK
    first = problems(report)[0] if problems(report) else "a check failed"
    click.echo(f"planner: {what} failed: {first}", err=True)
    return EXIT_LIVE_FAILED


@cli.command()
@click.option("--url", required=True, help="Triton endpoint, HOST:PORT (the HTTP or gRPC port).")
@click.option("--plan", "plan_path", type=click.Path(), default=None,
              help="plan.json (or its directory) to compare the served config with.")
@click.option("--tokenizer-dir", type=click.Path(file_okay=False), default=None,
              help="Local tokenizer to count output tokens of non-streamed answers (else words are counted).")
@_live_options
def smoke(url: str, plan_path: str | None, tokenizer_dir: str | None, fmt: str, prompt: str | None,
          **options: Any) -> int:
    """Check a running Triton LLM server: health, config against the plan, timed generations."""
    from planner.live import run_smoke
    from planner.live.clients import SmokeError, check_address
    from planner.live.progress import progress_bar
    from planner.live.smoke import DEFAULT_PROMPT, guess_protocol, split_url

    try:
        check_address(split_url(url))
    except SmokeError as exc:
        raise InputError(f"--url: {exc}") from None
    plan_data = _read_plan_json(Path(plan_path)) if plan_path else None
    options["protocol"] = options["protocol"] or guess_protocol(url)
    with progress_bar(fmt == "table") as progress:
        report = run_smoke(url, plan=plan_data, tokenizer_dir=tokenizer_dir, prompt=prompt or DEFAULT_PROMPT,
                           progress=progress, **options)
    return _finish_live(report, fmt, "smoke test")


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--tokenizer-dir", type=click.Path(file_okay=False), default=None,
              help="Local Hugging Face tokenizer [default: the plan's tokenizer_dir, relative to DIRECTORY].")
@click.option("--keep-workdir", type=click.Path(file_okay=False), default=None,
              help="Keep the prepared repository and the server log here.")
@_live_options
def rehearse(directory: str, tokenizer_dir: str | None, keep_workdir: str | None, fmt: str, prompt: str | None,
             **options: Any) -> int:
    """Boot DIRECTORY's model repository on a local tritonserver (CPU stand-in engine) and smoke-test it."""
    from planner.errors import EXIT_LIVE_FAILED
    from planner.live import ServerNotInstalled, find_installation
    from planner.live import rehearse as run_rehearsal
    from planner.live.progress import progress_bar
    from planner.live.rehearse import holds_tokenizer
    from planner.live.smoke import DEFAULT_PROMPT

    root = Path(directory)
    plan_data = _read_plan_json(root)
    if not (root / "model_repository").is_dir():
        raise InputError(f"{root} has no model_repository/: is it a `planner plan --out` directory?")
    tokenizer = Path(tokenizer_dir) if tokenizer_dir else root / plan_data.get("serving", {}).get("tokenizer_dir", "")
    if not holds_tokenizer(tokenizer):
        raise InputError(f"no Hugging Face tokenizer in {tokenizer}; pass --tokenizer-dir")
    try:
        find_installation()
    except ServerNotInstalled as exc:
        raise PlannerError(f"cannot rehearse: {exc}", EXIT_LIVE_FAILED) from None
    options["protocol"] = options["protocol"] or "grpc"
    if keep_workdir:
        keep = Path(keep_workdir)
        if keep.is_dir() and any(keep.iterdir()):
            raise InputError(f"--keep-workdir {keep} is not empty")
        keep.mkdir(parents=True, exist_ok=True)
    with progress_bar(fmt == "table") as progress:
        report = run_rehearsal(root, tokenizer, progress=progress, prompt=prompt or DEFAULT_PROMPT,
                               keep_workdir=Path(keep_workdir) if keep_workdir else None, **options)
    return _finish_live(report, fmt, "rehearsal")


@cli.command()
@click.argument("plan_path", metavar="PLAN", type=click.Path())
@click.option("-o", "--output", default="report.html", show_default=True, type=click.Path(),
              help="HTML file to write ('-' for standard output).")
def report(plan_path: str, output: str) -> int:
    """Render PLAN (a plan.json, or a `plan --out` directory) as one self-contained HTML page."""
    from planner.report.command import run

    written = run(plan_path, output)
    if written is not None:
        click.echo(f"planner: wrote {written}", err=True)
    return EXIT_OK


@cli.command()
def versions() -> int:
    """List the TensorRT-LLM versions the planner can target."""
    from planner.target import DEFAULT_TRTLLM_VERSION, available_versions, load_profile

    for version in available_versions():
        flows = ", ".join(load_profile(version).flows)
        click.echo(version + ("  (default)" if version == DEFAULT_TRTLLM_VERSION else "") + f"  flows: {flows}")
    return EXIT_OK


def _console() -> Any:
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # rich would exit 1 here; the command's own exit code must survive a closed pipe
            self.quiet = True
            raise BrokenPipeError

    # Pipes and CI logs get a fixed, wide layout instead of rich's 80-column fallback.
    return _Console(highlight=False, width=None if sys.stdout.isatty() else 140)


def _dump(data: Any, fmt: str) -> None:
    with _stdout_errors():
        _write_data(data, fmt)


def _write_data(data: Any, fmt: str) -> None:
    if fmt == "json":
        import json

        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        import yaml

        sys.stdout.write(yaml.safe_dump(data, sort_keys=False))


@contextlib.contextmanager
def _stdout_errors() -> Iterator[None]:
    """Output that cannot be written: a reader that went away is not an error (the command keeps
    its own exit code); anything else (a full disk, an I/O error) is one line and exit 74."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        _discard_stdout()
    except OSError as exc:
        _discard_stdout()
        raise PlannerError(f"cannot write the output: {exc.strerror or exc}", EXIT_IO_ERROR) from None


def _discard_stdout() -> None:
    """Point stdout at /dev/null so that nothing written later (nor the flush at exit) fails again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _one_line(message: str) -> str:
    text = " ".join(str(message).split())
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def _fail(message: str, code: int) -> int:
    with contextlib.suppress(OSError):
        click.echo(f"planner: error: {_one_line(message)}", err=True)
    return code


def main(argv: list[str] | None = None) -> None:
    sys.exit(_main(argv))


def run() -> None:
    """The `planner` command: main() without the interpreter's teardown when none is owed."""
    exit_now(_main(None))


def _main(argv: list[str] | None) -> int:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        code = cli.main(args=argv, prog_name="planner", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:  # bare `planner`: help, not an error
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        code = EXIT_OK
    except click.UsageError as exc:
        code = _fail(exc.format_message(), EXIT_BAD_INPUT)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except (click.Abort, KeyboardInterrupt):  # click turns Ctrl-C into Abort
        code = _fail("interrupted", EXIT_INTERRUPTED)
    except click.ClickException as exc:
        code = _fail(exc.format_message(), EXIT_BAD_INPUT)
    except PlannerError as exc:
        code = _fail(exc.message, exc.exit_code)
    except BrokenPipeError:  # a reader that went away before the command knew its result
        _discard_stdout()
        code = EXIT_OK
    except OSError as exc:
        if debug:
            raise
        # what the OS refuses about a name the user gave (too long, a loop of links) is bad input
        user = exc.errno in (errno.ENAMETOOLONG, errno.ELOOP, errno.ENOTDIR, errno.EACCES, errno.EISDIR)
        code = _fail(f"{exc.strerror or exc}: {exc.filename}" if user and exc.filename else
                     f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
                     EXIT_BAD_INPUT if user else EXIT_BUG)
    except RecursionError:
        code = _fail("input nested too deeply to read", EXIT_BAD_INPUT)
    except ValueError as exc:
        if debug:
            raise
        if "null byte" in str(exc):  # os calls refuse a path with NUL in it
            code = _fail("a path cannot contain a NUL character", EXIT_BAD_INPUT)
        else:
            code = _fail(f"unexpected ValueError: {exc} (rerun with --debug for the traceback)", EXIT_BUG)
    except Exception as exc:  # a bug: one line unless --debug
        if debug:
            raise
        code = _fail(f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", EXIT_BUG)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _discard_stdout()
    except OSError as exc:
        _discard_stdout()
        code = _fail(f"cannot write the output: {exc.strerror or exc}", EXIT_IO_ERROR)
    return code if isinstance(code, int) else EXIT_OK


__all__ = ["cli", "main", "run", "EXIT_NO_FIT"]
