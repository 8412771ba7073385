"""The result of a smoke test or a rehearsal, and how it is shown.

``SmokeReport.status``: ``passed`` every check passed; ``failed`` the server answered
but something was wrong (a request failed, an empty answer, the served config differs
from the plan); ``not-run`` the run could not happen (server unreachable, model
missing, server failed to start).  ``exit_code`` is the command's: 0 when passed,
4 (a live-server check failed) otherwise.
"""

from __future__ import annotations

import io
import json
from typing import Literal

from pydantic import BaseModel, Field

EXIT_OK = 0
EXIT_LIVE_FAILED = 4  # planner.errors.EXIT_LIVE_FAILED


class ConfigDiff(BaseModel):
    model: str
    field: str
    plan: str
    served: str

    def line(self) -> str:
        return f"{self.model}.{self.field}: plan {self.plan}, served {self.served}"


class SmokeReport(BaseModel):
    mode: Literal["smoke", "rehearsal"] = "smoke"
    url: str
    protocol: Literal["http", "grpc"]
    model: str
    ok: bool = False
    error: str | None = None  # one line, set when the run could not complete
    server_version: str | None = None
    server_extensions: list[str] = Field(default_factory=list)
    server_live: bool = False
    server_ready: bool = False
    model_ready: bool = False
    decoupled: bool = False
    streaming: bool = False
    transport: str | None = None  # infer, grpc-stream or http-sse
    config_diffs: list[ConfigDiff] = Field(default_factory=list)
    requests: int = 0
    concurrency: int = 0
    succeeded: int = 0
    failed: int = 0
    request_errors: list[str] = Field(default_factory=list)  # the first few distinct ones
    wall_s: float = 0.0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    ttft_p50_ms: float | None = None
    ttft_p95_ms: float | None = None
    requests_per_s: float | None = None
    output_tokens: int = 0
    output_tokens_per_s: float | None = None
    tokens_counted_by: str | None = None  # stream-responses, tokenizer or words (an estimate)
    sample_output: str | None = None
    notes: list[str] = Field(default_factory=list)
    server_log_tail: str | None = None  # rehearsal only, when the server misbehaved

    @property
    def status(self) -> Literal["passed", "failed", "not-run"]:
        if self.ok:
            return "passed"
        if self.error is not None and self.succeeded == 0 and not self.config_diffs:
            return "not-run"
        return "failed"

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.ok else EXIT_LIVE_FAILED

    def finish(self) -> SmokeReport:
        """Decide ``ok`` from what was recorded."""
        self.ok = (
            self.error is None
            and self.model_ready
            and self.failed == 0
            and self.succeeded == self.requests
            and not self.config_diffs
        )
        return self

    def to_json(self) -> str:
        data = self.model_dump(mode="json")
        data["status"] = self.status
        data["exit_code"] = self.exit_code
        return json.dumps(data, indent=2) + "\n"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _rate(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.2f} {unit}"


def _tokens(report: SmokeReport) -> str:
    if report.tokens_counted_by is None:
        return "-"
    rate = _rate(report.output_tokens_per_s, "tok/s")
    return f"{report.output_tokens} ({rate}, counted by {report.tokens_counted_by})"


def summary_rows(report: SmokeReport) -> list[tuple[str, str]]:
    result = ("result", "OK" if report.ok else ("FAILED" if report.status == "failed" else "NOT RUN"))
    if not report.server_live:
        # Nothing was measured; the error line says why.
        target = report.url if report.mode == "rehearsal" else f"{report.protocol}://{report.url}"
        return [result, ("target", target)]
    rows = [
        result,
        ("server", f"{report.protocol}://{report.url}  triton {report.server_version or '?'}"),
        ("live / ready", f"{report.server_live} / {report.server_ready}"),
        ("model", f"{report.model}  ready={report.model_ready}  decoupled={report.decoupled}"),
        ("transport", report.transport or "-"),
        ("requests", f"{report.succeeded}/{report.requests} ok, concurrency {report.concurrency}"),
        ("latency p50 / p95", f"{_ms(report.latency_p50_ms)} / {_ms(report.latency_p95_ms)}"),
        ("TTFT p50 / p95", f"{_ms(report.ttft_p50_ms)} / {_ms(report.ttft_p95_ms)}"),
        ("throughput", _rate(report.requests_per_s, "req/s")),
        ("output tokens", _tokens(report)),
    ]
    if report.sample_output is not None:
        rows.append(("sample answer", report.sample_output[:80]))
    return rows


def problems(report: SmokeReport) -> list[str]:
    lines = []
    if report.error:
        lines.append(f"error: {report.error}")
    lines += [f"differs from plan: {d.line()}" for d in report.config_diffs]
    lines += [f"request failed: {e}" for e in report.request_errors]
    lines += [f"note: {n}" for n in report.notes]
    return lines


def render_text(report: SmokeReport) -> str:
    out = io.StringIO()
    title = "Rehearsal" if report.mode == "rehearsal" else "Smoke test"
    out.write(f"{title}: {report.model}\n")
    width = max(len(k) for k, _ in summary_rows(report))
    for key, value in summary_rows(report):
        out.write(f"  {key:<{width}}  {value}\n")
    for line in problems(report):
        out.write(f"  {line}\n")
    if report.server_log_tail and not report.ok:
        out.write("  server log (tail):\n")
        for line in report.server_log_tail.splitlines():
            out.write(f"    {line}\n")
    return out.getvalue()


def render_rich(report: SmokeReport, console: object | None = None) -> None:
    """Print the report as a rich table (to ``console`` or a new one)."""
    from rich.console import Console
    from rich.table import Table

    con = console if isinstance(console, Console) else Console()
    title = "Rehearsal" if report.mode == "rehearsal" else "Smoke test"
    table = Table(title=f"{title}: {report.model}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in summary_rows(report):
        style = "" if key != "result" else ("green" if report.ok else "red")
        table.add_row(key, value, style=style)
    con.print(table)
    for line in problems(report):
        con.print(line, style="red" if not line.startswith("note") else "dim", markup=False, highlight=False)
    if report.server_log_tail and not report.ok:
        con.print("server log (tail):", style="bold")
        con.print(report.server_log_tail, markup=False, highlight=False)
