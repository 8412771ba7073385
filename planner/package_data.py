"""The package's own data files (planner/data/**.yaml): parsed once, then read back as JSON.

PyYAML builds every node in Python even with libyaml's scanner: the catalogs, the release profile
and the engine contract a plan reads cost about 70 ms of parsing, a fifth of a cold `planner plan`.
So the parsed data is kept under the user's cache directory as JSON, which the C decoder reads in a
millisecond or two. An entry is named by the file's CRC-32 and size, so an edited or upgraded data
file is parsed afresh and a stale entry is never read; one that cannot be read is ignored. Only data
that JSON gives back unchanged is stored (no dates, no integer keys), so a cached read and a parse
always agree.

The directory is $PLANNER_CACHE_DIR, else $XDG_CACHE_HOME/planner, else ~/.cache/planner;
PLANNER_CACHE_DIR set to an empty string turns the cache off. Nothing here writes outside it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import zlib
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
_ENTRY = re.compile(r".+-[0-9a-f]{8}-[0-9]+\.json")


def path(*parts: str) -> Path:
    return DATA.joinpath(*parts)


def load(*parts: str) -> Any:
    """The parsed YAML of planner/data/<parts...>."""
    raw = path(*parts).read_bytes()
    folder = cache_dir()
    if folder is None:
        return _parse(raw)
    stem = "-".join(parts).removesuffix(".yaml")
    entry = folder / f"{stem}-{zlib.crc32(raw):08x}-{len(raw)}.json"
    try:
        return json.loads(entry.read_bytes())
    except (OSError, ValueError):  # absent, unreadable or damaged: parse the file itself
        pass
    data = _parse(raw)
    _store(folder, stem, entry, data)
    return data


def cache_dir() -> Path | None:
    configured = os.environ.get("PLANNER_CACHE_DIR")
    if configured is not None:
        return Path(configured) if configured else None
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        home = os.path.expanduser("~")
        if home.startswith("~"):  # no home directory: no cache, rather than a "~" folder in the cwd
            return None
        base = os.path.join(home, ".cache")
    return Path(base) / "planner"


def _parse(raw: bytes) -> Any:
    from planner.yamlio import load_yaml  # PyYAML is imported only when a file is parsed

    return load_yaml(raw.decode("utf-8"))


def _store(folder: Path, stem: str, entry: Path, data: Any) -> None:
    """Write the entry atomically and drop the entries of earlier versions of the same file; a
    cache that cannot be written (read-only home, full disk) only costs the next run the parse."""
    try:
        text = json.dumps(data, ensure_ascii=False, allow_nan=False)
        if json.loads(text) != data:  # e.g. integer keys would come back as strings
            return
    except (TypeError, ValueError):  # dates, NaN: JSON cannot give them back
        return
    tmp = entry.with_name(f".{entry.name}.{os.getpid()}.tmp")
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, entry)
        for old in folder.iterdir():
            if old != entry and _ENTRY.fullmatch(old.name) and old.name.rsplit("-", 2)[0] == stem:
                old.unlink(missing_ok=True)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
