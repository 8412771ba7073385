"""Layout validity rules and the choice order, with worked examples."""

from __future__ import annotations

import pytest

from planner import catalog
from planner.api import make_plan
from planner.errors import InputError
from planner.fleet import parse_fleet
from planner.layout import candidates, replicas, structural_reason
from planner.memory import layers_per_stage


def fleet(text):
    return parse_fleet(text)


def test_heads_must_divide_by_tp(llama70b):
    assert "64 attention heads are not divisible by TP 3" in structural_reason(llama70b, "bf16", 3, 1, fleet("h100x8"))


def test_tp_beyond_kv_heads_must_be_a_multiple():
    phi = catalog.get_model("phi-3-medium")  # 40 heads, 10 KV heads
    assert structural_reason(phi, "bf16", 2, 1, fleet("h100x8")) is None
    assert "10 KV heads are not divisible by TP 4" in structural_reason(phi, "bf16", 4, 1, fleet("h100x8"))
    falcon = catalog.get_model("falcon-180b")  # 232 heads, 8 KV heads
    assert structural_reason(falcon, "bf16", 8, 1, fleet("h100x8")) is None


def test_tp_stays_inside_a_node(llama70b):
    reason = structural_reason(llama70b, "bf16", 16, 1, fleet("2xh100x8"))
    assert "cross nodes" in reason
    assert structural_reason(llama70b, "bf16", 8, 2, fleet("2xh100x8")) is None


def test_awq_layout_rejected_for_group_size():
    # Qwen2.5-72B: intermediate 29568; at TP 8 each rank gets 3696 inputs of the down
    # projection, 3696 % 128 = 112, so int4 AWQ (group 128) cannot split it.
    qwen = catalog.get_model("qwen2.5-72b")
    reason = structural_reason(qwen, "int4_awq", 8, 1, fleet("h100x8"))
    assert "29568 input features, 3696 per rank at TP 8" in reason
    assert structural_reason(qwen, "bf16", 8, 1, fleet("h100x8")) is None
    with pytest.raises(InputError, match="whole groups of 128"):
        make_plan("qwen2.5-72b", "h100x8", quant="int4_awq", tp=8, pp=1)
    # the search skips the TP it cannot split and says why
    plan = make_plan("qwen2.5-72b", "l40sx8", quant="int4_awq", max_batch_size=64)
    reasons = {(r.tp, r.pp): r.reason for r in plan.rejected}
    assert "whole groups of 128" in reasons[(2, 1)]


def test_uneven_pp_gives_extra_layers_to_first_stages():
    assert layers_per_stage(80, 3) == [27, 27, 26]
    assert layers_per_stage(126, 4) == [32, 32, 31, 31]


def test_candidates_ordered_by_gpus_then_tp(llama70b):
    order = candidates(llama70b, fleet("h100x8"))
    assert order[:5] == [(1, 1), (2, 1), (1, 2), (3, 1), (1, 3)]
    assert all(tp * pp <= 8 for tp, pp in order)


def test_minimal_layout_and_rejections(llama70b):
    plan = make_plan("llama-3.1-70b", "h100x8", max_batch_size=16, max_input_len=2048, max_output_len=512)
    assert plan.fits
    assert (plan.layout.tp, plan.layout.pp) == (2, 1)
    assert plan.layout.replicas == 4
    assert [(r.tp, r.pp) for r in plan.rejected] == [(1, 1)]
    assert "exceeds the 79.65 GiB GPU" in plan.rejected[0].reason


def test_replicas_per_node_and_multi_node():
    assert replicas(fleet("2xh100x8"), 3) == (4, 1)  # two 3-GPU replicas per node
    assert replicas(fleet("2xh100x8"), 16) == (1, 2)
    assert replicas(fleet("4xh100x8"), 12) == (2, 2)


def test_405b_bf16_needs_two_nodes():
    plan = make_plan("llama-3.1-405b", "2xh100x8")
    assert plan.fits and plan.layout.gpus_per_replica > 8
    assert plan.layout.nodes_per_replica == 2


