"""The PyTorch (LLM API) flow: flow choice and its reasons, model.yaml, build.sh, the llmapi validation."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from planner.api import make_plan
from planner.emit import render_all, write_all
from planner.emit.examples import EXAMPLES, EXAMPLES_DIR
from planner.errors import InputError
from planner.serving import ServingInfo
from planner.target import DEFAULT_TRTLLM_VERSION, load_profile
from planner.validate import validate_repository


def _yaml(files: dict[str, str]) -> dict:
    return yaml.safe_load(files["model_repository/tensorrt_llm/1/model.yaml"])


# -- which flow, and why -------------------------------------------------------------------------


def test_default_target_is_1_2_1_pytorch():
    p = make_plan("llama-3.1-8b", "h100x1")
    assert DEFAULT_TRTLLM_VERSION == "1.2.1"
    assert (p.target.trtllm_version, p.target.flow) == ("1.2.1", "pytorch")
    assert "default flow of TensorRT-LLM 1.2.1" in p.target.flow_reason


def test_0_19_0_implies_the_engine_flow():
    p = make_plan("llama-3.1-8b", "h100x1", trtllm_version="0.19.0")
    assert p.target.flow == "engine" and "engine flow only" in p.target.flow_reason


@pytest.mark.parametrize("version", ["0.19.0", "1.2.1"])
def test_engine_flow_on_both_releases(version):
    p = make_plan("llama-3.1-8b", "h100x1", trtllm_version=version, flow="engine")
    assert p.target.flow == "engine" and p.request.flow == "engine" and p.target.flow_reason == "--flow engine"
    assert "model_repository/ensemble/config.pbtxt" in render_all(p)


def test_pytorch_on_0_19_0_is_bad_input_naming_1_2_1():
    with pytest.raises(InputError, match="1.2.1") as exc:
        make_plan("llama-3.1-8b", "h100x1", trtllm_version="0.19.0", flow="pytorch")
    assert exc.value.exit_code == 2


def test_family_without_engine_converter_goes_to_pytorch_with_the_reason():
    p = make_plan("deepseek-v3", "h200x8")
    assert p.target.flow == "pytorch"
    assert "only one that runs deepseek_v3" in p.target.flow_reason and "convert_checkpoint" in p.target.flow_reason
    with pytest.raises(InputError, match="PyTorch flow"):
        make_plan("deepseek-v3", "h200x8", flow="engine")
    with pytest.raises(InputError, match="PyTorch flow"):  # a release whose only flow is the engine flow
        make_plan("deepseek-v3", "h200x8", trtllm_version="0.19.0")


def test_family_the_pytorch_backend_lacks_takes_the_engine_flow():
    p = make_plan("gemma-2-9b", "h100x1")
    assert p.target.flow == "engine" and "runs only in the engine flow" in p.target.flow_reason
    with pytest.raises(InputError, match="engine flow"):
        make_plan("gemma-2-9b", "h100x1", flow="pytorch")


def test_quantization_the_pytorch_flow_cannot_serve_names_the_engine_flow():
    with pytest.raises(InputError, match="--flow engine"):
        make_plan("llama-3.1-8b", "h100x1", quant="int8_wo")
    with pytest.raises(InputError, match="int8 KV cache"):
        make_plan("llama-3.1-8b", "h100x1", kv_cache_dtype="int8")
    assert make_plan("llama-3.1-8b", "h100x1", quant="int8_wo", flow="engine").fits


def test_prequantized_formats_are_served_as_published():
    p = make_plan("gpt-oss-120b", "h100x1")
    assert (p.target.flow, p.quantization.weights) == ("pytorch", "mxfp4")
    files = render_all(p)
    assert "hf_ptq" not in _commands(files["build.sh"]) and "quantization_config" in files["build.sh"]
    assert _yaml(files)["model"] == "./hf_model"
    with pytest.raises(InputError, match="only from a checkpoint"):
        make_plan("llama-3.1-8b", "h100x1", quant="mxfp4")


def test_bls_is_engine_flow_only():
    with pytest.raises(InputError, match="--flow engine"):
        make_plan("llama-3.1-8b", "h100x1", serving=ServingInfo(bls=True))
    assert make_plan("llama-3.1-8b", "h100x1", serving=ServingInfo(bls=True), flow="engine").fits


def test_diff_regenerates_a_pytorch_plan(tmp_path):
    write_all(make_plan("llama-3.1-8b", "h100x1"), tmp_path / "out")
    cmd = [sys.executable, "-m", "planner", "diff", str(tmp_path / "out")]
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    path = tmp_path / "out" / "model_repository" / "tensorrt_llm" / "1" / "model.yaml"
    path.write_text(path.read_text().replace("tensor_parallel_size: 1", "tensor_parallel_size: 2"))
    drift = subprocess.run(cmd, capture_output=True, text=True)
    assert drift.returncode == 5 and "+tensor_parallel_size: 1" in drift.stdout


def test_cli_flow_errors_are_one_line_exit_2():
    cmd = [sys.executable, "-m", "planner", "plan", "llama-3.1-8b", "--trtllm-version", "0.19.0", "--flow", "pytorch"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "1.2.1" in result.stderr


# -- model.yaml ----------------------------------------------------------------------------------


def test_model_yaml_carries_the_plan():
    serving = ServingInfo(decoupled=True, tokenizer_dir="./tok")
    p = make_plan("llama-3.1-8b", "h100x1", quant="fp8", kv_cache_dtype="fp8", max_batch_size=32,
                  max_input_len=1000, max_output_len=200, kv_cache_free_gpu_mem_fraction=0.85, serving=serving)
    args = _yaml(render_all(p))
    assert args["model"] == "./trtllm_checkpoint"  # ModelOpt's quantized export
    assert args["tokenizer"] == "./tok" and args["backend"] == "pytorch" and args["dtype"] == "bfloat16"
    assert (args["tensor_parallel_size"], args["pipeline_parallel_size"]) == (p.layout.tp, p.layout.pp)
    assert (args["max_batch_size"], args["max_seq_len"], args["max_num_tokens"]) == (32, 1200, 8192)
    assert args["kv_cache_config"] == {"free_gpu_memory_fraction": 0.85, "dtype": "fp8", "enable_block_reuse": True,
                                       "tokens_per_block": 32}
    # the batch sizes the memory model counted (CudaGraphConfig's default set, up to max_batch_size),
    # padded so that no batch between two of them runs eagerly
    assert args["cuda_graph_config"] == {"batch_sizes": list(range(1, 33)), "max_batch_size": 32,
                                         "enable_padding": True}
    assert args["triton_config"] == {"max_batch_size": 0, "decoupled": True}
    # prompts fill each step's max_num_tokens in chunks, as the performance model schedules them and
    # trtllm-bench runs them; TorchLlmArgs leaves it off
    assert args["enable_chunked_prefill"] is True
    spec = load_profile("1.2.1").pytorch
    assert set(args) - {"triton_config"} <= set(spec.llm_args.arguments)


@pytest.mark.parametrize("batch, top", [(512, [128, 256, 512]), (100, [31, 32, 64, 100])])
def test_model_yaml_graphs_cover_the_largest_batch_the_plan_counted(batch, top):
    # NVIDIA's deployment guides set cuda_graph_config max_batch_size to max_batch_size: no admitted batch
    # runs eagerly. The plan counts those graphs' memory and model.yaml lists exactly them.
    from planner import catalog
    from planner.memory.pytorch import cuda_graph_bytes
    from planner.specs import RuntimeProfile, Workload

    p = make_plan("llama-3.1-8b", "h100x1", quant="fp8", kv_cache_dtype="fp8", max_batch_size=batch,
                  max_input_len=1000, max_output_len=200)
    sizes = p.runtime.cuda_graph_batch_sizes
    assert sizes[-len(top):] == top and sizes[:31] == list(range(1, 32))
    assert _yaml(render_all(p))["cuda_graph_config"] == {"batch_sizes": sizes, "max_batch_size": batch,
                                                         "enable_padding": True}
    (s,) = p.memory.per_gpu
    w = p.workload
    workload = Workload(max_batch_size=w.max_batch_size, max_input_len=w.max_input_len,
                        max_output_len=w.max_output_len, max_num_tokens=w.max_num_tokens)
    given = RuntimeProfile(flow="pytorch", cuda_graph_batch_sizes=tuple(sizes))
    assert s.cuda_graph_max_batch == batch
    assert s.cuda_graph_bytes == cuda_graph_bytes(catalog.get_model("llama-3.1-8b"), "fp8", 1, workload, given, True)


def test_moe_model_yaml_has_expert_parallelism():
    args = _yaml(render_all(make_plan("deepseek-v3", "h200x8")))
    assert args["moe_expert_parallel_size"] * args["moe_tensor_parallel_size"] == args["tensor_parallel_size"]
    assert args["model"] == "./hf_model"  # published FP8 weights: served as they are


@pytest.mark.parametrize("model", ["gpt-oss-20b", "gemma-3-27b"])
def test_model_yaml_gives_sliding_layers_the_windows_the_pool_was_sized_with(model):
    """The memory model holds a sliding layer to its window only with a per-layer window vector in
    KvCacheConfig.max_attention_window (VSWA pools); model.yaml must carry the plan's vector."""
    plan = make_plan(model, "h100x8", max_input_len=4096, max_output_len=1024)
    windows = plan.kv_cache.attention_windows
    assert windows and min(windows) < max(windows) == 5120
    assert _yaml(render_all(plan))["kv_cache_config"]["max_attention_window"] == windows
    # full-attention models write no vector
    assert "max_attention_window" not in _yaml(render_all(make_plan("llama-3.1-8b", "h100x1")))["kv_cache_config"]


