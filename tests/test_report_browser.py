"""report.html in a real headless Chromium: charts drawn, a text alternative each, no network request.

Runs wherever Debian's `chromium` is installed (.ci/run installs it); skipped elsewhere.
"""

from __future__ import annotations

import io

import pytest
from _browser import Chromium, find_chromium

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")

WEIGHTS_BLUE = (0x00, 0x72, 0xB2)  # the weights colour of the memory chart (Okabe-Ito blue)

CHARTS = """JSON.stringify({
  svgs: Array.from(document.querySelectorAll('svg')).map(s => {
    const box = s.getBoundingClientRect();
    const ids = (s.getAttribute('aria-labelledby') || '').split(' ').filter(Boolean);
    return {role: s.getAttribute('role'), namespace: s.namespaceURI, width: box.width, height: box.height,
            label: ids.map(i => (document.getElementById(i) || {}).textContent || '').join(' | '),
            shapes: s.querySelectorAll('path, rect, use').length};
  }),
  canvases: document.querySelectorAll('canvas').length,
  scripts: document.scripts.length,
  images: document.images.length,
  text: document.body.innerText.length,
  overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
})"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with Chromium(CHROMIUM, tmp_path_factory.mktemp("chromium-profile")) as chromium:
        chromium.open_tab(1366, 768)  # a common laptop screen
        yield chromium


@pytest.fixture(scope="module")
def report_file(tmp_path_factory):
    from test_report import _plan_with_performance

    from planner.report import render_report

    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render_report(_plan_with_performance()), encoding="utf-8")
    return path


def _colours(png: bytes) -> tuple[int, int, dict[tuple[int, int, int], int]]:
    """Width, height and how many pixels of each colour a PNG has."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    counts = image.getcolors(maxcolors=1 << 24)
    return image.width, image.height, {colour: n for n, colour in counts}


def test_report_draws_its_charts_and_loads_nothing(browser, report_file):
    import json

    url = report_file.as_uri()
    requests = browser.load(url)
    assert requests == [url], f"the page asked for more than itself: {requests}"
    facts = json.loads(browser.evaluate(CHARTS))
    assert facts["scripts"] == 0 and facts["images"] == 0 and facts["canvases"] == 0
    assert len(facts["svgs"]) == 2
    for svg in facts["svgs"]:
        assert svg["namespace"] == "http://www.w3.org/2000/svg"
        assert svg["role"] == "img" and len(svg["label"]) > 60, svg
        assert svg["width"] > 400 and svg["height"] > 100, svg  # laid out, not collapsed
        assert svg["shapes"] > 10, svg
    assert facts["overflow"] <= 0, "the page scrolls sideways on a laptop screen"
    assert facts["text"] > 2000

    width, height, colours = _colours(browser.screenshot())
    assert width == 1366 and height > 1500
    assert sum(colours.values()) - colours.get((255, 255, 255), 0) > 0.05 * width * height, "a nearly blank page"
    assert colours.get(WEIGHTS_BLUE, 0) > 2000, "the memory chart's weights bars are not drawn"


def test_the_check_sees_a_request_when_there_is_one(browser, report_file, tmp_path):
    """The network check can fail: the same page with a remote stylesheet is caught (and the CSP blocks it)."""
    page = report_file.read_text(encoding="utf-8")
    head_end = page.index("</head>")
    leaky = page[:head_end] + '<link rel="stylesheet" href="http://127.0.0.1:9/style.css">' + page[head_end:]
    path = tmp_path / "leaky.html"
    path.write_text(leaky, encoding="utf-8")
    requests = browser.load(path.as_uri())
    assert requests == [path.as_uri(), "http://127.0.0.1:9/style.css"]
    blocked = [e["params"].get("blockedReason") for e in browser.events if e.get("method") == "Network.loadingFailed"]
    assert "csp" in blocked


def test_compare_page_draws_its_chart_and_loads_nothing(browser, tmp_path):
    import json

    from test_report import _COMPARE_OPTIONS

    from planner.report.compare import render_compare

    rows = [{"gpus": "h100x8", "quant": "fp8", "fits": True, "tp": 2, "pp": 1, "replicas": 4, "idle_gpus": 0,
             "ttft_ms": 250.0, "tpot_ms": 40.0, "concurrency": 64, "fleet_output_tokens_per_s": 5600.0},
            {"gpus": "h200x8", "quant": "fp8", "fits": True, "tp": 1, "pp": 1, "replicas": 8, "idle_gpus": 0,
             "ttft_ms": 500.0, "tpot_ms": 30.0, "concurrency": 96, "fleet_output_tokens_per_s": 9100.0},
            {"gpus": "l4x8", "quant": "fp8", "fits": False, "note": "does not fit on 1×8× l4"}]
    path = tmp_path / "compare.html"
    path.write_text(render_compare(rows, "llama-3.1-70b", _COMPARE_OPTIONS), encoding="utf-8")
    assert browser.load(path.as_uri()) == [path.as_uri()]
    facts = json.loads(browser.evaluate(CHARTS))
    (svg,) = facts["svgs"]
    assert svg["role"] == "img" and len(svg["label"]) > 60 and svg["width"] > 400 and svg["shapes"] > 10
    width, height, colours = _colours(browser.screenshot())
    assert colours.get((0x00, 0x72, 0xB2), 0) > 50, "the markers are not drawn"
