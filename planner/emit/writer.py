"""Write rendered files atomically: all of them or none, and never over the user's own files.

Files go into a temporary directory next to the target, which then takes the target's place
with a rename. Rules that keep the user's data safe:

- An existing non-empty target is refused unless `force`; and even with `force` it is replaced
  only when the planner wrote it: it holds the marker file (`MARKER`, listing every file written)
  and `plan.json`, and nothing the marker does not list. A git checkout, a source tree or a
  deployment with built engines inside is never replaced.
- A symlinked target stays a symlink: the directory it points to is the one replaced.
- One writer per target at a time: an exclusive lock (`flock`) on a lock file beside the target
  is held from the emptiness check to the swap, so of two concurrent runs exactly one writes and
  the other is refused.
- Interrupts (SIGINT, SIGTERM) are held back during the two renames of the swap, so the target is
  either the old tree or the new one, and the user is told which.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import signal
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from planner.errors import EXIT_INTERRUPTED, InputError, PlannerError

# Files written with the executable bit: scripts an operator or a container runs directly.
EXECUTABLE_SUFFIXES = (".sh", ".sbatch")
EXECUTABLE_NAMES = {"kubessh"}
# Written into every output directory; its presence (with plan.json) is what `--force` and
# `planner diff` recognise as the planner's own output.
MARKER = ".planner-output"
MARKER_HEADER = "# Written by `planner plan --out`; `--force` may replace this directory. Files written:\n"
MAX_MARKER_BYTES = 1024 * 1024


class Interrupted(PlannerError):
    """Ctrl-C or SIGTERM while writing; the message says what state the output is in."""

    exit_code = EXIT_INTERRUPTED


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


def marker_text(files: dict[str, str]) -> str:
    return MARKER_HEADER + "".join(f"{rel}\n" for rel in sorted(files))


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


def written_files(directory: Path) -> set[str] | None:
    """The files the marker in `directory` lists, or None when it holds no planner marker.

    The marker must be a regular file (not a symlink, FIFO or device) of bounded size.
    """
    marker = directory / MARKER
    try:
        fd = os.open(marker, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            return None
        data = fh.read(MAX_MARKER_BYTES + 1)
    text = data.decode("utf-8", "replace")
    if len(data) > MAX_MARKER_BYTES or not text.startswith(MARKER_HEADER):
        return None
    return {line for line in text[len(MARKER_HEADER):].splitlines() if line}


def _foreign_entries(directory: Path, listed: set[str]) -> list[str]:
    """Entries under `directory` that are neither a listed file nor a directory on the way to one.

    Symlinks are not followed; the walk stops at the first few strangers, so a huge tree costs little.
    """
    allowed_dirs = {str(p) for rel in listed for p in PurePosixPath(rel).parents if str(p) != "."}
    found: list[str] = []
    for here, dirs, files in os.walk(directory):
        rel_here = os.path.relpath(here, directory)
        for name in list(dirs):
            rel = name if rel_here == "." else f"{rel_here}/{name}"
            if os.path.islink(os.path.join(here, name)) or rel not in allowed_dirs:
                found.append(rel + ("" if os.path.islink(os.path.join(here, name)) else "/"))
                dirs.remove(name)
        for name in files:
            rel = name if rel_here == "." else f"{rel_here}/{name}"
            if rel != MARKER and rel not in listed:
                found.append(rel)
        if len(found) >= 3:
            break
    return found


def _check_replaceable(out: Path) -> None:
    """With --force: `out` may go only if the planner wrote it and nobody added anything since."""
    listed = written_files(out)
    if listed is None or "plan.json" not in listed or not (out / "plan.json").is_file():
        raise InputError(f"{out} was not written by `planner plan --out` (no {MARKER} and plan.json there); "
                         "--force replaces only the planner's own output: choose another --out or empty it yourself")
    foreign = _foreign_entries(out, listed)
    if foreign:
        raise InputError(f"{out} holds files the planner did not write ({', '.join(foreign[:3])}); "
                         "--force will not delete them: move them elsewhere or choose another --out")


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """While writing, SIGTERM stops the run like Ctrl-C, so the temporary tree is cleaned up too."""
    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: signals are not ours to handle
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back (main thread only); they are delivered when the block ends."""
    held = {signal.SIGINT, signal.SIGTERM}
    try:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, ValueError, OSError):  # no pthread_sigmask: nothing to hold back
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _swap(tmp: Path, out: Path) -> None:
    """Put `tmp` where `out` is; the previous tree goes only once the new one is in place."""
    old = None
    if os.path.lexists(out):
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


@contextlib.contextmanager
def _exclusive(out: Path) -> Iterator[None]:
    """An exclusive, non-blocking lock for writing `out`, on a lock file beside it.

    The lock file is removed when done. A run that opened it just before it was removed would
    lock a file nobody else sees, so after locking, the path must still name the locked file.
    """
    lock_path = out.parent / f".{out.name}.lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise InputError(f"cannot write to {out}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            same = os.stat(lock_path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.ENOENT):
                same = False
            else:
                raise InputError(f"cannot lock {lock_path}: {exc.strerror or exc}") from None
        if not same:
            raise InputError(f"another `planner plan` is writing {out} right now; nothing written by this one")
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.unlink(lock_path)
    finally:
        os.close(fd)


def _resolve_target(out: Path) -> Path:
    """The directory to replace: a symlinked --out names the directory it points to."""
    if str(out) in ("", "."):
        raise InputError("--out needs a directory name")
    if out.is_symlink():
        return Path(os.path.realpath(out))
    return out


def write_all(files: dict[str, str], out_dir: str | os.PathLike, force: bool = False) -> list[Path]:
    shown = Path(out_dir)
    if str(out_dir) == "":
        raise InputError("--out needs a directory name, got ''")
    if "\x00" in str(out_dir):
        raise InputError("--out: a path cannot contain a NUL character")
    out = _resolve_target(Path(os.path.abspath(shown)))
    if out.parent == out:
        raise InputError(f"refusing to write to {shown}: the root directory is never an output")
    if MARKER in files:
        raise ValueError(f"{MARKER} is the writer's own file")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot write to {shown}: {exc.strerror or exc}") from None
    with _sigterm_interrupts(), _exclusive(out):
        if out.exists() and not out.is_dir():
            raise InputError(f"{shown} exists and is not a directory")
        try:
            non_empty = out.is_dir() and any(out.iterdir())
        except OSError as exc:
            raise InputError(f"cannot read {shown}: {exc.strerror or exc}") from None
        if non_empty and not force:
            raise InputError(f"{shown} is not empty; pass --force to replace it")
        if non_empty:
            _check_replaceable(out)
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        except OSError as exc:
            raise InputError(f"cannot write to {shown}: {exc.strerror or exc}") from None
        try:
            tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the output is an ordinary directory
            try:
                _write_tree(tmp, {**files, MARKER: marker_text(files)})
            except KeyboardInterrupt:
                raise Interrupted(f"interrupted; nothing was changed in {shown}") from None
            try:
                with _signals_held():
                    _swap(tmp, out)
            except KeyboardInterrupt:  # delivered once the swap is complete
                raise Interrupted(f"interrupted after {shown} was written completely") from None
        except OSError as exc:
            raise InputError(f"cannot write to {shown}: {exc.strerror or exc}; nothing was changed there") from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return [shown / rel for rel in sorted(files)]
