"""Running the CLI as a hostile user would: in-process where possible, a subprocess for signals and races."""

from __future__ import annotations

import contextlib
import io
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from planner.cli import main

PLANNER = [sys.executable, "-m", "planner"]
SMALL = ["plan", "llama-3.1-8b", "--gpus", "l40sx1", "--flow", "engine"]


@dataclass
class Result:
    code: int
    out: str
    err: str
    seconds: float


def run(*argv: object) -> Result:
    """`planner ARGV` in this process, with stdout and stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    start = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in argv])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0
    return Result(code, out.getvalue(), err.getvalue(), time.monotonic() - start)


def run_process(*argv: object, timeout: float = 60, **kwargs) -> Result:
    start = time.monotonic()
    done = subprocess.run([*PLANNER, *map(str, argv)], capture_output=True, text=True, timeout=timeout, **kwargs)
    return Result(done.returncode, done.stdout, done.stderr, time.monotonic() - start)


def one_line_error(result: Result, code: int = 2) -> str:
    """The single error line of a refused run; fails unless the run exited `code` with exactly one line."""
    assert result.code == code, (result.code, result.err[-2000:])
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err[:2000]
    assert len(lines[0]) <= 500, f"an error line of {len(lines[0])} characters"
    return lines[0]


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@contextlib.contextmanager
def dripping_server(interval: float = 0.2) -> Iterator[int]:
    """An HTTP server on 127.0.0.1 that sends its headers, then one byte every `interval` seconds."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    stop = threading.Event()

    def handle(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n")
            while not stop.is_set():
                conn.sendall(b" ")
                time.sleep(interval)

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        srv.close()
