"""report.html: what the page says, that it is self-contained, accessible and deterministic."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from functools import cache

import pytest

from planner.api import make_plan
from planner.cli import main
from planner.plan import CandidateInfo, PerformanceInfo, Plan
from planner.report import content, render_report

GIB = 1 << 30


ENGINE = {"flow": "engine", "trtllm_version": "0.19.0"}  # the worked numbers below are the engine flow's


@cache
def _plan(model: str, gpus: str, quant: str | None = None, engine: bool = True) -> Plan:
    return make_plan(model, gpus=gpus, quant=quant, **(ENGINE if engine else {}))


@cache
def _page(model: str, gpus: str, quant: str | None = None, engine: bool = True) -> str:
    return render_report(_plan(model, gpus, quant, engine))


def _perf(ttft: float, tpot: float, per_gpu: float, gpus: int) -> PerformanceInfo:
    per_replica = per_gpu * gpus
    return PerformanceInfo(ttft_ms=ttft, tpot_ms=tpot, concurrency=64, output_tokens_per_s=per_replica,
                           output_tokens_per_s_per_gpu=per_gpu, fleet_output_tokens_per_s=per_replica * 8 / gpus,
                           requests_per_s=per_replica / 512, backend="test-figures")


def _plan_with_performance() -> Plan:
    """The 70B FP8 plan (TP 2 × PP 1 on h100x8) with candidates and figures as the performance model would fill."""
    base = _plan("llama-3.1-70b", "h100x8", "fp8")
    assert (base.layout.tp, base.layout.pp) == (2, 1)
    candidates = [
        CandidateInfo(tp=2, pp=1, replicas=4, idle_gpus=0, memory={"weights_bytes": 37 * GIB, "total_bytes": 75 * GIB},
                      performance=_perf(300.0, 25.0, 1500.0, 2)),
        CandidateInfo(tp=4, pp=1, replicas=2, idle_gpus=0, memory={"weights_bytes": 19 * GIB},
                      performance=_perf(900.0, 12.5, 1100.0, 4)),
        CandidateInfo(tp=1, pp=3, replicas=2, idle_gpus=2, memory={"weights_bytes": 24 * GIB},
                      performance=_perf(400.0, 50.0, 1700.0, 3)),
    ]
    plan = base.model_copy(update={"candidates": candidates, "performance": candidates[0].performance,
                                   "objective": "throughput"})
    # the limits as `--ttft-ms 500 --tpot-ms 40` record them in the request
    return plan.model_copy(update={"request": plan.request.model_copy(update={"ttft_ms": 500.0, "tpot_ms": 40.0})})


# --- the memory terms ----------------------------------------------------------------------

def test_drawn_terms_add_up_to_each_stage_total():
    for plan in (_plan("llama-3.1-70b", "h100x8", "fp8"), _plan("llama-3.1-405b", "2xh100x8")):
        for stage in plan.memory.per_gpu:
            terms = content.memory_terms(stage)
            assert sum(v for _, v in terms) == stage.total_bytes
            # the overhead is drawn as its parts
            parts = ["weights_bytes", "activation_bytes", "runtime_buffers_bytes", "decoder_bytes", "comm_bytes",
                     "context_bytes", "reserved_bytes", "kv_cache_bytes"]
            assert [f for f, _ in terms] == [p for p in parts if getattr(stage, p)]
            assert "comm_bytes" in dict(terms) and "reserved_bytes" in dict(terms)  # TP > 1, an H100


def test_table_and_legend_follow_drawing_order_when_a_term_is_zero_in_some_stages():
    plan = _plan("llama-3.1-405b", "2xh100x8")
    stages = plan.memory.per_gpu
    assert stages[-1].decoder_bytes and not stages[0].decoder_bytes  # the decoder lives on the last stage
    assert content.term_labels(content.stage_rows(plan)) == [
        "weights", "activations", "runtime buffers", "decoder buffers", "communication", "CUDA context",
        "driver reserve", "KV pool"]


@dataclass(frozen=True)
class _RicherStage:
    """A breakdown with more terms than today's StageMemory, one of them unknown to the report."""

    pp_stage: int
    layers: int
    first_layer: int
    weights_bytes: int
    kv_cache_bytes: int
    activation_bytes: int
    runtime_buffers_bytes: int
    decoder_bytes: int
    pp_send_recv_bytes: int
    overhead_bytes: int  # the sum of the three terms above and 1 GiB of context
    total_bytes: int
    capacity_bytes: int
    free_bytes: int
    kv_bytes_per_token: int


