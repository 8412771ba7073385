"""Layout and quantization rules from each release's contract: what its engine flow cannot build.

Each test names the release explicitly (engine flow), and each failed on the planner before
the rules existed: it accepted these plans and only the build would have failed.
"""

from __future__ import annotations

import pytest

from planner import catalog
from planner.api import make_plan
from planner.cli import main
from planner.engine_rules import builder_refuses, check_engine, checkpoint_route, layout_reason, no_converter_reason
from planner.errors import InputError


def _run(capsys, *argv):
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def _gpu(name):
    return catalog.get_gpu(name)


# --- families without pipeline parallelism (Gemma, Phi) ----------------------------------------

@pytest.mark.parametrize("version", ["0.19.0", "1.2.1"])
@pytest.mark.parametrize("model", ["phi-3-medium", "gemma-2-27b"])
def test_forced_pp_on_a_family_without_pp_is_exit_2(model, version):
    with pytest.raises(InputError) as err:
        make_plan(model, gpus="l40sx4", tp=1, pp=2, trtllm_version=version, flow="engine")
    assert "cannot split" in err.value.message and "use PP 1" in err.value.message
    assert err.value.message.startswith("TP 1 × PP 2 cannot run")


@pytest.mark.parametrize("version", ["0.19.0", "1.2.1"])
def test_search_never_picks_pp_for_a_family_without_pp(version):
    # gemma-2-27b in bf16 (~51 GiB of weights) needs more than one 48 GiB L40S: the search may only
    # widen TP, and every PP > 1 candidate it passed is rejected for the converter, not for memory
    plan = make_plan("gemma-2-27b", gpus="l40sx4", trtllm_version=version, max_batch_size=8, flow="engine")
    assert plan.layout.pp == 1
    for r in plan.rejected:
        if r.pp > 1:
            assert "cannot split gemma2 into pipeline stages" in r.reason


def test_cli_forced_pp_for_phi_exits_2_with_one_line(capsys):
    code, out, err = _run(capsys, "plan", "phi-3-mini", "--gpus", "h100x2", "--pp", "2",
                          "--trtllm-version", "1.2.1", "--flow", "engine")
    assert code == 2 and out == ""
    assert "Pipeline parallelism is not supported" in err and len(err.strip().splitlines()) == 1


# --- 0.19.0 splits layers evenly only ----------------------------------------------------------

def test_uneven_pp_is_refused_on_0190_and_built_on_121():
    # 80 layers in 3 stages: 27/27/26 after TensorRT-LLM PR #4399 (the 1.x line), impossible in 0.19.0
    with pytest.raises(InputError, match="splits layers evenly only: 80 layers do not divide into 3 stages"):
        make_plan("llama-3.1-70b", gpus="h100x8", tp=1, pp=3, trtllm_version="0.19.0", flow="engine")
    plan = make_plan("llama-3.1-70b", gpus="h100x8", tp=1, pp=3, trtllm_version="1.2.1", quant="fp8",
                     max_batch_size=8, flow="engine")
    assert plan.layout.layers_per_stage == [27, 27, 26]


def test_even_split_rule_is_a_worked_number():
    spec = catalog.get_model("llama-3.1-405b")  # 126 layers
    assert layout_reason(spec, 8, 2, "0.19.0") is None  # 63 + 63
    assert layout_reason(spec, 8, 3, "0.19.0") is None  # 42 x 3
    assert "126 layers do not divide into 4 stages" in layout_reason(spec, 4, 4, "0.19.0")
    assert layout_reason(spec, 4, 4, "1.2.1") is None  # 32/32/31/31


def test_search_on_0190_only_keeps_even_stages():
    plan = make_plan("llama-3.1-405b", gpus="2xh100x8", trtllm_version="0.19.0", flow="engine")
    assert 126 % plan.layout.pp == 0
    uneven = [r for r in plan.rejected if 126 % r.pp]
    assert uneven and all("evenly only" in r.reason for r in uneven)


# --- SM 100-119: the engine builder's refusals ---------------------------------------------------

@pytest.mark.parametrize("version", ["0.19.0", "1.2.1"])
@pytest.mark.parametrize("gpu", ["b200x8", "gb200x4"])
@pytest.mark.parametrize("quant", ["int8_sq", "int8_wo", "int4_wo", "int4_awq", "int4_gptq"])
def test_blackwell_datacenter_refuses_int8_and_int4_weight_only(gpu, quant, version):
    with pytest.raises(InputError) as err:
        make_plan("llama-3.1-8b", gpus=gpu, quant=quant, trtllm_version=version, flow="engine")
    message = err.value.message
    assert "engine builder refuses" in message and "SM 100" in message
    # it names what runs instead
    assert "builds llama on" in message and "fp8" in message and "nvfp4" in message


@pytest.mark.parametrize("version", ["0.19.0", "1.2.1"])
def test_blackwell_datacenter_refuses_an_int8_kv_cache(version):
    with pytest.raises(InputError) as err:
        make_plan("llama-3.1-8b", gpus="b200x1", quant="fp8", kv_cache_dtype="int8", trtllm_version=version,
                  flow="engine")
    assert "a KV cache in int8" in err.value.message and "fp8 weights build with the KV cache in" in err.value.message


