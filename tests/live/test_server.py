"""Discovering, starting and stopping the real tritonserver."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from planner.live import server as triton

ADD_ONE = """
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        out = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "X").as_numpy()
            out.append(pb_utils.InferenceResponse([pb_utils.Tensor("Y", x + 1)]))
        return out
"""
ADD_ONE_CONFIG = """
backend: "python"
max_batch_size: 4
input [ { name: "X" data_type: TYPE_FP32 dims: [ 2 ] } ]
output [ { name: "Y" data_type: TYPE_FP32 dims: [ 2 ] } ]
instance_group [ { count: 1 kind: KIND_CPU } ]
"""


def _repo(tmp_path, code=ADD_ONE, name="add_one"):
    model = tmp_path / "repo" / name
    (model / "1").mkdir(parents=True)
    (model / "config.pbtxt").write_text(ADD_ONE_CONFIG)
    (model / "1" / "model.py").write_text(code)
    return tmp_path / "repo"


def _gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_installation_from_pytriton_wheel():
    install = triton.find_installation()
    assert install.binary.name == "tritonserver" and os.access(install.binary, os.X_OK)
    assert install.stub is not None and f"{sys.version_info.major}.{sys.version_info.minor}" in str(
        install.stub
    )
    assert (install.backends / "python" / "libtriton_python.so").is_file()
    assert install.libs is not None and any(install.libs.glob("libtritonserver*"))


def test_home_override_without_server(tmp_path, monkeypatch):
    monkeypatch.setenv(triton.HOME_ENV, str(tmp_path))
    with pytest.raises(triton.ServerNotInstalled, match="pip install"):
        triton.find_installation()


def test_prepared_backend_dir_has_matching_stub(tmp_path):
    install = triton.find_installation()
    backends = triton.prepare_backends(install, tmp_path)
    stub = backends / "python" / "triton_python_backend_stub"
    assert stub.resolve() == install.stub.resolve()
    env = triton.server_env(install)
    assert env["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)
    assert str(install.libs) in env["LD_LIBRARY_PATH"]


def test_serves_and_always_stops(tmp_path):
    with pytest.raises(RuntimeError, match="boom"), triton.triton_server(_repo(tmp_path)) as running:
        pid = running.process.pid
        assert running.host == "127.0.0.1" and len({running.http_port, running.grpc_port}) == 2
        with urllib.request.urlopen(f"http://{running.http_url}/v2/models/add_one/ready", timeout=5) as resp:
            assert resp.status == 200
        raise RuntimeError("boom")
    assert _gone(pid)
    assert "Started HTTPService at 127.0.0.1" in running.log_path.read_text()


def test_startup_failure_reports_log(tmp_path):
    broken = "raise ImportError('model code is broken')\n"
    started = time.monotonic()
    with pytest.raises(triton.ServerStartError) as info:
        triton.start_server(_repo(tmp_path, code=broken), workdir=tmp_path / "server", ready_timeout_s=60)
    assert time.monotonic() - started < 60
    assert "exited with code" in str(info.value).splitlines()[0]
    assert "model code is broken" in str(info.value)


def test_missing_repository(tmp_path):
    with pytest.raises(triton.ServerStartError, match="does not exist"):
        triton.start_server(tmp_path / "nowhere")


def test_sigterm_to_the_planner_still_stops_the_server(tmp_path):
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from planner.live.server import triton_server\n"
        "with triton_server(Path(sys.argv[1])) as running:\n"
        "    print(running.process.pid, flush=True)\n"
        "    time.sleep(60)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(_repo(tmp_path))], stdout=subprocess.PIPE, text=True
    )
    try:
        server_pid = int(child.stdout.readline())
        child.terminate()
        assert child.wait(timeout=30) == 128 + signal.SIGTERM
        assert _gone(server_pid)
    finally:
        child.kill()