def test_config_pbtxt_leaves_batching_to_auto_complete():
    text = render_all(make_plan("llama-3.1-8b", "h100x1"))["model_repository/tensorrt_llm/config.pbtxt"]
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    assert "max_batch_size" not in body and "decoupled" not in body and 'backend: "python"' in body


# -- build.sh ------------------------------------------------------------------------------------


def _commands(script: str) -> str:
    return "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))


def test_build_sh_quantizes_with_modelopt_only_when_needed(tmp_path):
    quantized = render_all(make_plan("llama-3.1-8b", "h100x1", quant="fp8", kv_cache_dtype="fp8"))
    sh = quantized["build.sh"]
    assert "examples/llm_ptq/hf_ptq.py" in sh and "--qformat fp8" in sh and "--kv_cache_qformat fp8" in sh
    assert "trtllm-build" not in _commands(sh) and "--extra_llm_api_options llm_api_options.yaml" in sh
    assert "triton_config" not in yaml.safe_load(quantized["llm_api_options.yaml"])
    plain = render_all(make_plan("llama-3.1-8b", "h100x1"))["build.sh"]
    assert "hf_ptq" not in plain and "trtllm-build" not in _commands(plain)
    native = render_all(make_plan("deepseek-v3", "h200x8"))["build.sh"]
    assert "hf_ptq" not in native and "quantization_config" in native
    for name, text in (("q.sh", sh), ("p.sh", plain), ("n.sh", native)):
        (tmp_path / name).write_text(text)
        assert subprocess.run(["bash", "-n", str(tmp_path / name)]).returncode == 0


