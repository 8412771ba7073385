import pytest

from planner.errors import InputError
from planner.target import DEFAULT_TRTLLM_VERSION, available_versions, check_version, load_profile


def test_versions_available():
    versions = available_versions()
    assert "0.19.0" in versions and "1.2.1" in versions
    assert DEFAULT_TRTLLM_VERSION in versions


def test_unknown_version_lists_available():
    with pytest.raises(InputError) as exc:
        load_profile("0.7.0")
    assert exc.value.exit_code == 2
    assert "0.19.0" in exc.value.message and "1.2.1" in exc.value.message
    with pytest.raises(InputError):
        check_version("9.9.9")


@pytest.mark.parametrize("version", ["0.19.0", "1.2.1"])
def test_profile_contents(version):
    p = load_profile(version)
    assert p.engine_flow
    assert p.container.image.startswith("nvcr.io/nvidia/tritonserver:") and "trtllm-python-py3" in p.container.image
    for flag in ("--checkpoint_dir", "--max_num_tokens", "--tokens_per_block", "--kv_cache_type", "--workers"):
        assert flag in p.build.flags
    assert p.convert_script("llama").endswith("llama/convert_checkpoint.py")
    assert p.convert_script("mixtral") == p.convert_script("llama")
    with pytest.raises(InputError, match="PyTorch"):
        p.convert_script("deepseek_v3")
    trt = p.triton.tensorrt_llm
    assert trt.input("input_ids").data_type == "TYPE_INT32"
    assert not trt.input("input_lengths").optional
    assert "gpt_model_path" in trt.parameters


def test_versions_differ_where_the_backend_changed():
    old, new = load_profile("0.19.0").triton.tensorrt_llm, load_profile("1.2.1").triton.tensorrt_llm
    assert old.input("min_length") and not old.input("min_tokens")
    assert new.input("min_tokens") and not new.input("min_length")
    assert new.output("num_output_tokens") and not old.output("num_output_tokens")
