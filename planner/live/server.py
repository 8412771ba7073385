"""Find and run a real ``tritonserver`` on loopback.

The ``nvidia-pytriton`` wheel ships a Triton build (binary, Python backend, one
Python backend stub per interpreter version, bundled shared libraries).  We run
that binary in place and assemble a private backend directory next to the log,
because the Python backend looks for ``triton_python_backend_stub`` beside
``libtriton_python.so`` and the wheel keeps the stubs in a per-version folder.

``PLANNER_TRITON_HOME`` may name any Triton install laid out like the NGC
container (``bin/tritonserver``, ``backends/``); it is then used as it is.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

LOG_NAME = "tritonserver.log"
INSTALL_HINT = "pip install -e '.[live]' in the planner checkout (brings nvidia-pytriton, which bundles tritonserver)"
HOME_ENV = "PLANNER_TRITON_HOME"
_PY_BACKEND_FILES = ("libtriton_python.so", "triton_python_backend_utils.py")
_STUB = "triton_python_backend_stub"


class ServerNotInstalled(RuntimeError):
    """No usable tritonserver was found."""


class ServerStartError(RuntimeError):
    """tritonserver exited or did not become ready in time."""


@dataclass(frozen=True)
class TritonInstall:
    binary: Path
    backends: Path  # a backend directory as Triton expects it, or the wheel's (see stub)
    libs: Path | None  # shared libraries the binary and stub were linked against
    stub: Path | None  # stub to place beside libtriton_python.so; None when already there


def _python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _from_home(home: Path) -> TritonInstall:
    binary = home / "bin" / "tritonserver"
    backends = home / "backends"
    if not binary.is_file() or not (backends / "python").is_dir():
        raise ServerNotInstalled(
            f"{HOME_ENV}={home} has no bin/tritonserver with backends/python; unset it or {INSTALL_HINT}"
        )
    return TritonInstall(binary=binary, backends=backends, libs=None, stub=None)


def find_installation() -> TritonInstall:
    """Locate tritonserver: ``$PLANNER_TRITON_HOME`` first, then the pytriton wheel."""
    home = os.environ.get(HOME_ENV)
    if home:
        return _from_home(Path(home))
    try:
        import pytriton
    except ImportError as exc:
        raise ServerNotInstalled(f"tritonserver not found; {INSTALL_HINT}") from exc
    root = Path(pytriton.__file__).resolve().parent / "tritonserver"
    binary = root / "bin" / "tritonserver"
    stub = root / "python_backend_stubs" / _python_version() / _STUB
    # auditwheel puts the bundled libraries beside the package directory.
    libs = root.parent.parent / "nvidia_pytriton.libs"
    if not binary.is_file():
        raise ServerNotInstalled(f"pytriton at {root.parent} ships no tritonserver binary; {INSTALL_HINT}")
    if not stub.is_file():
        raise ServerNotInstalled(
            f"pytriton has no Python backend stub for Python {_python_version()}; "
            f"use a Python it supports ({', '.join(sorted(p.name for p in stub.parent.parent.iterdir()))})"
        )
    return TritonInstall(
        binary=binary, backends=root / "backends", libs=libs if libs.is_dir() else None, stub=stub
    )


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        dst.symlink_to(src)
    except OSError:
        shutil.copy2(src, dst)


def prepare_backends(install: TritonInstall, workdir: Path) -> Path:
    """Return a backend directory whose python/ holds the stub for this interpreter."""
    if install.stub is None:
        return install.backends
    python_dir = workdir / "backends" / "python"
    python_dir.mkdir(parents=True, exist_ok=True)
    for name in _PY_BACKEND_FILES:
        _link_or_copy(install.backends / "python" / name, python_dir / name)
    # A symlink keeps the stub's $ORIGIN-relative RPATH pointing at the wheel's libraries.
    _link_or_copy(install.stub, python_dir / _STUB)
    return workdir / "backends"


def server_env(install: TritonInstall) -> dict[str, str]:
    env = dict(os.environ)
    lib_dirs = [str(install.libs)] if install.libs else []
    # The stub links libpython3.X.so; prefer the one of the running interpreter over the system's.
    if sysconfig.get_config_var("Py_ENABLE_SHARED"):
        lib_dirs.append(str(sysconfig.get_config_var("LIBDIR")))
    if env.get("LD_LIBRARY_PATH"):
        lib_dirs.append(env["LD_LIBRARY_PATH"])
    env["LD_LIBRARY_PATH"] = os.pathsep.join(lib_dirs)
    # The embedded interpreter derives sys.prefix from the first `python3` on PATH, so models
    # see this environment's packages (transformers, numpy) when it comes first.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 20) -> str:
    """Last lines of a log, reading at most its last 64 KiB."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 65536))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class RunningServer:
    process: subprocess.Popen[bytes]
    host: str
    http_port: int
    grpc_port: int
    metrics_port: int
    log_path: Path
    workdir: Path
    _owned_workdir: bool = field(default=False, repr=False)

    @property
    def http_url(self) -> str:
        return f"{self.host}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    def url(self, protocol: str) -> str:
        return self.grpc_url if protocol == "grpc" else self.http_url

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        return tail(self.log_path, lines)

    def stop(self, grace_s: float = 4.0) -> None:
        """Terminate the whole process group (server and backend stubs); idempotent."""
        _kill_group(self.process, grace_s)
        if self._owned_workdir:
            # Keep the log: callers may still read it after the server stopped.
            shutil.rmtree(self.workdir / "backends", ignore_errors=True)

    def kill(self) -> None:
        """Kill abruptly, as a crash would."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def _kill_group(process: subprocess.Popen[bytes], grace_s: float) -> None:
    pgid = process.pid  # start_new_session=True makes the server its group leader
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace_s)
    # Stubs may outlive the server briefly; the group kill reaches them too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace_s)


def _ready(http_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{http_url}/v2/health/ready", timeout=1.0) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start_server(
    model_repository: Path,
    *,
    workdir: Path | None = None,
    host: str = "127.0.0.1",
    extra_args: Sequence[str] = (),
    install: TritonInstall | None = None,
    ready_timeout_s: float = 120.0,
) -> RunningServer:
    """Start tritonserver and wait until it reports ready; raise ServerStartError otherwise."""
    install = install or find_installation()
    repo = Path(model_repository).resolve()
    if not repo.is_dir():
        raise ServerStartError(f"model repository {repo} does not exist")
    owned = workdir is None
    work = Path(tempfile.mkdtemp(prefix="planner-triton-")) if workdir is None else Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    backends = prepare_backends(install, work)
    ports: list[int] = []
    while len(ports) < 3:  # the kernel may hand out a just-closed port twice
        port = free_port(host)
        if port not in ports:
            ports.append(port)
    log_path = work / LOG_NAME
    args = [
        str(install.binary),
        f"--model-repository={repo}",
        f"--backend-directory={backends}",
        f"--http-address={host}",
        f"--http-port={ports[0]}",
        f"--grpc-address={host}",
        f"--grpc-port={ports[1]}",
        f"--metrics-address={host}",
        f"--metrics-port={ports[2]}",
        "--allow-gpu-metrics=false",
        "--pinned-memory-pool-byte-size=0",
        "--exit-timeout-secs=3",
        # A unique shared-memory prefix lets several servers run side by side.
        f"--backend-config=python,shm-region-prefix-name=planner_{uuid.uuid4().hex[:12]}_",
        *extra_args,
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=server_env(install),
            start_new_session=True,
        )
    server = RunningServer(process, host, ports[0], ports[1], ports[2], log_path, work, owned)
    try:
        _wait_ready(server, ready_timeout_s)
    except BaseException:
        server.stop()
        raise
    return server


# Logged on every CPU-only start; not a reason for anything to fail.
_HARMLESS = ("CudaDriverHelper has not been initialized",)


def startup_problems(log_path: Path, limit: int = 5) -> list[str]:
    """The error lines of a Triton log, first line of each message only (tracebacks follow it)."""
    problems = []
    for line in tail(log_path, 400).splitlines():
        if line[:1] == "E" and line[1:2].isdigit() and "] " in line:
            message = line.split("] ", 1)[1].strip().strip('"').split("\\n", 1)[0]
        elif line.startswith("error: "):
            message = line[len("error: ") :]
        else:
            continue
        if not any(h in message for h in _HARMLESS) and message not in problems:
            problems.append(message)
    return problems[:limit]


def _start_error(server: RunningServer, what: str) -> ServerStartError:
    problems = startup_problems(server.log_path)
    cause = f": {problems[0]}" if problems else ""
    detail = "\n".join(problems) if problems else server.log_tail()
    return ServerStartError(f"{what}{cause}\n{detail}\n(log: {server.log_path})")


def _wait_ready(server: RunningServer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not server.alive():
            raise _start_error(
                server, f"tritonserver exited with code {server.process.returncode} during startup"
            )
        if _ready(server.http_url):
            return
        time.sleep(0.2)
    raise _start_error(server, f"tritonserver not ready after {timeout_s:.0f}s")


@contextlib.contextmanager
def triton_server(model_repository: Path, **kwargs: object) -> Iterator[RunningServer]:
    """Run tritonserver for the duration of a ``with`` block; it is always stopped afterwards."""
    with sigterm_as_exit():
        server = start_server(model_repository, **kwargs)  # type: ignore[arg-type]
        try:
            yield server
        finally:
            server.stop()


@contextlib.contextmanager
def sigterm_as_exit() -> Iterator[None]:
    """Turn SIGTERM into SystemExit while a server runs, so ``finally`` blocks still stop it.

    The server lives in its own session (terminal Ctrl-C does not reach it), so without
    this a terminated planner would leave it running.  Only the main thread may install
    handlers, and one installed by the caller is left alone.
    """
    import threading

    if threading.current_thread() is not threading.main_thread() or (
        signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def _exit(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