def _richer(overhead_includes_parts: bool) -> _RicherStage:
    parts = 3 * GIB + 2 * GIB + GIB // 2
    overhead = GIB + (parts if overhead_includes_parts else 0)
    static = 30 * GIB + GIB + overhead + (0 if overhead_includes_parts else parts)
    return _RicherStage(pp_stage=0, layers=40, first_layer=0, weights_bytes=30 * GIB, kv_cache_bytes=40 * GIB,
                        activation_bytes=GIB, runtime_buffers_bytes=3 * GIB, decoder_bytes=2 * GIB,
                        pp_send_recv_bytes=GIB // 2, overhead_bytes=overhead, total_bytes=static + 40 * GIB,
                        capacity_bytes=80 * GIB, free_bytes=10 * GIB, kv_bytes_per_token=1)


def test_every_byte_term_is_drawn_with_a_label_even_unknown_ones():
    terms = content.memory_terms(_richer(overhead_includes_parts=False))
    assert [f for f, _ in terms] == ["weights_bytes", "activation_bytes", "runtime_buffers_bytes", "decoder_bytes",
                                     "pp_send_recv_bytes", "overhead_bytes", "kv_cache_bytes"]
    assert content.term_label("pp_send_recv_bytes") == "pp send recv"
    assert content.term_label("decoder_bytes") == "decoder buffers"


def test_the_finest_split_wins_over_a_term_that_sums_others():
    stage = _plan("llama-3.1-8b", "l40sx1").memory.per_gpu[0]

    @dataclass(frozen=True)
    class WithStatic:
        weights_bytes: int
        activation_bytes: int
        overhead_bytes: int
        static_bytes: int  # weights + activations + overhead
        kv_cache_bytes: int
        total_bytes: int
        capacity_bytes: int

    static = stage.weights_bytes + stage.activation_bytes + stage.overhead_bytes
    richer = WithStatic(stage.weights_bytes, stage.activation_bytes, stage.overhead_bytes, static,
                        stage.kv_cache_bytes, stage.total_bytes, stage.capacity_bytes)
    # static + KV also adds up, but the four terms say more
    assert [f for f, _ in content.memory_terms(richer)] == [
        "weights_bytes", "activation_bytes", "overhead_bytes", "kv_cache_bytes"]
    # an overhead that already holds the runtime terms is drawn whole, not twice
    fields = [f for f, _ in content.memory_terms(_richer(overhead_includes_parts=True))]
    assert fields == ["weights_bytes", "activation_bytes", "overhead_bytes", "kv_cache_bytes"]


def test_terms_that_do_not_add_up_leave_the_rest_unattributed():
    stage = _richer(overhead_includes_parts=False)
    broken = {**stage.__dict__, "total_bytes": stage.total_bytes + 3 * GIB + 7, "runtime_buffers_bytes": 5}
    terms = dict(content.memory_terms(broken))
    assert sum(terms.values()) == broken["total_bytes"]
    assert "unattributed_bytes" in terms


def test_colours_are_okabe_ito_and_unknown_terms_get_their_own():
    from planner.report.charts import OKABE_ITO

    styles = content._styles(["weights_bytes", "kv_cache_bytes", "pp_send_recv_bytes", "another_bytes"])
    colours = [c for c, _ in styles.values()]
    assert len(set(colours)) == 4 and set(colours) <= set(OKABE_ITO)


# --- the rule of thumb ------------------------------------------------------------------

def test_rule_of_thumb_worked_number_llama70b_fp8():
    rule = content.rule_of_thumb(_plan("llama-3.1-70b", "h100x8", "fp8"))
    # 70,553,706,496 published parameters × 1 B (FP8) × 1.2 = 84,664,447,795 B = 78.85 GiB
    assert rule.params == 70_553_706_496
    assert rule.rule_bytes == pytest.approx(84_664_447_795.2)
    assert rule.gpus == 2
    # KV per token on the replica: 2 × 80 layers × 4 KV heads per rank × 128 × 2 B (bf16) × 2 ranks = 327,680 B;
    # the rule's 20 % margin, 14,110,741,299 B, holds 43,062 tokens of it
    assert rule.margin_tokens == 43_062
    assert rule.required_tokens == 64 * 2560
    assert "78.8 GiB" in _page("llama-3.1-70b", "h100x8", "fp8")


