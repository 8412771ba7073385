"""Write rendered files atomically: all of them or none.

Files go into a temporary directory next to the target, which then takes the
target's place with a rename; an existing non-empty target is refused unless
`force`, and then swapped out as a whole (the old tree is removed only after the new
one is in place).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath

from planner.errors import InputError

# Files written with the executable bit: scripts an operator or a container runs directly.
EXECUTABLE_SUFFIXES = (".sh", ".sbatch")
EXECUTABLE_NAMES = {"kubessh"}


def _executable(rel: str) -> bool:
    name = PurePosixPath(rel).name
    return name.endswith(EXECUTABLE_SUFFIXES) or name in EXECUTABLE_NAMES


def _safe_relative(rel: str) -> PurePosixPath:
    path = PurePosixPath(rel)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError(f"refusing to write outside the output directory: {rel!r}")
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_tree(root: Path, files: dict[str, str]) -> None:
    for rel in sorted(files):
        target = root / _safe_relative(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "w", encoding="utf-8", newline="\n") as f:
            f.write(files[rel])
            f.flush()
            os.fsync(f.fileno())
        if _executable(rel):
            target.chmod(0o755)


def _swap(tmp: Path, out: Path) -> None:
    """Put `tmp` where `out` is; the previous tree goes only once the new one is in place."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.rename(out, old)
    try:
        os.rename(tmp, out)
    except OSError:
        if old is not None:
            os.rename(old, out)  # put the previous output back
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_all(files: dict[str, str], out_dir: str | os.PathLike, force: bool = False) -> list[Path]:
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise InputError(f"{out} is not empty; pass --force to replace it")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    except OSError as exc:
        raise InputError(f"cannot write to {out}: {exc.strerror or exc}") from None
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the output is an ordinary directory
    try:
        _write_tree(tmp, files)
        _swap(tmp, out)
    except OSError as exc:
        raise InputError(f"cannot write to {out}: {exc.strerror or exc}; nothing was changed there") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [out / rel for rel in sorted(files)]
