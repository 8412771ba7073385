"""Smoke-test a running Triton server that serves a generated TensorRT-LLM repository.

Checks health, metadata and the served config against the plan, then sends
generation requests with bounded concurrency: streamed (gRPC bidirectional
stream, or HTTP ``generate_stream`` server-sent events) when the pipeline is
decoupled, plain ``infer`` otherwise.  Every failure ends up as one line in the
report; nothing here raises to the caller or waits past its deadline.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from planner.live import plancheck
from planner.live.clients import Client, Outcome, RequestSpec, SmokeError, connect, one_line
from planner.live.report import SmokeReport

DEFAULT_PROMPT = "The quick brown fox jumps over the lazy dog"
MAX_RECORDED_ERRORS = 5

# progress(stage, done, total): stage is "probe", "config", "requests" or "done"
# (rehearse adds "prepare" and "boot" before them).
Progress = Callable[[str, int, int], None]

__all__ = ["DEFAULT_PROMPT", "Progress", "SmokeError", "guess_protocol", "one_line", "percentile", "run_smoke",
           "split_url"]


def split_url(url: str) -> str:
    """Accept ``host:port`` or ``scheme://host:port[/]`` and return ``host:port``."""
    url = url.strip()
    if "://" in url:
        url = url.split("://", 1)[1]
    return url.rstrip("/")


def guess_protocol(url: str) -> str:
    """``grpc`` for a grpc:// URL or Triton's default gRPC port 8001, else ``http``."""
    url = url.strip().lower()
    if "://" in url:
        return "grpc" if url.startswith("grpc") else "http"
    return "grpc" if split_url(url).rpartition(":")[2] == "8001" else "http"


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


# -- the run ----------------------------------------------------------------------------------------


def _probe(client: Client, report: SmokeReport) -> None:
    report.server_live = client.live()
    if not report.server_live:
        raise SmokeError(f"server at {client.url} answers but is not live")
    report.server_ready = client.ready()
    meta = client.metadata()
    report.server_version = meta.get("version")
    report.server_extensions = list(meta.get("extensions", []))


def _served_configs(client: Client, model: str, report: SmokeReport) -> dict[str, dict[str, Any]]:
    report.model_ready = client.model_ready(model)
    if not report.model_ready:
        try:
            names = ", ".join(client.model_names()) or "none"
        except SmokeError:
            names = "unknown"
        raise SmokeError(f"model '{model}' is not ready on the server (models there: {names})")
    configs = {model: client.config(model)}
    for step in plancheck.ensemble_steps(configs[model]):
        if step not in configs:
            configs[step] = client.config(step)
    for extra in plancheck.PIPELINE_MODELS:
        # tensorrt_llm_bls is not an ensemble step but belongs to the plan's pipeline.
        if extra not in configs and extra == "tensorrt_llm_bls":
            with contextlib.suppress(SmokeError):
                if client.model_ready(extra):
                    configs[extra] = client.config(extra)
    return configs


def _count_tokens(outcomes: list[Outcome], streaming: bool, tokenizer: Any) -> tuple[int, str]:
    if streaming:
        return sum(o.stream_responses for o in outcomes), "stream-responses"
    if tokenizer is not None:
        return sum(len(tokenizer.encode(o.text, add_special_tokens=False)) for o in outcomes), "tokenizer"
    return sum(len(o.text.split()) for o in outcomes), "words (estimate)"


def _load_tokenizer(tokenizer_dir: str | None, report: SmokeReport) -> Any:
    if not tokenizer_dir:
        return None
    # transformers advises at import that torch is missing; only its tokenizers are used here
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(tokenizer_dir)
    except Exception as exc:
        report.notes.append(f"tokenizer at {tokenizer_dir} not loaded, tokens estimated: {one_line(exc)}")
        return None