# --- the page ---------------------------------------------------------------------------

def test_summary_sentence_names_request_and_layout():
    text = content.summary(_plan("llama-3.1-70b", "h100x8", "fp8"))
    assert text.startswith("llama-3.1-70b (70.6B parameters) with fp8 weights")
    assert "TP 2 × PP 1, 2 GPU(s) per replica, 4 replica(s)" in text


def test_same_plan_same_bytes_across_processes():
    page = _page("llama-3.1-8b", "l40sx1")
    assert render_report(_plan("llama-3.1-8b", "l40sx1")) == page
    code = ("import hashlib, sys; from planner.api import make_plan; from planner.report import render_report; "
            "sys.stdout.write(hashlib.sha256(render_report(make_plan('llama-3.1-8b', gpus='l40sx1', flow='engine', "
            "trtllm_version='0.19.0'))"
            ".encode()).hexdigest())")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                         check=True).stdout
    assert out == hashlib.sha256(page.encode()).hexdigest()


def test_page_loads_nothing():
    page = _page("llama-3.1-405b", "2xh100x8")
    for pattern in (r"<script", r"<link", r"<img", r"<iframe", r"<object", r"<embed", r"@import", r"url\(\s*['\"]?http",
                    r"\ssrc=", r"<base"):
        assert not re.search(pattern, page, re.I), pattern
    assert "default-src 'none'" in page
    # addresses appear only as links a reader follows
    for match in re.finditer(r"(\w+)=\"(https?://[^\"]*)\"", page):
        assert match.group(1) == "href", match.group(0)
    assert not re.search(r"xlink:href=\"(?!#)", page)


def test_every_chart_is_inline_svg_with_a_text_alternative():
    page = render_report(_plan_with_performance())
    svgs = re.findall(r"<svg\b[^>]*>.*?</svg>", page, re.S)
    assert len(svgs) == 2
    for svg in svgs:
        head = svg[:svg.index(">")]
        assert 'role="img"' in head
        title_id, desc_id = re.search(r'aria-labelledby="([^" ]+) ([^" ]+)"', head).groups()
        assert re.search(rf'<title id="{title_id}">[^<]{{10,}}</title>', svg)
        assert re.search(rf'<desc id="{desc_id}">[^<]{{40,}}</desc>', svg)
        assert not re.search(r'\s(width|height)="[\d.]+pt"', head)  # scales with the page
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))


def test_svg_coordinates_are_rounded_and_ids_renamed():
    page = _page("llama-3.1-70b", "h100x8", "fp8")
    svg = re.search(r"<svg\b.*?</svg>", page, re.S).group(0)
    for value in re.findall(r'="([^"]*)"', svg):
        assert not re.search(r"\d\.\d{3}", value), value
    assert all(i.startswith("memory-") for i in re.findall(r'\bid="([^"]+)"', svg))


@pytest.mark.parametrize("model, gpus, quant, engine", [
    ("llama-3.1-405b", "2xh100x8", None, True), ("deepseek-v3", "h200x8", None, False)])
def test_no_chart_text_starts_left_of_the_chart(model, gpus, quant, engine):
    """Long stage labels (135.0 of 140.4 GiB) once lost their first digit to the left edge."""
    page = _page(model, gpus, quant, engine)
    memory_svg = re.search(r"<svg\b.*?</svg>", page, re.S).group(0)
    # the stage labels are left-aligned text placed by a translate: x is where each line starts
    starts = [float(x) for x in re.findall(r'<text [^>]*transform="translate\((-?[\d.]+) ', memory_svg)]
    assert len(starts) >= 2 and min(starts) >= 0


def test_memory_chart_description_lists_every_stage():
    plan = _plan("llama-3.1-405b", "2xh100x8")
    desc = content.memory_description(plan, content.stage_rows(plan))
    for stage in plan.memory.per_gpu:
        assert f"Stage {stage.pp_stage} (layers {stage.first_layer}–" in desc
        assert f"KV pool {stage.kv_cache_bytes / GIB:.1f} GiB" in desc


