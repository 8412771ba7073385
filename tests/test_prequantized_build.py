"""build.sh of a plan from a pre-quantized checkpoint accepts the checkpoint as it is published."""

from __future__ import annotations

import json
import subprocess

from planner.api import make_plan
from planner.emit import write_all

LLAMA_8B = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
    "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "tie_word_embeddings": False,
    "torch_dtype": "bfloat16", "rope_theta": 500000,
}
# A ModelOpt export that records its scheme in hf_quant_config.json only (config.json has no quantization_config)
MODELOPT_FP8 = {"producer": {"name": "modelopt", "version": "0.19.0"},
                "quantization": {"quant_algo": "FP8", "kv_cache_quant_algo": "FP8", "exclude_modules": ["lm_head"]}}


def _checkpoint(path, quant_config: bool):
    path.mkdir()
    (path / "config.json").write_text(json.dumps(LLAMA_8B))
    if quant_config:
        (path / "hf_quant_config.json").write_text(json.dumps(MODELOPT_FP8))
    (path / "model.safetensors").write_bytes(b"")
    return path


def _build(out, hf_dir):
    return subprocess.run(["bash", "build.sh"], cwd=out, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "HF_MODEL_DIR": str(hf_dir)})


def test_modelopt_checkpoint_with_hf_quant_config_only_passes_the_check(tmp_path):
    ckpt = _checkpoint(tmp_path / "ckpt", quant_config=True)
    plan = make_plan(model_path=str(ckpt), gpus="h100x1")
    assert plan.quantization.weights == "fp8" and plan.quantization.checkpoint
    write_all(plan, tmp_path / "out")
    result = _build(tmp_path / "out", ckpt)
    assert result.returncode == 0, result.stderr
    assert "is ready" in result.stdout


def test_the_check_still_refuses_an_unquantized_checkpoint(tmp_path):
    ckpt = _checkpoint(tmp_path / "ckpt", quant_config=True)
    write_all(make_plan(model_path=str(ckpt), gpus="h100x1"), tmp_path / "out")
    plain = _checkpoint(tmp_path / "plain", quant_config=False)
    result = _build(tmp_path / "out", plain)
    assert result.returncode == 1 and "fp8" in result.stderr
