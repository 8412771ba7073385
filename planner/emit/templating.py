"""The Jinja2 environment every emitter renders with, and the escaping filters.

User strings (model names, paths) reach two languages: protobuf text format
(config.pbtxt) and bash (build.sh). Each has its own filter; templates must pipe every
user string through one of them, and StrictUndefined turns a missing variable into an
error instead of an empty string.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import jinja2

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"


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
    return shlex.quote(str(value))


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
    )
    env.filters["pbtxt"] = pbtxt_string
    env.filters["comment"] = comment_text
    env.filters["shq"] = shell_quote
    env.filters["pbbool"] = pbtxt_bool
    return env


_ENV: jinja2.Environment | None = None


def render(template: str, **context: object) -> str:
    global _ENV
    if _ENV is None:
        _ENV = make_env()
    return _ENV.get_template(template).render(**context)
