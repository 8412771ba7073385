"""Local Hugging Face files: config.json, directories, safetensors headers."""

from __future__ import annotations

import json
import struct

import pytest

from planner import catalog, tensors
from planner.api import make_plan
from planner.errors import InputError
from planner.hf_config import ARCHITECTURES, load_local_model, safetensors_params

LLAMA_8B = {
    "model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256, "max_position_embeddings": 131072,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16",
}


def write_safetensors(path, tensors_: dict[str, list[int]], claim_len: int | None = None):
    header = {name: {"dtype": "BF16", "shape": shape, "data_offsets": [0, 0]} for name, shape in tensors_.items()}
    header["__metadata__"] = {"format": "pt"}
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", claim_len if claim_len is not None else len(blob)) + blob)


def test_config_json_matches_catalog(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(LLAMA_8B))
    spec, params = load_local_model(str(tmp_path))
    assert params is None
    assert tensors.total_params(spec) == tensors.total_params(catalog.get_model("llama-3.1-8b"))
    spec2, _ = load_local_model(str(tmp_path / "config.json"))
    assert spec2.num_kv_heads == 8


def test_safetensors_headers_give_exact_params_without_reading_data(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(LLAMA_8B))
    write_safetensors(tmp_path / "model-00001-of-00002.safetensors", {"a": [4096, 4096], "b": [10]})
    write_safetensors(tmp_path / "model-00002-of-00002.safetensors", {"c": [3, 5, 7]})
    index = {"metadata": {"total_size": 0}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                                                         "b": "model-00001-of-00002.safetensors",
                                                         "c": "model-00002-of-00002.safetensors"}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    expected = 4096 * 4096 + 10 + 105
    assert load_local_model(str(tmp_path / "model.safetensors.index.json"))[1] == expected
    assert load_local_model(str(tmp_path))[1] == expected
    assert load_local_model(str(tmp_path / "model-00002-of-00002.safetensors"))[1] == 105


def test_plan_from_local_model(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(LLAMA_8B))
    plan = make_plan(model_path=str(tmp_path), gpus="l40sx1", max_batch_size=4)
    assert plan.fits and plan.model.architecture == "llama"


def test_a_checkpoint_directory_given_as_model_is_read_as_model_path(tmp_path, capsys):
    from planner.cli import main

    (tmp_path / "config.json").write_text(json.dumps(LLAMA_8B))
    by_path = make_plan(str(tmp_path), gpus="l40sx1", max_batch_size=4)
    by_option = make_plan(model_path=str(tmp_path), gpus="l40sx1", max_batch_size=4)
    assert by_path.memory == by_option.memory and by_path.layout == by_option.layout
    with pytest.raises(SystemExit) as exc:
        main(["plan", str(tmp_path), "--gpus", "l40sx1", "--max-batch-size", "4", "--format", "json"])
    assert exc.value.code == 0 and json.loads(capsys.readouterr().out)["fits"]


def test_a_repo_id_the_catalog_lacks_says_it_is_not_a_local_path_either():
    # the catalog knows repo ids by their tail; one it lacks is no local file and cannot be fetched here
    with pytest.raises(InputError, match=r"did you mean llama-3\.1-8b.*nor is it a local path"):
        make_plan("meta-llama/Llama-3.1-8B-Instructt", gpus="l40sx1")
    assert make_plan("meta-llama/Llama-3.1-8B", gpus="h100x1").model.name == "llama-3.1-8b"


@pytest.mark.parametrize(
    "model_type,extra",
    [
        ("mixtral", {"num_local_experts": 8, "num_experts_per_tok": 2}),
        ("qwen2", {}),
        ("qwen2_moe", {"num_experts": 60, "num_experts_per_tok": 4, "moe_intermediate_size": 1408,
                       "shared_expert_intermediate_size": 5632}),
        ("gemma", {"head_dim": 256}),
        ("gemma2", {"head_dim": 256}),
        ("phi3", {}),
        ("mistral", {}),
    ],
)
def test_supported_model_types(tmp_path, model_type, extra):
    (tmp_path / "config.json").write_text(json.dumps({**LLAMA_8B, "model_type": model_type, **extra}))
    spec, _ = load_local_model(str(tmp_path))
    assert spec.architecture == model_type


