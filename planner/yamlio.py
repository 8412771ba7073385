"""Reading YAML: libyaml's C loader where PyYAML was built with it, the pure-Python one otherwise.

The C loader reads the catalogs and version profiles several times faster, which is most
of a cold `planner plan`; both are safe loaders.

Files the user names (option files, fleet files) go through `load_user_yaml`, which reads a
regular file of bounded size and refuses anchors and aliases before anything is built: a few
nested aliases expand into gigabytes ("billion laughs"), and no option file needs them.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

import yaml

from planner import safeio
from planner.errors import InputError

SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_USER_YAML_BYTES = 1024 * 1024  # an option file is a few hundred bytes
MAX_USER_YAML_DEPTH = 16
MAX_USER_YAML_NODES = 10_000


def load_yaml(source: str | IO[str]) -> Any:
    return yaml.load(source, Loader=SafeLoader)  # noqa: S506 - a safe loader


def _problem(text: str) -> str | None:
    """Why `text` is refused before it is built (anchors, aliases, depth, size), or None."""
    depth = nodes = 0
    for event in yaml.parse(text, Loader=SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            return f"uses an alias (*{event.anchor}); write the value out instead"
        if getattr(event, "anchor", None) is not None:
            return f"defines an anchor (&{event.anchor}); anchors and aliases are not accepted"
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_USER_YAML_DEPTH:
                return f"nests deeper than {MAX_USER_YAML_DEPTH} levels"
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        if isinstance(event, yaml.NodeEvent):
            nodes += 1
            if nodes > MAX_USER_YAML_NODES:
                return f"holds more than {MAX_USER_YAML_NODES} values"
    return None


def load_user_yaml(path: Path, what: str) -> Any:
    """A YAML file the user named; every failure is one InputError line naming `what` and the path."""
    text = safeio.read_text(path, MAX_USER_YAML_BYTES, what)
    try:
        problem = _problem(text)
        if problem is None:
            return load_yaml(text)
    except yaml.YAMLError as exc:
        problem = f"is not readable YAML: {_first_line(exc)}"
    except (ValueError, RecursionError) as exc:  # e.g. an integer beyond Python's digit limit
        problem = f"holds a value that cannot be read: {_first_line(exc)}"
    raise InputError(f"{what} {safeio.shown_value(str(path), 120)} {problem}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= 160 else line[:157] + "..."
