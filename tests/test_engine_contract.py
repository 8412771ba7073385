"""Every command build.sh emits parses against the argument parsers of the release it targets.

The parsers are built from the contract data (planner/data/trtllm/contract/<version>/), which
is read from each release's own scripts. Plans pass trtllm_version explicitly: these tests are
about the engine flow whatever the default target becomes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from planner import catalog, tensors
from planner.api import make_plan
from planner.emit.build_script import emit_build_script
from planner.engine_contract import (
    ContractError,
    check_build_script,
    check_commands,
    contract_versions,
    load_contract,
)
from planner.errors import InputError
from planner.quant import WEIGHT_SCHEMES
from planner.target import converter_families

ROOT = Path(__file__).resolve().parents[1]
RELEASES = ("0.19.0", "1.2.1")
KV_CHOICES = (None, "fp8", "int8")  # None: the activation dtype


def _families():
    """The smallest catalog model of each architecture: one per converter."""
    out = {}
    for m in catalog.models():
        if m.architecture not in out or tensors.total_params(m) < tensors.total_params(out[m.architecture]):
            out[m.architecture] = m
    return out


@pytest.fixture(scope="module")
def matrix():
    """Every catalog family x weight scheme x KV cache dtype x release: its build.sh, or the refusal."""
    built, refused = {}, {}
    for version in RELEASES:
        for arch, model in _families().items():
            for weights in WEIGHT_SCHEMES:
                for kv in KV_CHOICES:
                    gpus = "b200x8" if weights == "nvfp4" else "h100x8"  # NVFP4 needs SM 100
                    key = (version, arch, weights, kv)
                    try:
                        plan = make_plan(model.name, gpus=gpus, quant=weights, kv_cache_dtype=kv,
                                         trtllm_version=version, max_batch_size=8, max_input_len=1024,
                                         max_output_len=512, flow="engine")
                    except InputError as exc:
                        refused[key] = exc.message
                        continue
                    text = emit_build_script(plan)["build.sh"]
                    if load_contract(version).converter(arch) is None:
                        # 1.2.1 also has the PyTorch flow, where such a plan goes; build.sh only says so
                        assert "exit 1" in text and "PyTorch flow" in text
                        continue
                    built[key] = text
    return built, refused


def test_every_emitted_command_line_parses_against_its_release(matrix):
    built, refused = matrix
    lines = 0
    for (version, arch, weights, kv), text in built.items():
        parsed = check_build_script(text, load_contract(version))
        assert [key for key, _ in parsed][-1] == "trtllm-build", (version, arch, weights, kv)
        lines += len(parsed)
    # one checkpoint command and one trtllm-build per plan; 7 families have converters
    assert lines == 2 * len(built)
    assert len(built) > 300
    print(f"\ncontract check: {lines} command lines parsed from {len(built)} build.sh files "
          f"({len(refused)} combinations refused with a reason)")


def test_every_refusal_names_the_release_and_a_reason(matrix):
    _, refused = matrix
    without_converter = set()
    for (version, arch, _weights, _kv), message in refused.items():
        assert "\n" not in message
        if load_contract(version).converter(arch) is None:
            if "PyTorch flow" in message and "1.2.1" in message:
                without_converter.add((version, arch))
            continue
        # an engine-flow refusal names the release; the others are the checkpoint's own limits
        assert f"TensorRT-LLM {version}" in message or "contradicts the checkpoint" in message, message
    # on 0.19.0, whose only flow is the engine flow, every family without an engine converter is
    # refused for that reason (deepseek_v3 and the families added after the contract data)
    for arch in _families():
        if load_contract("0.19.0").converter(arch) is None:
            assert ("0.19.0", arch) in without_converter, arch


def test_every_catalog_family_has_a_converter_or_a_reason():
    from planner.engine_rules import no_converter_reason

    for version in contract_versions():
        contract = load_contract(version)
        for spec in catalog.models():
            reason = no_converter_reason(spec, version)
            assert bool(contract.converter(spec.architecture)) != bool(reason), (version, spec.name)
            if reason and spec.architecture not in contract.no_engine_converter:  # a family added later
                assert f"no convert_checkpoint.py for {spec.architecture} is in the planner's contract data" in reason


def test_every_contract_entry_names_its_source():
    for version in RELEASES:
        contract = load_contract(version)
        assert set(contract.scripts) >= {"quantize", "trtllm-build", "launch_triton_server", "convert-llama"}
        for script in contract.scripts.values():
            assert re.fullmatch(r"[0-9a-f]{40}", script.source.commit), script.key
            assert script.source.repository in ("NVIDIA/TensorRT-LLM", "triton-inference-server/tensorrtllm_backend")
            assert script.source.file and script.path_evidence
        assert re.fullmatch(r"[0-9a-f]{40}", contract.builder_sm_refusals.source.commit)


# --- the checker itself fails on what a release would reject -----------------------------------

CONTRACT = load_contract("1.2.1")
GEMMA_OK = 'python3 "$TRTLLM_DIR/examples/models/core/gemma/convert_checkpoint.py" --ckpt-type hf --model-dir m ' \
           '--output-model-dir o --world-size 2'


def test_checker_accepts_a_valid_line():
    assert check_commands(GEMMA_OK, CONTRACT)[0][0] == "convert-gemma"


@pytest.mark.parametrize("line, error", [
    # what main emitted for Gemma: --tp_size/--pp_size/--workers do not exist there
    ('python3 "$TRTLLM_DIR/examples/models/core/gemma/convert_checkpoint.py" --model_dir m --output_dir o '
     '--tp_size 2 --pp_size 1 --workers 2', "unrecognized arguments: --tp_size"),
    (GEMMA_OK.replace("--ckpt-type hf", "--ckpt-type safetensors"), "invalid choice: 'safetensors'"),
    # what main emitted for Qwen GPTQ
    ('python3 "$TRTLLM_DIR/examples/models/core/qwen/convert_checkpoint.py" --model_dir m --output_dir o '
     '--use_weight_only --weight_only_precision int4_gptq --per_group --quant_ckpt_path q',
     "unrecognized arguments: --quant_ckpt_path"),
    ('python3 "$TRTLLM_DIR/examples/models/core/qwen/convert_checkpoint.py" --output_dir o',
     "required: --model_dir"),
    ('python3 "$TRTLLM_DIR/examples/llama/convert_checkpoint.py" --model_dir m', "has no script there"),
    ("trtllm-build --checkpoint_dir c --kv_cache_type pages", "invalid choice: 'pages'"),
    ("trtllm-build --checkpoint_dir c --max_batch_size many", "invalid int value"),
    ('python3 "$TRTLLM_DIR/examples/quantization/quantize.py" --qformat int4_gptq', "invalid choice"),
    # no abbreviations: the planner writes every flag in full
    ("trtllm-build --checkpoint c", "unrecognized arguments: --checkpoint"),
])
def test_checker_rejects_what_the_release_rejects(line, error):
    with pytest.raises(ContractError, match=re.escape(error)):
        check_commands(line, CONTRACT)


def test_probed_paths_must_all_belong_to_the_release():
    text = ('for candidate in "$TRTLLM_DIR/examples/models/core/llama/convert_checkpoint.py" '
            '"$TRTLLM_DIR/examples/llama/convert_checkpoint.py"; do\n  :\ndone\n'
            'python3 "$CONVERT_SCRIPT" --model_dir m\n')
    assert check_commands(text, load_contract("0.19.0"))[0][0] == "convert-llama"
    with pytest.raises(ContractError, match="has no script there"):  # 1.2.1 has only the models/core layout
        check_commands(text, CONTRACT)


# --- build.sh per family (each failed on main) --------------------------------------------------

def _build_sh(model, version, **kw):
    return emit_build_script(make_plan(model, trtllm_version=version, **kw, flow="engine"))["build.sh"]


@pytest.mark.parametrize("version", RELEASES)
def test_gemma_gets_its_own_flags(version):
    text = _build_sh("gemma-2-9b", version, gpus="h100x2", tp=2)
    assert "--ckpt-type hf" in text and "--world-size 2" in text
    assert "--model-dir \"$HF_MODEL_DIR\"" in text and "--output-model-dir \"$CHECKPOINT_DIR\"" in text
    first = text.split("trtllm-build")[0]
    for absent in ("--tp_size", "--pp_size", "--workers"):
        assert absent not in first


@pytest.mark.parametrize("version", RELEASES)
def test_qwen_gptq_reads_the_gptq_checkpoint_as_model_dir(version):
    text = _build_sh("qwen2.5-7b", version, gpus="h100x1", quant="int4_gptq")
    code = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    assert "--quant_ckpt_path" not in code and "GPTQ_CHECKPOINT" not in code
    assert "--weight_only_precision int4_gptq" in text and "--per_group" in text
    assert '"quant_method": *"gptq"' in text  # build.sh checks HF_MODEL_DIR is the GPTQ checkpoint
    llama = _build_sh("llama-3.1-8b", version, gpus="h100x1", quant="int4_gptq")
    assert '--quant_ckpt_path "$GPTQ_CHECKPOINT"' in llama  # LLaMA's converter does take a separate file


def test_0190_probes_both_layouts_and_says_which_it_used():
    text = _build_sh("llama-3.1-8b", "0.19.0", gpus="h100x1")
    assert ('for candidate in "$TRTLLM_DIR/examples/models/core/llama/convert_checkpoint.py" '
            '"$TRTLLM_DIR/examples/llama/convert_checkpoint.py"; do') in text
    assert 'echo "build.sh: using $CONVERT_SCRIPT"' in text
    assert 'python3 "$CONVERT_SCRIPT" \\\n' in text
    falcon = _build_sh("falcon-40b", "0.19.0", gpus="h100x4", max_input_len=1024, max_output_len=512)
    assert '"$TRTLLM_DIR/examples/models/contrib/falcon/convert_checkpoint.py" ' \
           '"$TRTLLM_DIR/examples/falcon/convert_checkpoint.py"' in falcon


def test_121_runs_the_one_established_path():
    text = _build_sh("llama-3.1-8b", "1.2.1", gpus="h100x1")
    assert 'python3 "$TRTLLM_DIR/examples/models/core/llama/convert_checkpoint.py" \\\n' in text
    assert "CONVERT_SCRIPT" not in text


@pytest.mark.skipif(not shutil.which("bash"), reason="needs bash")
@pytest.mark.parametrize("model, version, kw", [
    ("gemma-2-9b", "0.19.0", {"gpus": "h100x2", "tp": 2}),
    ("qwen2.5-7b", "1.2.1", {"gpus": "h100x1", "quant": "int4_gptq"}),
    ("llama-3.1-70b", "0.19.0", {"gpus": "h100x8", "quant": "fp8", "kv_cache_dtype": "fp8"}),
])
def test_emitted_build_sh_is_valid_bash(tmp_path, model, version, kw):
    script = tmp_path / "build.sh"
    script.write_text(_build_sh(model, version, **kw))
    run = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_golden_build_scripts_parse_against_their_release():
    """bash -n and the contract check for every committed example's build.sh."""
    import json

    scripts = sorted((ROOT / "model_repository_examples").glob("*/build.sh"))
    assert scripts
    engine = 0
    for path in scripts:
        plan = json.loads((path.parent / "plan.json").read_text())
        if plan["target"]["flow"] != "engine":
            continue  # the PyTorch flow's build.sh runs no engine-flow script
        engine += 1
        contract = load_contract(plan["target"]["trtllm_version"])
        assert check_build_script(path.read_text(), contract), path
        if shutil.which("bash"):
            run = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
            assert run.returncode == 0, (path, run.stderr)
    assert engine >= 4  # 0.19.0 and 1.2.1 engine-flow examples


def test_121_container_is_verified_from_tritons_matrix():
    from planner.target import load_profile

    container = load_profile("1.2.1").container
    assert container.verified and container.image == "nvcr.io/nvidia/tritonserver:26.04-trtllm-python-py3"
    assert "compatibility.md" in container.source
    readme = emit_readme_for("llama-3.1-8b", "1.2.1")
    assert "mapping not confirmed" not in readme


def emit_readme_for(model, version):
    from planner.emit.readme import emit_readme

    return emit_readme(make_plan(model, gpus="h100x1", trtllm_version=version, flow="engine"))["README.md"]


def test_the_families_index_agrees_with_the_contract():
    # choose_flow reads the index without building the contract; both must name the same families
    for version in contract_versions():
        contract = load_contract(version)
        expected = {f for s in contract.scripts.values() for f in s.families}
        assert converter_families(version) == expected
        assert all(contract.converter(f) is not None for f in expected)
    assert converter_families("0.0.1") is None