def _send_all(
    url: str,
    protocol: str,
    spec: RequestSpec,
    count: int,
    concurrency: int,
    timeout: float,
    progress: Progress,
    still_up: Callable[[], bool],
) -> tuple[list[Outcome], float, str | None]:
    """Send ``count`` requests from ``concurrency`` workers; stop early if the server goes away.

    Workers are daemon threads and the wait has an overall deadline, so a call stuck
    in a client library can neither hang the run nor keep the process alive.
    """
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    stop = threading.Event()
    abort: list[str] = []
    issued = iter(range(count))

    def next_index() -> int | None:
        with lock:
            return None if stop.is_set() else next(issued, None)

    def worker() -> None:
        client: Client | None = None
        try:
            client = connect(url, protocol, timeout)
            while next_index() is not None:
                try:
                    outcome = client.generate(spec)
                except SmokeError as exc:
                    outcome = Outcome(error=str(exc))
                except Exception as exc:
                    outcome = Outcome(error=f"{type(exc).__name__}: {one_line(exc)}")
                if outcome.error is None and not outcome.text.strip():
                    outcome.error = "empty text_output"
                with lock:
                    outcomes.append(outcome)
                    done = len(outcomes)
                if outcome.error is not None and not stop.is_set() and not still_up():
                    abort.append(
                        f"server stopped answering after {done - 1} of {count} requests: {outcome.error}"
                    )
                    stop.set()
                progress("requests", done, count)
        except SmokeError as exc:
            with lock:
                outcomes.append(Outcome(error=str(exc)))
        finally:
            if client is not None:
                client.close()

    start = time.perf_counter()
    # Every request has its own timeout; the overall deadline only catches calls that ignore it.
    deadline = start + timeout * (math.ceil(count / max(1, concurrency)) + 1)
    threads = [threading.Thread(target=worker, name=f"smoke-{i}", daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.perf_counter()))
    if any(t.is_alive() for t in threads):
        stop.set()
        abort.append(f"requests still unanswered after the overall deadline of {deadline - start:.0f}s")
    with lock:
        return list(outcomes), time.perf_counter() - start, (abort[0] if abort else None)


def default_deadline(timeout: float, requests: int, concurrency: int) -> float:
    """The overall bound when none is given: a call per probe and config step, then the requests."""
    return timeout * (SETUP_CALLS + math.ceil(requests / max(1, concurrency)) + 1)


# liveness, readiness, metadata, model readiness and the configs of a four-step ensemble and BLS
SETUP_CALLS = 10


def run_smoke(
    url: str,
    protocol: str = "grpc",
    model: str | None = None,
    plan: dict[str, Any] | None = None,
    requests: int = 8,
    concurrency: int = 2,
    timeout: float = 30.0,
    prompt: str = DEFAULT_PROMPT,
    max_tokens: int = 16,
    tokenizer_dir: str | None = None,
    progress: Progress | None = None,
    deadline: float | None = None,
) -> SmokeReport:
    """Probe the server, compare its config with ``plan`` and time ``requests`` generations.

    Each call is bounded by ``timeout``; the whole run by ``deadline`` seconds (default:
    ``default_deadline``), after which the report says so, whatever call is still waiting.
    """
    progress = progress or (lambda stage, done, total: None)
    guess = model is None and plan is None  # no plan to say which flow: look at what the server serves
    model = model or plancheck.entry_model(plan)  # the plan's flow decides, the ensemble otherwise
    address = split_url(url)
    report = SmokeReport(url=address, protocol="grpc" if protocol == "grpc" else "http", model=model)
    report.requests, report.concurrency = requests, concurrency
    if protocol not in ("http", "grpc"):
        report.error = f"unknown protocol {protocol!r} (use http or grpc)"
        return report.finish()
    if requests < 1 or concurrency < 1 or timeout <= 0 or max_tokens < 1 or (deadline is not None and deadline <= 0):
        report.error = "requests, concurrency, timeout, deadline and max_tokens must be positive"
        return report.finish()
    limit = deadline if deadline is not None else default_deadline(timeout, requests, concurrency)
    done = threading.Event()

    def body() -> None:
        try:
            _run(report, address, protocol, model, plan, requests, concurrency, timeout, prompt, max_tokens,
                 tokenizer_dir, progress, guess)
        finally:
            done.set()

    # The run is a daemon thread: a call that ignores its own timeout can neither hang the
    # caller past the deadline nor keep the process alive.
    threading.Thread(target=body, name="smoke", daemon=True).start()
    if not done.wait(limit):
        try:
            late = report.model_copy(deep=True)
        except Exception:  # the run is still changing it; keep what identifies the run
            late = SmokeReport(url=address, protocol=report.protocol, model=model, requests=requests,
                               concurrency=concurrency)
        late.error = f"smoke test not finished within its overall deadline of {limit:g}s"
        progress("done", 1, 1)
        return late.finish()
    progress("done", 1, 1)
    return report.finish()


