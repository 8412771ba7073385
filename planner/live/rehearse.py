"""Rehearse a generated deployment on this machine, without a GPU.

``DIR`` is what the planner generated: ``DIR/model_repository`` and ``DIR/plan.json``.
The repository is copied, its ``tensorrt_llm`` model swapped for the CPU stand-in
(see ``standin``), the real ``tritonserver`` boots on loopback, the smoke test runs
against it, and the server is stopped whatever happens.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner import safeio
from planner.errors import InputError
from planner.live import plancheck, standin
from planner.live import server as triton
from planner.live.report import SmokeReport
from planner.live.smoke import DEFAULT_PROMPT, Progress, one_line, run_smoke

PLAN_FILE = "plan.json"
SERVER_DIR = "server"
MAX_PLAN_BYTES = 16 * 1024 * 1024  # a plan.json is tens of KiB
REPOSITORY_DIR = "model_repository"


def load_plan(path: Path | str) -> dict[str, Any]:
    """plan.json, or the directory that holds one, as a dict; ValueError when it is not a plan."""
    path = Path(path)
    try:
        directory = path if safeio.path_kind(path, "plan") == "dir" else None
        path = path / PLAN_FILE if directory is not None else path
        if safeio.path_kind(path, "plan") is None:
            where = f" (is {directory} a generated deployment?)" if directory is not None else ""
            raise ValueError(f"{path} not found{where}")
        raw = safeio.read_bytes(path, MAX_PLAN_BYTES, "plan")
    except InputError as exc:
        raise ValueError(exc.message) from None
    try:
        data = safeio.parse_json(raw, str(path))
    except InputError as exc:
        raise ValueError(f"{path} is not readable JSON: {exc.message.removeprefix(str(path)).lstrip(': ')}") from None
    if not isinstance(data, dict) or "schema_version" not in data:
        raise ValueError(f"{path} is not a plan written by `planner plan` (no schema_version)")
    # the fields the live checks read: a plan.json edited by hand must still have their types
    if not isinstance(data.get("serving", {}), dict):
        raise ValueError(f"{path}: serving must be a mapping, got {safeio.shown_value(data['serving'])}")
    tokenizer = data.get("serving", {}).get("tokenizer_dir", "")
    if not isinstance(tokenizer, str):
        raise ValueError(f"{path}: serving.tokenizer_dir must be a string, got {safeio.shown_value(tokenizer)}")
    return data


def holds_tokenizer(directory: Path) -> bool:
    """Whether AutoTokenizer has something to load there (a fast tokenizer or a tokenizer config)."""
    return (directory / "tokenizer.json").is_file() or (directory / "tokenizer_config.json").is_file()


@dataclass(frozen=True)
class Rehearsal:
    """What to rehearse and how hard to push it."""

    directory: Path
    tokenizer_dir: Path
    protocol: str = "grpc"
    model: str | None = None  # None: the plan's entry model (tensorrt_llm in the PyTorch flow, else ensemble)
    requests: int = 8
    concurrency: int = 2
    timeout: float = 30.0
    prompt: str = DEFAULT_PROMPT
    max_tokens: int = 16
    token_delay_ms: float = 2.0  # the stand-in's pause per token, so TTFT and latency differ
    ready_timeout_s: float = 120.0
    deadline: float | None = None  # overall bound on the smoke test (see smoke.default_deadline)
    keep_workdir: Path | None = None  # prepared repository and server log stay here when set

    def failed(self, error: str, **extra: Any) -> SmokeReport:
        protocol = "grpc" if self.protocol == "grpc" else "http"
        report = SmokeReport(
            mode="rehearsal", url=str(self.directory), protocol=protocol, model=self.model or "ensemble", **extra
        )
        report.error = error
        return report.finish()


def rehearse(
    directory: Path | str,
    tokenizer_dir: Path | str,
    protocol: str = "grpc",
    progress: Progress | None = None,
    **options: Any,
) -> SmokeReport:
    """Boot the generated repository with the stand-in and smoke-test it; never raises.

    ``options`` are the other fields of ``Rehearsal`` (requests, concurrency, timeout, ...).
    """
    job = Rehearsal(Path(directory), Path(tokenizer_dir), protocol, **options)
    try:
        with triton.sigterm_as_exit():
            return _run(job, progress or (lambda stage, done, total: None))
    except Exception as exc:  # the server is stopped by then; report instead of raising
        return job.failed(f"{type(exc).__name__}: {one_line(exc)}")


def _run(job: Rehearsal, progress: Progress) -> SmokeReport:
    try:
        plan = load_plan(job.directory)
    except ValueError as exc:
        return job.failed(str(exc))
    tokenizer = job.tokenizer_dir
    if not holds_tokenizer(tokenizer):
        return job.failed(f"{tokenizer} holds no Hugging Face tokenizer")
    work = (
        Path(tempfile.mkdtemp(prefix="planner-rehearse-")) if job.keep_workdir is None else job.keep_workdir
    )
    report: SmokeReport | None = None
    try:
        report = _rehearse_in(job, plan, tokenizer, work, progress)
        return report
    finally:
        if job.keep_workdir is None:
            if report is None or not report.ok:
                _keep_log(work, report)
            shutil.rmtree(work, ignore_errors=True)


def _keep_log(work: Path, report: SmokeReport | None) -> None:
    """A failed rehearsal keeps the server log (the rest of the work directory goes): the report
    points at it, so it must still exist when the user reads the report."""
    log = work / SERVER_DIR / triton.LOG_NAME
    if not log.is_file():
        return
    fd, name = tempfile.mkstemp(prefix="planner-rehearse-", suffix=".log")
    os.close(fd)
    shutil.move(str(log), name)
    if report is not None:
        for field in ("error", "server_log_tail"):
            text = getattr(report, field)
            if text:
                setattr(report, field, text.replace(str(log), name))
        report.notes.append(f"server log kept at {name}")


def _rehearse_in(job: Rehearsal, plan: dict[str, Any], tokenizer: Path, work: Path,
                 progress: Progress) -> SmokeReport:
    progress("prepare", 0, 1)
    repo = work / REPOSITORY_DIR
    try:
        notes = standin.prepare(job.directory / REPOSITORY_DIR, repo, tokenizer, job.token_delay_ms)
    except (standin.RepositoryError, OSError) as exc:
        return job.failed(f"cannot prepare the repository: {one_line(exc)}")
    progress("boot", 0, 1)
    try:
        running = triton.start_server(repo, workdir=work / SERVER_DIR, ready_timeout_s=job.ready_timeout_s)
    except triton.ServerNotInstalled as exc:
        return job.failed(str(exc), notes=notes)
    except triton.ServerStartError as exc:
        first, *detail = str(exc).splitlines()
        return job.failed(first, notes=notes, server_log_tail="\n".join(detail))
    try:
        report = run_smoke(
            running.url(job.protocol),
            protocol=job.protocol,
            model=job.model or plancheck.entry_model(plan),
            plan=plan,
            requests=job.requests,
            concurrency=job.concurrency,
            timeout=job.timeout,
            prompt=job.prompt,
            max_tokens=job.max_tokens,
            tokenizer_dir=str(tokenizer),
            progress=progress,
            deadline=job.deadline,
        )
    finally:
        running.stop()
    report.mode = "rehearsal"
    report.notes = notes + report.notes
    if not report.ok:
        report.server_log_tail = running.log_tail(40)
    return report.finish()
