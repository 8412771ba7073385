"""Shared fixtures."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from planner import catalog
from planner.specs import RuntimeProfile, Workload

_CACHE = tempfile.mkdtemp(prefix="planner-cache-")


def pytest_configure(config):
    # the parsed package data goes to a cache of the run's own (subprocesses inherit it), not ~/.cache
    os.environ["PLANNER_CACHE_DIR"] = _CACHE


def pytest_unconfigure(config):
    shutil.rmtree(_CACHE, ignore_errors=True)


@pytest.fixture
def llama70b():
    return catalog.get_model("llama-3.1-70b")


@pytest.fixture
def llama8b():
    return catalog.get_model("llama-3.1-8b")


@pytest.fixture
def h100():
    return catalog.get_gpu("h100")


@pytest.fixture
def small_workload() -> Workload:
    return Workload(max_batch_size=8, max_input_len=1024, max_output_len=256, max_num_tokens=8192)


@pytest.fixture
def runtime() -> RuntimeProfile:
    return RuntimeProfile()
