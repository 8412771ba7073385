"""`planner report PLAN -o report.html`: the page for any plan.json, written atomically."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from planner.errors import InputError
from planner.plan import Plan


def load_plan(path: Path) -> Plan:
    """A plan.json, or a `planner plan --out` directory holding one; bad input is one line.

    Read as `planner diff` reads it (planner.safeio): bounded in size, regular files only.
    """
    from pydantic import ValidationError

    from planner import safeio

    file = path / "plan.json" if safeio.path_kind(path, "plan") == "dir" else path
    if safeio.path_kind(file, "plan") is None:
        raise InputError(f"{file} does not exist")
    data = safeio.read_json(file, 16 * safeio.MIB, "plan")
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise InputError(f"{file} is not a plan this planner reads: {field}: {err['msg']}") from None


def write_text_atomically(text: str, output: Path) -> None:
    """The whole file or nothing: written beside the target, then renamed over it."""
    if "\x00" in str(output):
        raise InputError(f"{str(output)!r}: a path cannot contain a NUL character")
    if output.is_dir():
        raise InputError(f"{output} is a directory; give a file name such as {output / 'report.html'}")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    except OSError as exc:
        raise InputError(f"cannot write {output}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes it private; a report is an ordinary file
        os.replace(tmp, output)
    except OSError as exc:
        raise InputError(f"cannot write {output}: {exc.strerror or exc}; nothing was changed there") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def run(plan_path: str, output: str) -> Path | None:
    """Render the report of `plan_path` into `output` ("-" for standard output)."""
    from planner.report import render_report

    page = render_report(load_plan(Path(plan_path)))
    if output == "-":
        sys.stdout.write(page)
        return None
    out = Path(output)
    write_text_atomically(page, out)
    return out


def write_compare(rows: list, model: str, options: dict, output: str) -> Path:
    """`planner compare --html FILE`: the comparison page, written atomically."""
    from planner.report.compare import render_compare

    out = Path(output)
    write_text_atomically(render_compare(rows, model, options), out)
    return out
