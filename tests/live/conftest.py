"""Fixtures for live tests: a tiny tokenizer, generated-style deployments, real tritonservers.

Servers are started once per session and always stopped, so the whole live suite
boots only a handful of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from live_helpers import build_tokenizer, make_deployment

from planner.live import server as triton
from planner.live import standin


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tokenizer(tmp_path_factory.mktemp("tokenizer"))


@pytest.fixture
def deployment(tmp_path: Path) -> Path:
    return make_deployment(tmp_path / "out", decoupled=False)


def _serve(
    tmp_path_factory: pytest.TempPathFactory, tokenizer: Path, decoupled: bool
) -> Iterator[triton.RunningServer]:
    base = tmp_path_factory.mktemp("stream" if decoupled else "plain")
    make_deployment(base / "out", decoupled=decoupled)
    standin.prepare(base / "out" / "model_repository", base / "repo", tokenizer, token_delay_ms=1.0)
    with triton.triton_server(base / "repo", workdir=base / "server", ready_timeout_s=90) as running:
        yield running


@pytest.fixture(scope="session")
def plain_server(
    tmp_path_factory: pytest.TempPathFactory, tokenizer_dir: Path
) -> Iterator[triton.RunningServer]:
    yield from _serve(tmp_path_factory, tokenizer_dir, decoupled=False)


@pytest.fixture(scope="session")
def stream_server(
    tmp_path_factory: pytest.TempPathFactory, tokenizer_dir: Path
) -> Iterator[triton.RunningServer]:
    yield from _serve(tmp_path_factory, tokenizer_dir, decoupled=True)
