"""The report's charts: matplotlib figures written as inline SVG, byte for byte the same each time.

matplotlib is imported here only, when a chart is drawn, so the plain `planner plan` never
loads it. Every chart goes through `_svg`, which makes the output fit for inlining several
charts into one HTML page and stable across runs and machines:

- text stays text (`svg.fonttype: none`): selectable, searchable, read by screen readers, in
  DejaVu Sans with sans-serif fallbacks;
- no date or creator metadata, no XML prolog, no global <style> (the page styles the charts);
- ids are renamed `<chart>-<n>` in order of appearance: unique on the page, and independent of
  matplotlib's hashes of float coordinates;
- coordinates are rounded to 0.01 pt, so a last-bit difference in floating point on another CPU
  cannot change a byte;
- the fixed width and height go (the viewBox stays), so a chart scales with the page, and so do
  the namespace declarations, which HTML does not need;
- `role="img"` with a <title> and a <desc> that say in words what the chart shows.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

GIB = 1 << 30

# Okabe & Ito, "Color Universal Design (CUD): how to make figures and presentations that are
# friendly to colorblind people" (2008), https://jfly.uni-koeln.de/color/ : eight colours told
# apart under every common colour-vision deficiency. Hatches (line patterns only: dots and circles
# bloat the SVG) tell the components apart in grey-scale print as well.
OKABE_ITO = ("#0072B2", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")

RC = {
    "svg.fonttype": "none",
    "svg.hashsalt": "planner",  # matplotlib otherwise salts its ids with a random UUID
    "font.family": "DejaVu Sans",  # shipped with matplotlib: the same text metrics everywhere
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "hatch.linewidth": 0.6,
    "hatch.color": "#000000",
}


@dataclass(frozen=True)
class Segment:
    label: str
    nbytes: int
    color: str
    hatch: str


@dataclass(frozen=True)
class Bar:
    """One stacked bar: a pipeline stage's GPU, its components and its capacity."""

    label: str
    segments: tuple[Segment, ...]
    capacity_bytes: int


@dataclass(frozen=True)
class Point:
    """One layout on the throughput chart."""

    label: str
    tokens_per_s_per_user: float
    tokens_per_s_per_gpu: float
    chosen: bool
    meets_ttft: bool = True


def _figure(width_in: float, axes_in: float, left_in: float, bottom_in: float, top_in: float = 0.15,
            right_in: float = 0.2):
    """A figure with fixed margins in inches around an axes `axes_in` tall.

    Fixed margins instead of matplotlib's layout engines: these measure every text twice,
    which triples the drawing time, and the report is drawn on every `--out`.
    """
    from matplotlib.figure import Figure

    height = bottom_in + axes_in + top_in
    fig = Figure(figsize=(width_in, height))
    fig.subplots_adjust(left=left_in / width_in, right=1 - right_in / width_in, bottom=bottom_in / height,
                        top=1 - top_in / height)
    return fig


