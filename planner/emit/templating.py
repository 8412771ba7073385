"""The Jinja2 environment every emitter renders with, and the escaping filters.

User strings (model names, paths) reach several languages: protobuf text format
(config.pbtxt), bash (build.sh, launch scripts), YAML (manifests) and Docker Compose.
Each has its own filter; templates must pipe every user string through one of them. A
value wrapped in `Untrusted` cannot be printed any other way (the environment refuses),
and StrictUndefined turns a missing variable into an error instead of an empty string.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import jinja2

from planner.errors import InputError, PlannerError

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"  # in the source tree, a link to ../templates


def pbtxt_string(value: object) -> str:
    """A protobuf text-format string literal, quotes included.

    Backslash, quotes and every control character are escaped (octal), so no value
    can end the literal, start a new field or a comment.
    """
    out = ['"']
    for ch in str(value):
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "'":
            out.append("\\'")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\{code:03o}")
        elif code > 0x7F:
            # text_format reads octal escapes as raw bytes: escape the UTF-8 encoding
            out.extend(f"\\{b:03o}" for b in ch.encode("utf-8"))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def comment_text(value: object) -> str:
    """Text safe inside a `#` comment line of bash or pbtxt: one line, printable ASCII."""
    text = str(value)
    return "".join(ch if 0x20 <= ord(ch) < 0x7F else "?" for ch in text)


def shell_quote(value: object) -> str:
    text = str(value)
    if "\0" in text:
        raise InputError(f"a NUL byte cannot appear in a shell argument: {text!r}")
    return shlex.quote(text)


class Untrusted(str):
    """A user-supplied string; templates may print it only through a quoting filter."""


def yaml_quote(value: object) -> str:
    """A YAML double-quoted scalar that parses back to exactly `str(value)`.

    JSON escapes for quotes, backslashes and control characters, plus \\u escapes for the
    characters YAML does not allow raw (DEL, C1 controls, line/paragraph separators, BOM,
    surrogates, U+FFFE/U+FFFF).
    """
    out = ['"']
    for ch in str(value):
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif (o < 0x20 or 0x7F <= o <= 0x9F or o in (0x2028, 0x2029, 0xFEFF, 0xFFFE, 0xFFFF)
              or 0xD800 <= o <= 0xDFFF):
            out.append(f"\\u{o:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def compose_quote(value: object) -> str:
    """YAML-quoted with `$` doubled, so Docker Compose does not interpolate it."""
    return yaml_quote(str(value).replace("$", "$$"))


def _finalize(value: Any) -> Any:
    if isinstance(value, Untrusted):
        raise PlannerError(f"template printed an unquoted user string {str(value)!r}")
    return value


def pbtxt_bool(value: bool) -> str:
    return "true" if value else "false"


def make_env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # neither bash nor pbtxt is HTML; the filters below escape
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,
    )
    env.filters.update(pbtxt=pbtxt_string, comment=comment_text, shq=shell_quote, pbbool=pbtxt_bool,
                       q=yaml_quote, cq=compose_quote)
    return env


_ENV: jinja2.Environment | None = None


def environment() -> jinja2.Environment:
    """The shared environment (built once)."""
    global _ENV
    if _ENV is None:
        _ENV = make_env()
    return _ENV


def render(template: str, **context: object) -> str:
    return environment().get_template(template).render(**context)
