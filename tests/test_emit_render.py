import shutil
import subprocess

import pytest
from _emit_helpers import HOSTILE, plan
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from planner import catalog
from planner.emit import render_all
from planner.errors import InputError
from planner.serving import ServingInfo
from planner.validate import validate_repository


def _parse(text: str):
    return text_format.Parse(text, model_config_pb2.ModelConfig())


def test_files_and_determinism():
    a = render_all(plan())
    b = render_all(plan())
    assert a == b
    assert {"build.sh", "README.md", "plan.json", "model_repository/tensorrt_llm/config.pbtxt",
            "model_repository/ensemble/config.pbtxt", "model_repository/preprocessing/1/model.py",
            "model_repository/postprocessing/1/model.py", "model_repository/tensorrt_llm/1/.gitkeep"} <= set(a)


def test_trtllm_config_reads_the_plan():
    p = plan()
    cfg = _parse(render_all(p)["model_repository/tensorrt_llm/config.pbtxt"])
    assert cfg.backend == "tensorrtllm" and cfg.max_batch_size == p.workload.max_batch_size
    params = {k: v.string_value for k, v in cfg.parameters.items()}
    assert params["gpt_model_path"] == p.serving.engine_dir
    assert float(params["kv_cache_free_gpu_mem_fraction"]) == p.runtime.kv_cache_free_gpu_mem_fraction
    assert params["max_beam_width"] == str(p.workload.max_beam_width)


def test_engine_flow_chunks_prompts_as_the_performance_model_does():
    """A prompt longer than max_num_tokens is only scheduled in chunks: the tensorrt_llm model turns chunked
    context on (the backend's default is off), on engines built with the paged context FMHA it needs."""
    p = plan(max_input_len=4096, max_num_tokens=1024)
    files = render_all(p)
    cfg = _parse(files["model_repository/tensorrt_llm/config.pbtxt"])
    params = {k: v.string_value for k, v in cfg.parameters.items()}
    assert params["enable_chunked_context"] == "true"
    assert "--use_paged_context_fmha enable" in files["build.sh"]
    assert p.performance.ttft_ms > 0  # the plan times the prompt's four chunks


def test_build_script_flags():
    p = plan("llama-3.1-70b", "h100x8", quant="fp8", kv_cache_dtype="fp8")
    sh = render_all(p)["build.sh"]
    assert "quantize.py" in sh and "--qformat fp8" in sh and "--kv_cache_dtype fp8" in sh
    assert f"--tp_size {p.layout.tp}" in sh and f"--pp_size {p.layout.pp}" in sh
    assert f"--max_num_tokens {p.workload.max_num_tokens}" in sh
    assert f"--tokens_per_block {p.runtime.tokens_per_block}" in sh
    assert "--use_fp8_context_fmha enable" in sh
    assert sh.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in sh


def test_unsupported_architecture_fails_clearly():
    # the engine flow has no converter for DeepSeek-V3: asking for it is bad input naming the PyTorch flow
    with pytest.raises(InputError, match="PyTorch flow") as exc:
        plan("deepseek-v3", "2xh100x8", flow="engine")
    assert exc.value.exit_code == 2
    # a plan.json for such a family, made elsewhere, still renders a build.sh that stops.
    p = plan("llama-3.1-8b", "h100x1", trtllm_version="0.19.0")
    model = p.model.model_copy(update={"name": "deepseek-v3", "architecture": "deepseek_v3"})
    p = p.model_copy(update={"model": model})
    files = render_all(p)
    assert "exit 1" in files["build.sh"] and "PyTorch" in files["build.sh"]
    assert "cannot be built" in files["README.md"]


@pytest.mark.parametrize("version", ["0.19.0", "1.2.1"])
def test_versions_render_and_validate(tmp_path, version):
    from planner.emit import write_all

    p = plan(trtllm_version=version)
    write_all(p, tmp_path / "out")
    assert validate_repository(tmp_path / "out" / "model_repository") == []
    ens = (tmp_path / "out/model_repository/ensemble/config.pbtxt").read_text()
    assert ("min_tokens" in ens) == (version == "1.2.1")