def test_falcon_gptj_deepseek(tmp_path):
    falcon = {"model_type": "falcon", "hidden_size": 8192, "num_hidden_layers": 60, "num_attention_heads": 128,
              "num_kv_heads": 8, "new_decoder_architecture": True, "vocab_size": 65024, "bias": False}
    (tmp_path / "config.json").write_text(json.dumps(falcon))
    spec, _ = load_local_model(str(tmp_path))
    assert tensors.total_params(spec) == tensors.total_params(catalog.get_model("falcon-40b"))
    gptj = {"model_type": "gptj", "n_embd": 4096, "n_layer": 28, "n_head": 16, "vocab_size": 50400,
            "n_positions": 2048, "rotary_dim": 64}
    (tmp_path / "config.json").write_text(json.dumps(gptj))
    spec, _ = load_local_model(str(tmp_path))
    assert tensors.total_params(spec) == tensors.total_params(catalog.get_model("gpt-j-6b"))
    ds = {"model_type": "deepseek_v3", "hidden_size": 7168, "intermediate_size": 18432, "num_hidden_layers": 61,
          "num_attention_heads": 128, "num_key_value_heads": 128, "vocab_size": 129280,
          "max_position_embeddings": 163840, "q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 128,
          "qk_rope_head_dim": 64, "v_head_dim": 128, "n_routed_experts": 256, "num_experts_per_tok": 8,
          "moe_intermediate_size": 2048, "n_shared_experts": 1, "first_k_dense_replace": 3,
          "topk_method": "noaux_tc", "num_nextn_predict_layers": 1}
    (tmp_path / "config.json").write_text(json.dumps(ds))
    spec, _ = load_local_model(str(tmp_path))
    assert tensors.total_params(spec) == 671_026_419_200


@pytest.mark.parametrize(
    "content,needle",
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "must be a JSON object"),
        (json.dumps({"model_type": "bert"}), "unsupported model_type 'bert'; supported: deepseek_v2"),
        (json.dumps({**LLAMA_8B, "num_hidden_layers": -3}), "num_layers"),
        (json.dumps({**LLAMA_8B, "num_key_value_heads": 7}), "multiple of"),
        (json.dumps({k: v for k, v in LLAMA_8B.items() if k != "hidden_size"}), "lacks hidden_size"),
        (json.dumps({**LLAMA_8B, "hidden_size": "big"}), "hidden_size"),
        # sizes no model has would make the planner spin for hours: refused up front
        (json.dumps({**LLAMA_8B, "num_hidden_layers": 10**9}), "num_layers: Input should be less than or equal"),
        (json.dumps({**LLAMA_8B, "vocab_size": 10**12}), "vocab_size: Input should be less than or equal"),
    ],
)
def test_malformed_config(tmp_path, content, needle):
    (tmp_path / "config.json").write_text(content)
    with pytest.raises(InputError, match=None) as exc:
        load_local_model(str(tmp_path))
    assert needle in exc.value.message


def test_hostile_safetensors(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(LLAMA_8B))
    bad = tmp_path / "model.safetensors"
    write_safetensors(bad, {"a": [1]}, claim_len=1 << 60)
    with pytest.raises(InputError, match="header length"):
        load_local_model(str(bad))
    bad.write_bytes(b"abc")
    with pytest.raises(InputError, match="shorter than 8 bytes"):
        safetensors_params([bad])
    bad.write_bytes(struct.pack("<Q", 5) + b"\xff\xfe{{{")
    with pytest.raises(InputError, match="not valid JSON"):
        safetensors_params([bad])
    write_safetensors(bad, {"a": [-1, 4]})
    with pytest.raises(InputError, match="malformed shape"):
        safetensors_params([bad])
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": "../../etc/passwd"}}))
    with pytest.raises(InputError, match="outside its directory"):
        load_local_model(str(tmp_path / "model.safetensors.index.json"))


def test_missing_paths(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_local_model(str(tmp_path / "nope"))
    with pytest.raises(InputError, match="no config.json"):
        load_local_model(str(tmp_path))


def test_every_required_model_type_is_supported():
    required = {"llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "gemma", "gemma2", "phi3", "falcon", "gptj",
                "deepseek_v3"}
    assert required <= set(ARCHITECTURES)