def _run(report: SmokeReport, address: str, protocol: str, model: str, plan: dict[str, Any] | None, requests: int,
         concurrency: int, timeout: float, prompt: str, max_tokens: int, tokenizer_dir: str | None,
         progress: Progress, guess: bool) -> None:
    client: Client | None = None
    try:
        client = connect(address, protocol, timeout)
        progress("probe", 0, 1)
        _probe(client, report)
        if guess and not client.model_ready(model) and client.model_ready("tensorrt_llm"):
            # a PyTorch-flow (llmapi) repository has no ensemble; its tensorrt_llm model takes text
            model = report.model = "tensorrt_llm"
        progress("config", 0, 1)
        configs = _served_configs(client, model, report)
        entry = configs[model]
        report.decoupled = plancheck.decoupled(entry) or any(
            plancheck.decoupled(c) for name, c in configs.items() if name != model
        )
        if plan is not None:
            report.config_diffs = plancheck.compare_with_plan(plan, configs, model)
        missing = plancheck.missing_inputs(model, entry, streaming=False)
        if missing:
            raise SmokeError(
                f"model '{model}' cannot take text requests: " + "; ".join(d.line() for d in missing)
            )
        declared = plancheck.inputs(entry)
        names = plancheck.tensor_names(entry)
        report.streaming = report.decoupled and names.stream in declared
        report.transport = (
            ("grpc-stream" if protocol == "grpc" else "http-sse") if report.streaming else "infer"
        )
        spec = RequestSpec(
            model=model,
            prompt=prompt,
            max_tokens=max_tokens,
            batched=int(entry.get("max_batch_size", 0) or 0) > 0,
            stream=report.streaming,
            exclude_input=names.exclude_input in declared,
            names=names,
        )
        tokenizer = None if report.streaming else _load_tokenizer(tokenizer_dir, report)

        def still_up() -> bool:
            try:
                return client is not None and client.live()
            except SmokeError:
                return False

        outcomes, wall, abort = _send_all(
            address, protocol, spec, requests, concurrency, timeout, progress, still_up
        )
        _summarise(report, outcomes, wall, tokenizer)
        if abort:
            report.error = abort
    except SmokeError as exc:
        report.error = str(exc)
    except Exception as exc:  # anything unforeseen still becomes one line
        report.error = f"{type(exc).__name__}: {one_line(exc)}"
    finally:
        if client is not None:
            client.close()


def _summarise(report: SmokeReport, outcomes: list[Outcome], wall: float, tokenizer: Any) -> None:
    good = [o for o in outcomes if o.error is None]
    report.succeeded = len(good)
    report.failed = report.requests - len(good)
    errors = []
    for o in outcomes:
        if o.error is not None and o.error not in errors:
            errors.append(o.error)
    report.request_errors = errors[:MAX_RECORDED_ERRORS]
    report.wall_s = round(wall, 4)
    latencies = [o.latency_s * 1000 for o in good]
    ttfts = [o.ttft_s * 1000 for o in good if o.ttft_s is not None]
    report.latency_p50_ms = _round(percentile(latencies, 50))
    report.latency_p95_ms = _round(percentile(latencies, 95))
    report.ttft_p50_ms = _round(percentile(ttfts, 50))
    report.ttft_p95_ms = _round(percentile(ttfts, 95))
    if good and wall > 0:
        report.requests_per_s = round(len(good) / wall, 3)
        report.output_tokens, report.tokens_counted_by = _count_tokens(good, report.streaming, tokenizer)
        report.output_tokens_per_s = round(report.output_tokens / wall, 3)
        report.sample_output = good[0].text


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