def test_forced_layout_what_if():
    plan = make_plan("llama-3.1-8b", "h100x8", tp=4, pp=1)
    assert (plan.layout.tp, plan.layout.pp, plan.layout.replicas) == (4, 1, 2)
    with pytest.raises(InputError, match="needs 16 GPUs; the fleet has 8"):
        make_plan("llama-3.1-8b", "h100x8", tp=8, pp=2)
    with pytest.raises(InputError, match="not divisible by TP 3"):
        make_plan("llama-3.1-8b", "h100x8", tp=3, pp=1)


def test_forced_layout_that_does_not_fit_reports_no_fit():
    plan = make_plan("llama-3.1-70b", "h100x8", tp=1, pp=1)
    assert not plan.fits
    assert plan.rejected[0].tp == 1 and "exceeds" in plan.rejected[0].reason


def test_fits_nowhere_says_what_would_fit():
    plan = make_plan("llama-3.1-70b", "h100x2", max_batch_size=256)
    assert not plan.fits
    assert any(a.startswith("--max-batch-size") for a in plan.advice)
    assert any(a.startswith("--gpus") for a in plan.advice)


def test_hardware_checks():
    with pytest.raises(InputError, match="a100-80gb .* cannot run fp8.*runs fp32, fp16, bf16"):
        make_plan("llama-3.1-8b", "a100-80gbx1", quant="fp8")
    with pytest.raises(InputError, match="cannot run nvfp4"):
        make_plan("llama-3.1-8b", "h100x1", quant="nvfp4")
    with pytest.raises(InputError, match="cannot hold a fp8 KV cache"):
        make_plan("llama-3.1-8b", "a100-80gbx1", kv_cache_dtype="fp8")
    assert make_plan("llama-3.1-8b", "b200x1", quant="nvfp4").fits
    with pytest.raises(InputError, match="cannot run bf16"):
        make_plan("llama-3.1-8b", "t4x4", quant="bf16")


@pytest.mark.parametrize(("text", "total", "suggested"), [("h100x16", 16, "2xh100x8"), ("h100x9", 9, "3xh100x3"),
                                                         ("2xb200x12", 24, "3xb200x8"), ("H200x10", 10, "2xH200x5")])
def test_no_hgx_node_holds_more_than_its_baseboard(text, total, suggested):
    """HGX parts come on 8-GPU NVSwitch boards: more per node is not a larger NVLink domain, and the error
    names whole nodes of the same GPUs."""
    with pytest.raises(InputError, match=f"at most 8 GPUs .*e.g. {suggested}$") as exc:
        parse_fleet(text)
    assert exc.value.exit_code == 2
    assert parse_fleet(suggested).total_gpus == total  # the suggestion is a valid fleet of as many GPUs
    # PCIe servers vary, and GB200's NVLink domain spans trays: no board limit there
    assert parse_fleet("l40sx10").gpus_per_node == 10 and parse_fleet("gb200x72").gpus_per_node == 72


def test_a_fleet_file_cannot_put_more_hgx_gpus_in_a_node(tmp_path):
    f = tmp_path / "fleet.yaml"
    f.write_text("gpu: b200\ngpus_per_node: 16\nnodes: 1\n")
    with pytest.raises(InputError, match="one b200 node holds at most 8 GPUs .*e.g. 2xb200x8"):
        parse_fleet(str(f))


@pytest.mark.parametrize(("gpu", "dtype", "expected"), [
    ("h100", "bfloat16", "bf16"),
    ("h100", "float16", "fp16"),
    ("h100", "float32", "fp16"),
    ("t4", "bfloat16", "fp16"),  # Turing has no bf16
    ("v100", "bfloat16", "fp16"),
])
def test_default_weights_follow_checkpoint_and_gpu(gpu, dtype, expected):
    from planner import catalog
    from planner.api import default_weights

    assert default_weights(catalog.get_gpu(gpu), dtype) == expected


def test_no_quant_on_a_t4_plans_fp16():
    plan = make_plan("llama-3.2-1b", "t4")
    assert plan.quantization.weights == "fp16" and plan.quantization.kv_cache == "fp16"
    assert plan.request.quant == "fp16"
