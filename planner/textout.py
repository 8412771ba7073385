"""Plain-text terminal output for `planner plan`: lines with bold and colour marks, and box tables
whose long cells wrap to the terminal.

The plan's output needs nothing more, and importing rich and laying out its three tables took
40-50 ms of a cold `planner plan`, a sixth of its budget. The catalog listings and the live
reports keep rich. Colour follows the usual conventions: only on a terminal, never with NO_COLOR
set or TERM=dumb; the box is drawn in ASCII where the stream cannot encode the box characters.
"""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import Sequence
from typing import TextIO

_SGR = {"bold": "1", "red": "31", "green": "32", "yellow": "33"}
# top, header, header rule, body, bottom: (left, fill, joint, right)
_UNICODE = (("┏", "━", "┳", "┓"), ("┃", " ", "┃", "┃"), ("┡", "━", "╇", "┩"), ("│", " ", "│", "│"),
            ("└", "─", "┴", "┘"))
_ASCII = (("+", "-", "+", "+"), ("|", " ", "|", "|"), ("+", "=", "+", "+"), ("|", " ", "|", "|"),
          ("+", "-", "+", "+"))
PIPE_WIDTH = 140  # pipes and CI logs get a fixed, wide layout


class Writer:
    def __init__(self, stream: TextIO, width: int = PIPE_WIDTH, color: bool = False, unicode: bool = True) -> None:
        self.stream, self.width, self.color = stream, max(width, 20), color
        self.box = _UNICODE if unicode else _ASCII
        # a stream that cannot encode the box cannot encode ×, · or ≤ either: those become "?"
        self.encoding = None if unicode else (getattr(stream, "encoding", None) or "ascii")

    @classmethod
    def for_stream(cls, stream: TextIO) -> Writer:
        tty = _isatty(stream)
        width = shutil.get_terminal_size((PIPE_WIDTH, 24)).columns if tty else PIPE_WIDTH
        color = tty and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
        return cls(stream, width, color, _encodes(stream, "┃━┏╇└×·"))

    def styled(self, text: str, *styles: str) -> str:
        if not self.color or not styles:
            return text
        return f"\x1b[{';'.join(_SGR[s] for s in styles)}m{text}\x1b[0m"

    def line(self, text: str = "") -> None:
        if self.encoding:
            text = text.encode(self.encoding, "replace").decode(self.encoding)
        self.stream.write(text + "\n")

    def table(self, title: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[str]]) -> None:
        """`columns`: (header, "left" | "right") each; the widest cells wrap when the table would
        be wider than the writer."""
        widths = fit_widths([h for h, _ in columns], rows, self.width)
        aligns = [a for _, a in columns]
        self.line(title)
        top, head, rule, body, bottom = self.box
        self.line(_rule(top, widths))
        for text in _row_lines([h for h, _ in columns], widths, aligns):
            self.line(_join(head, text, lambda s: self.styled(s, "bold")))
        self.line(_rule(rule, widths))
        for row in rows:
            for text in _row_lines(row, widths, aligns):
                self.line(_join(body, text))
        self.line(_rule(bottom, widths))


def fit_widths(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int) -> list[int]:
    """Column widths: each column's widest cell, then, while the table is wider than `width`, the
    widest column that can wrap loses a character (never below its longest word)."""
    columns = list(zip(headers, *rows, strict=True))
    widths = [max(len(c) for c in col) for col in columns]
    floors = [max(max((len(w) for w in c.split()), default=0) for c in col) or 1 for col in columns]
    excess = sum(widths) + 3 * len(widths) + 1 - width
    while excess > 0:
        slack = [(w, i) for i, (w, f) in enumerate(zip(widths, floors, strict=True)) if w > f]
        if not slack:
            break
        _, i = max(slack)
        widths[i] -= 1
        excess -= 1
    return widths


def _row_lines(cells: Sequence[str], widths: Sequence[int], aligns: Sequence[str]) -> list[list[str]]:
    wrapped = [textwrap.wrap(c, w, break_long_words=True, break_on_hyphens=False) or [""]
               for c, w in zip(cells, widths, strict=True)]
    height = max(len(w) for w in wrapped)
    out = []
    for i in range(height):
        line = []
        for parts, w, align in zip(wrapped, widths, aligns, strict=True):
            text = parts[i] if i < len(parts) else ""
            line.append(text.rjust(w) if align == "right" else text.ljust(w))
        out.append(line)
    return out


def _rule(chars: tuple[str, str, str, str], widths: Sequence[int]) -> str:
    left, fill, joint, right = chars
    return left + joint.join(fill * (w + 2) for w in widths) + right


def _join(chars: tuple[str, str, str, str], cells: list[str], style=None) -> str:
    left, _, joint, right = chars
    shown = [style(c) if style else c for c in cells]
    return f"{left} " + f" {joint} ".join(shown) + f" {right}"


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _encodes(stream: TextIO, sample: str) -> bool:
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        sample.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True