def test_build_sh_refuses_a_missing_checkpoint(tmp_path):
    write_all(make_plan("llama-3.1-8b", "h100x1"), tmp_path / "out")
    result = subprocess.run(["bash", "build.sh"], cwd=tmp_path / "out", capture_output=True, text=True)
    assert result.returncode == 1 and "config.json" in result.stderr


# -- validation of the llmapi layout ------------------------------------------------------------


@pytest.fixture()
def out(tmp_path):
    write_all(make_plan("llama-3.1-8b", "h100x1", max_batch_size=16), tmp_path / "out")
    return tmp_path / "out"


def _edit_yaml(out, change):
    path = out / "model_repository" / "tensorrt_llm" / "1" / "model.yaml"
    args = yaml.safe_load(path.read_text())
    change(args)
    path.write_text(yaml.safe_dump(args))


def _fields(out):
    return {i.field for i in validate_repository(out / "model_repository")}


def test_generated_llmapi_repository_validates(out):
    assert validate_repository(out / "model_repository") == []


def test_unknown_llm_argument_is_reported(out):
    _edit_yaml(out, lambda a: a.update(tensor_parallelism=2))
    _edit_yaml(out, lambda a: a["kv_cache_config"].update(free_memory_fraction=0.5))
    assert {"tensor_parallelism", "kv_cache_config.free_memory_fraction"} <= _fields(out)


def test_layout_against_the_plan(out):
    _edit_yaml(out, lambda a: a.update(tensor_parallel_size=2))
    _edit_yaml(out, lambda a: a["kv_cache_config"].update(free_gpu_memory_fraction=0.5))
    assert {"tensor_parallel_size", "kv_cache_config.free_gpu_memory_fraction"} <= _fields(out)


def test_triton_config_is_checked_as_auto_complete_applies_it(out):
    _edit_yaml(out, lambda a: a["triton_config"].pop("decoupled"))
    assert "triton_config.decoupled" in _fields(out)


def test_config_pbtxt_conflicting_with_triton_config(out):
    path = out / "model_repository" / "tensorrt_llm" / "config.pbtxt"
    path.write_text(path.read_text().replace('backend: "python"', 'backend: "python"\nmax_batch_size: 8'))
    assert "max_batch_size" in _fields(out)


def test_tensor_the_release_lacks(out):
    path = out / "model_repository" / "tensorrt_llm" / "config.pbtxt"
    path.write_text(path.read_text().replace('name: "sampling_param_top_k"', 'name: "top_k"'))
    assert "input[top_k]" in _fields(out)


def test_plan_json_records_the_flow(out):
    plan = json.loads((out / "plan.json").read_text())
    assert plan["target"]["flow"] == "pytorch" and plan["request"]["flow"] is None  # chosen, not asked for


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_golden_example_validates(name):
    assert validate_repository(EXAMPLES_DIR / name / "model_repository") == []