def test_candidates_list_the_chosen_layout_first_then_every_rejection():
    plan = _plan("llama-3.1-405b", "2xh100x8")
    rows = content.candidate_rows(plan)
    assert rows[0].chosen and rows[0].layout == f"TP {plan.layout.tp} × PP {plan.layout.pp}"
    assert sum(r.chosen for r in rows) == 1
    assert len(rows) == len(plan.candidates) + len(plan.rejected)
    assert [r.status for r in rows[len(plan.candidates):]] == [r.reason for r in plan.rejected]
    assert {r.layout for r in rows[:len(plan.candidates)]} == {f"TP {c.tp} × PP {c.pp}" for c in plan.candidates}


def test_a_plan_without_performance_has_no_speed_columns_or_chart():
    plan = _plan("llama-3.1-405b", "2xh100x8").model_copy(update={"candidates": [], "performance": None})
    rows = content.candidate_rows(plan)
    assert rows[0].chosen and rows[0].memory.startswith("weights ")
    page = render_report(plan)
    assert "TTFT ms" not in page
    assert "no throughput chart" in page
    assert page.count("<svg") == 1


def test_throughput_chart_marks_the_chosen_layout_and_draws_the_limits():
    plan = _plan_with_performance()
    assert content.latency_limits(plan) == (500.0, 40.0)
    points = content.throughput_points(plan, 500.0)
    by_label = {p.label: p for p in points}
    assert by_label["TP 2 × PP 1"].chosen and not by_label["TP 4 × PP 1"].chosen
    assert by_label["TP 2 × PP 1"].tokens_per_s_per_user == pytest.approx(40.0)  # 1000 / 25 ms
    assert not by_label["TP 4 × PP 1"].meets_ttft  # 900 ms > 500 ms
    page = render_report(plan)
    chart = re.findall(r"<svg\b.*?</svg>", page, re.S)[1]
    assert "TP 2 × PP 1 (chosen)" in chart
    assert "TPOT limit 40 ms = 25.0 tokens/s per user" in chart
    assert "hollow: misses the TTFT limit of 500 ms" in chart
    desc = re.search(r"<desc[^>]*>(.*?)</desc>", chart, re.S).group(1)
    assert "TP 4 × PP 1: 80.0 tokens/s per user, 1,100 tokens/s per GPU, misses the TTFT limit" in desc
    # the table has the figures of every candidate, and marks the chosen one
    assert re.search(r'<tr class="chosen"><td class="name">TP 2 × PP 1', page)
    assert "<td class=\"num\">1,700</td>" in page
    assert "backend test-figures" in page


def test_chart_without_limits_says_so():
    plan = _plan_with_performance().model_copy(update={"request": None})
    assert content.latency_limits(plan) == (None, None)
    page = render_report(plan)
    assert "The plan sets no latency limits." in page
    assert "TPOT limit" not in page


def test_commands_come_from_the_generated_readme_in_order():
    plan = _plan("llama-3.1-70b", "h100x8", "fp8")
    steps = content.steps(plan)
    assert [s.number for s in steps] == [str(i) for i in range(1, len(steps) + 1)]
    assert steps[0].title == "Start the container"
    assert any("bash build.sh" in block for s in steps for block in s.commands)
    page = _page("llama-3.1-70b", "h100x8", "fp8")
    # 4 replicas of TP 2 on the node: the README starts each with deploy/scripts/triton-rank.sh
    assert page.index("docker run") < page.index("bash build.sh") < page.index("deploy/scripts/triton-rank.sh")


def test_pytorch_flow_draws_its_cuda_graphs_and_its_own_steps():
    plan = _plan("llama-3.1-70b", "h100x8", engine=False)
    assert plan.target.flow == "pytorch"
    for stage in plan.memory.per_gpu:
        terms = content.memory_terms(stage)
        assert sum(v for _, v in terms) == stage.total_bytes
        fields = [f for f, _ in terms]
        assert fields[-2:] == ["kv_cache_bytes", "cuda_graph_bytes"] and "profiling_peak_bytes" not in fields
    assert [s.title for s in content.steps(plan)] == ["Start the container", "Prepare the weights", "Launch Triton",
                                                      "Check it"]
    page = _page("llama-3.1-70b", "h100x8", engine=False)
    assert "CUDA graphs" in page and "pytorch flow" in page