def test_builder_rule_is_the_release_condition():
    fp8 = {"weights": "fp8", "kv_dtype": "fp8"}
    b200, h100 = _gpu("b200"), _gpu("h100")
    assert builder_refuses(b200, "int8_wo", "bf16", "1.2.1")
    assert builder_refuses(b200, **fp8, version="1.2.1") is None
    assert builder_refuses(h100, "int8_sq", "int8", "1.2.1") is None  # SM 90: outside 100 <= SM < 120
    # SM 120 (RTX 50xx, RTX PRO 6000) is outside the condition: the same card at 12.0 is not refused
    sm120 = b200.model_copy(update={"name": "sm120-card", "compute_capability": "12.0"})
    assert builder_refuses(sm120, "int8_wo", "int8", "1.2.1") is None
    sm103 = b200.model_copy(update={"name": "sm103-card", "compute_capability": "10.3"})
    assert builder_refuses(sm103, "int4_awq", "bf16", "0.19.0")


def test_blackwell_fp8_and_nvfp4_still_plan():
    assert make_plan("llama-3.1-8b", gpus="b200x1", quant="nvfp4", trtllm_version="1.2.1", flow="engine").fits
    assert make_plan("llama-3.1-8b", gpus="b200x1", quant="fp8", kv_cache_dtype="fp8", trtllm_version="0.19.0",
                     flow="engine").fits


# --- converters that lack a quantization or option ------------------------------------------------

def test_gptq_on_a_converter_without_gptq_is_exit_2():
    with pytest.raises(InputError, match="has no weight-only precision int4_gptq") as err:
        make_plan("phi-3-mini", gpus="h100x1", quant="int4_gptq", trtllm_version="1.2.1", flow="engine")
    assert "int4_awq" in err.value.message  # ModelOpt's AWQ runs for phi3


def test_parallel_embedding_on_a_converter_without_it_is_exit_2():
    with pytest.raises(InputError, match="has no --use_parallel_embedding"):
        make_plan("phi-3-mini", gpus="h100x2", use_parallel_embedding=True, trtllm_version="1.2.1", flow="engine")
    assert make_plan("llama-3.1-8b", gpus="h100x2", use_parallel_embedding=True, trtllm_version="1.2.1",
                     flow="engine").fits


def test_route_follows_the_scheme():
    assert checkpoint_route("fp8", "bf16") == "quantize"
    assert checkpoint_route("bf16", "fp8") == "quantize"  # KV-only quantization is ModelOpt's
    assert checkpoint_route("int4_gptq", "int8") == "convert"  # GPTQ weights are already quantized
    assert checkpoint_route("int8_wo", "bf16") == "convert"


# --- families with no engine converter -----------------------------------------------------------

def test_deepseek_v3_on_the_engine_only_release_is_exit_2_naming_the_pytorch_flow(capsys, tmp_path):
    code, out, err = _run(capsys, "plan", "deepseek-v3", "--gpus", "h200x8",
                          "--trtllm-version", "0.19.0", "--out", str(tmp_path / "out"))
    assert code == 2 and out == ""  # no "fits", no "validated"
    assert "PyTorch flow" in err and "--trtllm-version 1.2.1" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()  # no repository written for an engine that cannot be built


def test_a_family_missing_from_the_contract_has_no_engine_converter():
    spec = catalog.get_model("llama-3.1-8b").model_copy(update={"name": "new-model", "architecture": "qwen9"})
    # Profile.supports reads the contract: a family it lacks has no engine converter
    with pytest.raises(InputError, match="engine flow cannot run qwen9: no checkpoint converter"):
        make_plan(spec, gpus="h100x1", trtllm_version="0.19.0", flow="engine")
    assert "no convert_checkpoint.py for qwen9 is in the planner's contract data" in no_converter_reason(spec, "1.2.1")


def test_121_refuses_a_family_without_converter_only_when_the_engine_flow_is_asked_for():
    # 1.2.1 also runs the PyTorch flow, which such a family takes when no flow is named; asked for
    # the engine flow explicitly, it is exit 2 like on 0.19.0.
    spec, gpu = catalog.get_model("deepseek-v3"), _gpu("h200")
    check_engine(spec, gpu, "fp8", "fp8", "1.2.1")
    with pytest.raises(InputError, match="PyTorch flow of TensorRT-LLM 1.2.1"):
        check_engine(spec, gpu, "fp8", "fp8", "1.2.1", explicit_engine=True)


def test_deepseek_v2_converter_has_no_weight_only_quantization():
    from planner.engine_rules import converter_reason

    spec = catalog.get_model("llama-3.1-8b").model_copy(update={"name": "dsv2-lite", "architecture": "deepseek_v2"})
    assert converter_reason(spec, "bf16", "bf16", "1.2.1") is None
    assert "has no weight-only precision int8 (it offers: none)" in converter_reason(spec, "int8_wo", "bf16", "1.2.1")


@pytest.mark.parametrize("kv", ["bf16", "fp8", "int8"])
@pytest.mark.parametrize("weights", ["bf16", "fp8", "int8_wo", "int4_awq", "int4_gptq", "int8_sq"])
def test_memory_embedding_follows_the_script_build_sh_runs(weights, kv):
    # GPTQ weights convert with the family's converter even with a quantized KV cache; the memory
    # model used to send them through quantize.py (sharded embedding) while build.sh converted them
    plan = make_plan("llama-3.1-8b", "h100x2", quant=weights, kv_cache_dtype=kv, flow="engine",
                     trtllm_version="1.2.1", tp=2)
    script = {"quantize": "quantize.py", "convert": "convert_checkpoint.py"}[checkpoint_route(weights, kv)]
    assert plan.memory.embedding.path == script
