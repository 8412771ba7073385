"""The plan's text tables: widths, wrapping, the ASCII box, colour only where it belongs."""

from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st

from planner.textout import Writer, fit_widths


class _Stream(io.StringIO):
    def __init__(self, tty: bool, encoding: str = "utf-8") -> None:
        super().__init__()
        self._tty, self._encoding = tty, encoding

    def isatty(self) -> bool:
        return self._tty

    @property
    def encoding(self) -> str:
        return self._encoding


def _table(width: int, rows, **kw) -> list[str]:
    buf = io.StringIO()
    Writer(buf, width=width, **kw).table("T", [("n", "right"), ("why", "left")], rows)
    return buf.getvalue().splitlines()


def test_a_table_that_fits_keeps_every_cell_on_one_line():
    lines = _table(80, [["1", "short"], ["12", "a bit longer"]])
    assert lines == [
        "T",
        "┏━━━━┳━━━━━━━━━━━━━━┓",
        "┃  n ┃ why          ┃",
        "┡━━━━╇━━━━━━━━━━━━━━┩",
        "│  1 │ short        │",
        "│ 12 │ a bit longer │",
        "└────┴──────────────┘",
    ]


def test_a_wide_cell_wraps_at_words_to_the_width():
    reason = "static memory of stage 0 exceeds the 79.65 GiB GPU by 55.79 GiB"
    lines = _table(30, [["1", reason]])
    assert all(len(line) <= 30 for line in lines)
    body = [line for line in lines if line.startswith("│")]
    assert len(body) > 1
    assert " ".join(line.split("│")[2].strip() for line in body) == reason


@given(st.lists(st.lists(st.text(alphabet="ab ", min_size=0, max_size=30), min_size=3, max_size=3), min_size=1,
                max_size=5), st.integers(20, 120))
def test_widths_never_exceed_the_room_unless_a_word_is_wider(rows, width):
    widths = fit_widths(["a", "bb", "ccc"], rows, width)
    longest = [max([len(w) for c in col for w in c.split()] + [len(h)]) for h, col in
               zip(["a", "bb", "ccc"], zip(*rows, strict=True), strict=True)]
    assert sum(widths) + 3 * len(widths) + 1 <= width or widths == [max(1, x) for x in longest]


def test_a_stream_that_cannot_encode_the_box_gets_ascii():
    stream = _Stream(tty=False, encoding="ascii")
    out = Writer.for_stream(stream)
    out.table("T", [("n", "right")], [["1"]])
    out.line("TP 4 × PP 1")
    text = stream.getvalue()
    text.encode("ascii")
    assert "+---+" in text and "TP 4 ? PP 1" in text


def test_colour_only_on_a_terminal_without_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert Writer.for_stream(_Stream(tty=True)).styled("fits", "green") == "\x1b[32mfits\x1b[0m"
    assert Writer.for_stream(_Stream(tty=False)).styled("fits", "green") == "fits"
    monkeypatch.setenv("NO_COLOR", "1")
    assert Writer.for_stream(_Stream(tty=True)).styled("fits", "green") == "fits"
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    assert Writer.for_stream(_Stream(tty=True)).styled("fits", "green") == "fits"


def test_a_pipe_gets_the_fixed_wide_layout():
    assert Writer.for_stream(_Stream(tty=False)).width == 140