def test_a_plan_that_does_not_fit_still_renders():
    plan = make_plan("llama-3.1-405b", gpus="l4x2", **ENGINE)
    assert not plan.fits
    page = render_report(plan)
    assert "does not fit" in page and "Would fit:" in page
    assert "Nothing fits, so there is nothing to build or run." in page
    assert "<svg" in page  # the closest layout's memory, past capacity


def test_plan_strings_are_escaped():
    plan = _plan("llama-3.1-8b", "l40sx1")
    hostile = plan.model_copy(update={"model": plan.model.model_copy(update={"name": "<script>x</script>&"})})
    page = render_report(hostile)
    assert "<script>" not in page and "&lt;script&gt;x&lt;/script&gt;&amp;" in page


def test_sources_name_model_gpu_release_and_rule():
    page = _page("llama-3.1-70b", "h100x8", "fp8")
    section = page[page.index('id="h-sources"'):]
    assert '<a href="https://huggingface.co/meta-llama/Llama-3.1-70B-Instruct/blob/main/config.json"' in section
    assert "nvidia-tensor-core-gpu-datasheet" in section
    assert "TensorRT-LLM 0.19.0: build flags" in section
    assert "substratus.ai" in section and "jfly.uni-koeln.de" in section


# --- the command line -------------------------------------------------------------------

def _run(capsys, *argv):
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_plan_out_writes_the_report_and_report_makes_the_same_page(capsys, tmp_path):
    out = tmp_path / "out"
    code, _, err = _run(capsys, "plan", "llama-3.1-8b", "--gpus", "l40sx1", "--out", str(out))
    assert code == 0, err
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page == _page("llama-3.1-8b", "l40sx1", engine=False)
    for source in (out, out / "plan.json"):
        target = tmp_path / "again" / "r.html"
        code, _, err = _run(capsys, "report", str(source), "-o", str(target))
        assert code == 0, err
        assert target.read_text(encoding="utf-8") == page
    code, stdout, _ = _run(capsys, "report", str(out), "-o", "-")
    assert code == 0 and stdout == page


@pytest.mark.parametrize("text, message", [
    (None, "does not exist"),
    ("not json", "invalid JSON at line 1 column 1"),
    ("[1, 2]", "is not a plan this planner reads: (top level)"),
    (json.dumps({"schema_version": 1}), "is not a plan this planner reads: model: Field required"),
])
def test_report_bad_input_is_one_line_and_exit_2(capsys, tmp_path, text, message):
    path = tmp_path / "plan.json"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    code, _, err = _run(capsys, "report", str(path), "-o", str(tmp_path / "r.html"))
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r.html").exists()


def test_report_refuses_a_directory_as_output(capsys, tmp_path):
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(_plan("llama-3.1-8b", "l40sx1").to_json(), encoding="utf-8")
    code, _, err = _run(capsys, "report", str(plan_file), "-o", str(tmp_path))
    assert code == 2 and "is a directory" in err


