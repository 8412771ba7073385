"""Reading the user's files without trusting them.

Only regular files are read (a FIFO or a device named `config.json` would block or never end),
never more than a stated number of bytes, and JSON is parsed with limits on nesting depth and on
the length of integers, so a hostile file ends in one `InputError` line instead of a hang, a
`RecursionError` or Python's own 4300-digit limit. Every failure names the file.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import IO, Any

from planner.errors import InputError

KIB = 1024
MIB = 1024 * KIB

# Caps on what is read. The largest real files are far below them: a Hugging Face config.json
# is a few KiB, a safetensors index a few MiB (DeepSeek-V3: 2.6 MiB), a plan.json tens of KiB.
MAX_JSON_BYTES = 64 * MIB
MAX_TEXT_BYTES = 16 * MIB
MAX_JSON_DEPTH = 64  # real configs nest 3 or 4 levels (rope_scaling, quantization_config)
MAX_INT_DIGITS = 30  # 2**64 has 20 digits; nothing a config counts needs more


class _TooLong(ValueError):
    pass


def describe_os_error(exc: OSError) -> str:
    """`strerror` where the OS gave one ('File name too long'), else the exception text."""
    return exc.strerror or str(exc) or type(exc).__name__


def path_kind(path: Path, what: str) -> str | None:
    """'file', 'dir', 'other' or None (absent); a path the OS refuses to look at is bad input."""
    _no_nul(path, what)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None
    except OSError as exc:
        raise InputError(f"{what} {_shown(path)}: {describe_os_error(exc)}") from None
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    return "other"


def _no_nul(path: Path | str, what: str) -> None:
    if "\x00" in str(path):
        raise InputError(f"{what} {_shown(path)}: a path cannot contain a NUL character")


def shown_value(value: Any, limit: int = 60) -> str:
    """A value for an error line: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _shown(path: Path | str) -> str:
    """A path for an error line: quoted, and cut short when it is absurdly long."""
    text = str(path)
    return repr(text if len(text) <= 200 else text[:100] + "..." + text[-60:])


def open_regular(path: Path, what: str = "file") -> IO[bytes]:
    """Open `path` for binary reading if it is a regular file; refuse FIFOs, devices, sockets.

    The file is opened non-blocking (opening a FIFO would otherwise wait for a writer) and checked
    with fstat on the open descriptor, so a swap between check and open cannot slip through.
    """
    _no_nul(path, what)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise InputError(f"{what} {_shown(path)} does not exist") from None
    except IsADirectoryError:
        raise InputError(f"{what} {_shown(path)} is a directory, not a file") from None
    except OSError as exc:
        raise InputError(f"{what} {_shown(path)}: cannot open ({describe_os_error(exc)})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError(f"{what} {_shown(path)} is not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: Path, limit: int, what: str = "file") -> bytes:
    """All of a regular file, refused when larger than `limit` bytes."""
    with open_regular(path, what) as fh:
        try:
            data = fh.read(limit + 1)
        except OSError as exc:
            raise InputError(f"{what} {_shown(path)}: cannot read ({describe_os_error(exc)})") from None
    if len(data) > limit:
        raise InputError(f"{what} {_shown(path)} is larger than {_size(limit)}; refusing to read it")
    return data


def read_text(path: Path, limit: int = MAX_TEXT_BYTES, what: str = "file") -> str:
    data = read_bytes(path, limit, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} {_shown(path)} is not UTF-8 text (byte {exc.start})") from None


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _TooLong(f"an integer of {len(text)} digits")
    return int(text)


def _constant(name: str) -> Any:
    raise _TooLong(f"{name} is not JSON")


def _depth_ok(value: Any, limit: int) -> bool:
    """Whether `value` nests at most `limit` containers deep (iterative: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


def parse_json(data: str | bytes, source: str) -> Any:
    """JSON with bounded integers and nesting; every failure is one InputError line naming `source`."""
    try:
        value = json.loads(data, parse_int=_int, parse_constant=_constant)
    except _TooLong as exc:
        raise InputError(f"{source}: {exc}; refusing it") from None
    except RecursionError:
        raise InputError(f"{source}: JSON nested too deeply (more than {MAX_JSON_DEPTH} levels)") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{source}: invalid JSON at line {exc.lineno} column {exc.colno} ({exc.msg})") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{source} is not valid JSON ({str(exc)[:120]})") from None
    if not _depth_ok(value, MAX_JSON_DEPTH):
        raise InputError(f"{source}: JSON nested too deeply (more than {MAX_JSON_DEPTH} levels)")
    return value


def read_json(path: Path, limit: int = MAX_JSON_BYTES, what: str = "file") -> Any:
    return parse_json(read_bytes(path, limit, what), str(path))


def _size(n: int) -> str:
    return f"{n // MIB} MiB" if n >= MIB else f"{n // KIB} KiB" if n >= KIB else f"{n} bytes"
