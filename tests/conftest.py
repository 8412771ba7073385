"""Shared fixtures."""

from __future__ import annotations

import pytest

from planner import catalog
from planner.specs import RuntimeProfile, Workload


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