def test_cold_plan_does_not_import_matplotlib():
    code = ("import sys\nfrom planner.cli import main\ntry:\n    main(['plan', 'llama-3.1-8b', '--gpus', 'l40sx1', "
            "'--format', 'json'])\nexcept SystemExit:\n    pass\nsys.stderr.write('LOADED' if 'matplotlib' in "
            "sys.modules else 'LIGHT')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stderr.endswith("LIGHT"), result.stderr[-300:]


# --- the comparison page ----------------------------------------------------------------

_COMPARE_OPTIONS = {"max_input_len": 2048, "max_output_len": 512, "objective": "throughput", "tpot_ms": 60.0,
                    "ttft_ms": 400.0}


def test_compare_page_names_expert_parallelism_and_attention_dp_as_the_table_does(capsys):
    # the terminal table says "TP 8 (EP 4, attention DP) × PP 1"; the page must not shorten it to "TP 8 × PP 1"
    from planner.compare import compare, layout_label
    from planner.report.compare import render_compare

    rows = compare("deepseek-v3", "h200x8", None, None, objective="throughput")
    (row,) = rows
    assert row["ep"] > 1 and row["attention_dp"]
    label = layout_label(row)
    assert "EP" in label and "attention DP" in label
    page = render_compare(rows, "deepseek-v3", {"objective": "throughput"})
    assert label in page and f"TP {row['tp']} × PP {row['pp']}" not in page


def test_compare_page_draws_every_fitting_row_and_lists_all(capsys, tmp_path):
    from planner.compare import compare
    from planner.report.compare import render_compare

    rows = compare("llama-3.1-8b", "l40sx1,h100x1,l4x1", "fp8,bf16", None, max_input_len=2048, max_output_len=512,
                   objective="throughput", tpot_ms=60.0, ttft_ms=400.0)
    fitting = [r for r in rows if r["fits"] and r["tpot_ms"]]
    assert fitting and len(fitting) < len(rows)
    page = render_compare(rows, "llama-3.1-8b", _COMPARE_OPTIONS)
    assert render_compare(rows, "llama-3.1-8b", _COMPARE_OPTIONS) == page
    (svg,) = re.findall(r"<svg\b.*?</svg>", page, re.S)
    assert 'role="img"' in svg and "TPOT limit 60 ms = 16.7 tokens/s per user" in svg
    desc = re.search(r"<desc[^>]*>(.*?)</desc>", svg, re.S).group(1)
    for r in fitting:
        label = f"{r['gpus']} {r['quant']} (TP {r['tp']} × PP {r['pp']})"
        assert f"{label}: {1000 / r['tpot_ms']:.1f} tokens/s per user" in desc
    assert page.count("<tr><td class=\"name\">") == len(rows)
    assert page.count('class="no" colspan="11">does not fit: ') == len(rows) - sum(r["fits"] for r in rows)
    assert not re.search(r"<script|<link|<img|\ssrc=", page)

    out = tmp_path / "compare.html"
    with pytest.raises(SystemExit) as exc:
        main(["compare", "llama-3.1-8b", "--gpus", "l40sx1,h100x1,l4x1", "--quant", "fp8,bf16", "--tpot-ms", "60",
              "--ttft-ms", "400", "--format", "json", "--html", str(out)])
    captured = capsys.readouterr()
    assert exc.value.code == 0, captured.err
    assert json.loads(captured.out) == rows
    assert out.read_text(encoding="utf-8") == page


def test_the_benchmark_run_is_stated_when_the_plan_has_one():
    plan = make_plan("llama-3.1-8b", "h100x1", max_input_len=128, max_output_len=128, objective="throughput",
                     bench_requests=30000)
    b = plan.benchmark
    page = render_report(plan)
    assert "run of 30,000 requests of 128 input and 128 output tokens" in page
    assert f"{b.output_tokens_per_s:,.0f} output tokens/s per replica" in page
    assert "trtllm-bench throughput" not in render_report(plan.model_copy(update={"benchmark": None}))


def test_the_page_states_both_costs_and_names_moe_layouts_as_the_terminal_does():
    from planner.render import layout_name

    plan = make_plan("deepseek-v3", "h200x8", flow="pytorch", tp=8, pp=1, ep=4, attention_dp=True,
                     request_rate=2, gpu_hour_price=3.0)
    page = render_report(plan)
    assert f"${plan.performance.cost_per_million_tokens:.3f} per million output tokens" in page
    assert f"${plan.sizing.cost_per_million_tokens:.3f} per million output tokens on those GPUs" in page
    lay = plan.layout
    assert lay.ep > 1 and layout_name(lay.tp, lay.pp, lay.ep, lay.attention_dp) in content.summary(plan)
    assert "per million" not in render_report(make_plan("deepseek-v3", "h200x8"))


def test_rejected_moe_layouts_keep_their_ep_and_attention_dp_on_the_page():
    # two rejections that differ only in EP and attention DP must not read as the same layout
    from planner.render import layout_of

    plan = make_plan("deepseek-v3", "h200x8", objective="throughput", tpot_ms=20)
    moe = [r for r in plan.rejected if r.ep > 1 and r.attention_dp]
    assert moe
    page = render_report(plan)
    for r in moe:
        assert f'<td class="name">{layout_of(r)}' in page
