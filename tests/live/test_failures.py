"""The server dies while the smoke test is sending requests."""

from __future__ import annotations

import time

import pytest
from live_helpers import make_deployment

from planner.live import server as triton
from planner.live import standin
from planner.live.smoke import run_smoke


@pytest.mark.parametrize(("protocol", "decoupled"), [("grpc", True), ("http", False)])
def test_server_killed_mid_run(tmp_path, tokenizer_dir, protocol, decoupled):
    make_deployment(tmp_path / "out", decoupled=decoupled)
    # 20 ms per token keeps requests in flight when the kill lands.
    standin.prepare(
        tmp_path / "out" / "model_repository", tmp_path / "repo", tokenizer_dir, token_delay_ms=20
    )
    with triton.triton_server(tmp_path / "repo", workdir=tmp_path / "server", ready_timeout_s=90) as running:

        def kill_after_two(stage: str, done: int, total: int) -> None:
            if stage == "requests" and done == 2:
                running.kill()

        started = time.monotonic()
        report = run_smoke(
            running.url(protocol),
            protocol,
            requests=40,
            concurrency=2,
            max_tokens=8,
            timeout=10,
            progress=kill_after_two,
        )
        elapsed = time.monotonic() - started
    assert not running.alive()
    assert elapsed < 20
    assert not report.ok and report.status == "failed"
    assert report.succeeded >= 2 and report.failed > 0
    assert report.error.startswith("server stopped answering after") and "\n" not in report.error
    # Requests not yet started when the server went away were never sent.
    assert report.succeeded + len(report.request_errors) <= 40