def test_hostile_strings_neither_break_nor_inject(tmp_path):
    serving = ServingInfo(engine_dir=HOSTILE, tokenizer_dir=HOSTILE, hf_model_dir=HOSTILE, checkpoint_dir=HOSTILE)
    p = plan(serving=serving)
    p = p.model_copy(update={"model": p.model.model_copy(update={"name": HOSTILE})})
    files = render_all(p)
    for path, text in files.items():
        if path.endswith(".pbtxt"):
            cfg = _parse(text)
            assert cfg.name != "pwn"
            for v in cfg.parameters.values():
                if v.string_value.startswith("evil"):
                    assert v.string_value == HOSTILE  # round-trips exactly
    trt = _parse(files["model_repository/tensorrt_llm/config.pbtxt"])
    assert trt.parameters["gpt_model_path"].string_value == HOSTILE
    script = tmp_path / "build.sh"
    script.write_text(files["build.sh"])
    if shutil.which("bash"):
        subprocess.run(["bash", "-n", str(script)], check=True)
        # the default assignments expand to the hostile string itself, not to a command
        # (the block of assignments after `set -euo pipefail`, up to the first blank line)
        probe = files["build.sh"].split("set -euo pipefail\n\n", 1)[1].split("\n\n", 1)[0] + "\n"
        out = subprocess.run(["bash", "-c", probe + 'printf %s "$ENGINE_DIR"'], capture_output=True, text=True,
                             check=True, env={"PATH": "/usr/bin:/bin"})
        assert out.stdout == HOSTILE


def test_bls_model_is_emitted_with_its_code():
    from planner.triton_models import model_file

    files = render_all(plan(serving=ServingInfo(bls=True, decoupled=True)))
    assert files["model_repository/tensorrt_llm_bls/1/model.py"] == model_file("tensorrt_llm_bls").read_text()
    config = _parse(files["model_repository/tensorrt_llm_bls/config.pbtxt"])
    assert config.backend == "python" and config.model_transaction_policy.decoupled
    assert config.parameters["tensorrt_llm_model_name"].string_value == "tensorrt_llm"


def test_missing_python_model_code_is_an_error(monkeypatch, tmp_path):
    from planner.emit import model_repo
    from planner.errors import PlannerError

    monkeypatch.setattr(model_repo, "TRITON_MODELS_DIR", tmp_path)
    with pytest.raises(PlannerError, match="preprocessing/model.py is missing"):
        render_all(plan())


FLEETS = ["h100x8", "2xh100x8", "a100-80gbx8"]


@pytest.mark.parametrize("fleet", FLEETS)
def test_every_catalog_model_renders_parseable_configs(fleet):
    for spec in catalog.models():
        for flow in ("engine", "pytorch"):
            # short prompts so every model's context window holds the workload
            try:
                p = plan(spec.name, fleet, max_input_len=1024, max_output_len=256, flow=flow)
            except InputError:  # a family the flow cannot run
                continue
            if p.layout is None:
                continue
            for path, text in render_all(p).items():
                if path.endswith("config.pbtxt"):
                    _parse(text)


def test_serving_choices_reach_the_configs():
    serving = ServingInfo(preprocessing_instances=4, postprocessing_instances=2, max_queue_delay_microseconds=100)
    files = render_all(plan(serving=serving))
    pre = _parse(files["model_repository/preprocessing/config.pbtxt"])
    post = _parse(files["model_repository/postprocessing/config.pbtxt"])
    trt = _parse(files["model_repository/tensorrt_llm/config.pbtxt"])
    assert pre.instance_group[0].count == 4 and post.instance_group[0].count == 2
    assert trt.dynamic_batching.max_queue_delay_microseconds == 100


def test_pre_and_postprocessing_batch_dynamically_as_the_release_templates():
    # tensorrtllm_backend v0.19.0 all_models/inflight_batcher_llm: preprocessing has dynamic_batching with
    # preferred_batch_size [max_batch_size] and the queue delay; postprocessing has dynamic_batching {}.
    serving = ServingInfo(max_queue_delay_microseconds=250, bls=True)
    files = render_all(plan(serving=serving, max_batch_size=48))
    pre = _parse(files["model_repository/preprocessing/config.pbtxt"])
    post = _parse(files["model_repository/postprocessing/config.pbtxt"])
    bls = _parse(files["model_repository/tensorrt_llm_bls/config.pbtxt"])
    assert pre.HasField("dynamic_batching") and list(pre.dynamic_batching.preferred_batch_size) == [48]
    assert pre.dynamic_batching.max_queue_delay_microseconds == 250
    assert post.HasField("dynamic_batching") and not post.dynamic_batching.preferred_batch_size
    assert not bls.HasField("dynamic_batching")  # NVIDIA's tensorrt_llm_bls has none either