def memory_chart(bars: Sequence[Bar], legend_order: Sequence[str], title: str, desc: str,
                 chart_id: str = "memory") -> str:
    """Horizontal stacked bars, one per pipeline stage, each against its GPU's capacity."""
    import matplotlib
    from matplotlib.patches import Patch

    with matplotlib.rc_context(RC):
        legend_rows = -(-len(legend_order) // 4)
        labels = []
        for bar in bars:
            used = sum(s.nbytes for s in bar.segments)
            labels.append(f"{bar.label}\n{used / GIB:.1f} of {bar.capacity_bytes / GIB:.1f} GiB "
                          f"({100 * used / bar.capacity_bytes:.0f}%)")
        # room for the longest tick label: DejaVu Sans at 9 pt averages under 0.075 in a character
        widest = max(len(line) for label in labels for line in label.splitlines())
        fig = _figure(7.5, 0.55 * len(bars), left_in=0.2 + 0.075 * widest, bottom_in=0.6 + 0.22 * legend_rows)
        ax = fig.add_subplot()
        ys = list(range(len(bars)))[::-1]  # stage 0 on top
        for y, bar in zip(ys, bars, strict=True):
            ax.barh(y, bar.capacity_bytes / GIB, height=0.62, color="#ffffff", edgecolor="#555555",
                    linewidth=0.8, linestyle=(0, (3, 2)), zorder=1)
            left = 0.0
            for seg in bar.segments:
                width = seg.nbytes / GIB
                ax.barh(y, width, left=left, height=0.62, color=seg.color, hatch=seg.hatch,
                        edgecolor="#000000", linewidth=0.4, zorder=2)
                left += width
        ax.set_yticks(ys, labels)
        # a stage that does not fit runs past its capacity: keep all of it in view
        ax.set_xlim(0, max(max(b.capacity_bytes, sum(s.nbytes for s in b.segments)) for b in bars) / GIB * 1.01)
        ax.set_xlabel("GiB per GPU (dashed outline: the GPU's capacity)")
        ax.tick_params(axis="y", length=0)
        styles = {seg.label: seg for bar in bars for seg in bar.segments}
        handles = [Patch(facecolor=styles[label].color, hatch=styles[label].hatch, edgecolor="#000000",
                         linewidth=0.4, label=label) for label in legend_order]
        fig.legend(handles=handles, loc="lower center", ncols=min(4, len(handles)), frameon=False, fontsize=8,
                   borderaxespad=0.2)
        return _svg(fig, title, desc, chart_id)


def throughput_chart(points: Sequence[Point], title: str, desc: str, tpot_limit_ms: float | None = None,
                     ttft_limit_ms: float | None = None, chart_id: str = "throughput",
                     ylabel: str = "output tokens/s per GPU", others_label: str = "other candidates") -> str:
    """Output tokens/s per GPU (or `ylabel`) against tokens/s per user, one marker per layout.

    The TPOT limit is a floor on per-user speed (1000 / TPOT tokens/s), drawn as a vertical
    line with the side that misses it shaded; a TTFT limit has no axis here, so layouts that
    miss it are drawn hollow.
    """
    import matplotlib
    from matplotlib.lines import Line2D

    with matplotlib.rc_context(RC):
        fig = _figure(7.5, 3.4, left_in=0.75, bottom_in=1.05)
        ax = fig.add_subplot()
        xmax = max(p.tokens_per_s_per_user for p in points) * 1.3
        ymax = max(p.tokens_per_s_per_gpu for p in points) * 1.2
        handles = [Line2D([], [], marker="o", color="#0072B2", linestyle="none", label=others_label)]
        if any(p.chosen for p in points):
            handles.insert(0, Line2D([], [], marker="*", color="#000000", linestyle="none", markersize=11,
                                     label="chosen layout"))
        if tpot_limit_ms:
            floor = 1000 / tpot_limit_ms
            xmax = max(xmax, floor * 1.2)
            ax.axvspan(0, floor, facecolor="#D55E00", alpha=0.12, linewidth=0, zorder=0)
            ax.axvline(floor, color="#D55E00", linestyle="--", linewidth=1.2, zorder=1)
            handles.append(Line2D([], [], color="#D55E00", linestyle="--",
                                  label=f"TPOT limit {tpot_limit_ms:g} ms = {floor:.1f} tokens/s per user "
                                        "(shaded: too slow)"))
        if ttft_limit_ms:
            handles.append(Line2D([], [], marker="o", markerfacecolor="none", markeredgecolor="#0072B2",
                                  linestyle="none", label=f"hollow: misses the TTFT limit of {ttft_limit_ms:g} ms"))
        for p in sorted(points, key=lambda p: p.chosen):  # the chosen one drawn last, on top
            color = "#000000" if p.chosen else "#0072B2"
            ax.scatter([p.tokens_per_s_per_user], [p.tokens_per_s_per_gpu], marker="*" if p.chosen else "o",
                       s=190 if p.chosen else 46, facecolors=color if p.meets_ttft else "none",
                       edgecolors=color, linewidths=1.2, zorder=3)
            ax.annotate(p.label + (" (chosen)" if p.chosen else ""), (p.tokens_per_s_per_user, p.tokens_per_s_per_gpu),
                        xytext=(7, 5), textcoords="offset points", fontsize=8,
                        fontweight="bold" if p.chosen else "normal")
        ax.set_xlim(0, xmax)
        ax.set_ylim(0, ymax)
        ax.set_xlabel("tokens/s per user (1000 / TPOT in ms)")
        ax.set_ylabel(ylabel)
        ax.grid(True, color="#dddddd", linewidth=0.6, zorder=0)
        fig.legend(handles=handles, loc="lower center", ncols=2, frameon=False, fontsize=8, borderaxespad=0.2)
        return _svg(fig, title, desc, chart_id)


_ID = re.compile(r'(\bid="|url\(#|href="#)([^")]+)')
_ATTR = re.compile(r'="([^"]*)"')
_DECIMALS = re.compile(r"-?\d+\.\d{3,}")


def _round(match: re.Match) -> str:
    text = f"{float(match.group(0)):.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _svg(fig, title: str, desc: str, chart_id: str) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg",
                metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, flags=re.S)
    text = re.sub(r"\s*<style[^>]*>.*?</style>", "", text, flags=re.S)
    text = re.sub(r"\s*<defs>\s*</defs>", "", text)
    referenced = {m.group(1) for m in re.finditer(r'(?:url\(#|href="#)([^")]+)', text)}
    text = re.sub(r'\sid="([^"]+)"', lambda m: m.group(0) if m.group(1) in referenced else "", text)
    ids: dict[str, str] = {}
    for match in re.finditer(r'\bid="([^"]+)"', text):
        ids.setdefault(match.group(1), f"{chart_id}-{len(ids) + 1}")
    text = _ID.sub(lambda m: m.group(1) + ids.get(m.group(2), m.group(2)), text)
    text = re.sub(r"\n\s*<g>\s*(<use [^>]*/>)\s*</g>", r"\n\1", text)
    text = _ATTR.sub(lambda m: '="' + _DECIMALS.sub(_round, m.group(1)) + '"', text)
    # the layout was measured in DejaVu Sans; where a reader lacks it, Verdana (DejaVu's widths,
    # near enough) or any sans-serif beats the browser's default serif
    text = text.replace("font-family: 'DejaVu Sans'", "font-family: 'DejaVu Sans', Verdana, sans-serif")
    head_end = text.index(">") + 1
    head = text[:head_end]
    # the HTML parser puts inline <svg> in the SVG namespace itself; no namespace URLs needed
    head = re.sub(r'\s(width|height|version|xmlns|xmlns:xlink)="[^"]*"', "", head)
    head = head.replace("<svg ", f'<svg class="chart" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" ',
                        1)
    a11y = (f'<title id="{chart_id}-title">{html.escape(title)}</title>'
            f'<desc id="{chart_id}-desc">{html.escape(desc)}</desc>')
    return head + "\n " + a11y + text[head_end:].rstrip() + "\n"
