"""The command line: output formats, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from planner.cli import main


def run(capsys, *argv):
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_plan_json_follows_the_contract(capsys):
    code, out, err = run(capsys, "plan", "llama-3.1-70b", "--gpus", "h100x8", "--format", "json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["schema_version"] == 1
    assert set(plan) >= {"model", "fleet", "quantization", "workload", "target", "fits", "layout", "memory",
                         "kv_cache", "rejected"}
    assert set(plan["model"]) >= {"name", "source", "params"}
    assert plan["fleet"] | {} and {"gpu", "gpus_per_node", "nodes", "total_gpus"} <= set(plan["fleet"])
    assert {"weights", "kv_cache"} <= set(plan["quantization"])
    assert {"max_batch_size", "max_input_len", "max_output_len", "max_seq_len", "max_num_tokens"} <= set(
        plan["workload"])
    assert "trtllm_version" in plan["target"]
    assert {"tp", "pp", "gpus_per_replica", "replicas"} <= set(plan["layout"])
    for stage in plan["memory"]["per_gpu"]:
        for key in ("pp_stage", "layers", "weights_bytes", "kv_cache_bytes", "activation_bytes", "overhead_bytes",
                    "total_bytes", "capacity_bytes"):
            assert isinstance(stage[key], int)
    assert {"bytes_per_token_per_gpu", "max_tokens", "max_concurrent_sequences"} <= set(plan["kv_cache"])
    for r in plan["rejected"]:
        assert set(r) >= {"tp", "pp", "reason"}
    assert plan["fits"] is True


def test_plan_yaml_equals_json(capsys):
    _, out_json, _ = run(capsys, "plan", "llama-3.1-8b", "--gpus", "l40sx1", "--format", "json")
    _, out_yaml, _ = run(capsys, "plan", "llama-3.1-8b", "--gpus", "l40sx1", "--format", "yaml")
    assert yaml.safe_load(out_yaml) == json.loads(out_json)


def test_table_output_names_the_layout(capsys):
    code, out, _ = run(capsys, "plan", "meta-llama/Llama-3.1-8B-Instruct", "--gpus", "L40S", "--max-batch-size", "8")
    assert code == 0
    assert "fits" in out and "TP 1 × PP 1" in out and "Memory per GPU" in out


def test_no_fit_exit_3_still_prints_json(capsys):
    code, out, err = run(capsys, "plan", "llama-3.1-405b", "--gpus", "l4x1", "--format", "json")
    assert code == 3
    assert json.loads(out)["fits"] is False
    assert err.count("\n") == 1 and "does not fit" in err and "short by" in err


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["plan", "llama-3.1-7b"], "did you mean llama-3.1-70b"),
        (["plan", "llama-3.1-8b", "--gpus", "h1000x8"], "unknown GPU 'h1000'"),
        (["plan", "llama-3.1-8b", "--gpus", "h100x0"], "no GPUs"),
        (["plan", "llama-3.1-8b", "--max-batch-size", "0"], "--max-batch-size must be a positive integer"),
        (["plan", "llama-3.1-8b", "--max-input-len", "-5"], "--max-input-len must be a positive integer"),
        (["plan", "llama-3.1-8b", "--max-output-len", "many"], "'many' is not a valid integer"),
        (["plan", "llama-3.1-8b", "--quant", "int3"], "unknown quantization 'int3'"),
        (["plan", "llama-3.1-8b", "--kv-cache-dtype", "fp4"], "unknown KV cache dtype"),
        (["plan", "llama-3.1-8b", "--tp", "16"], "needs 16 GPUs; the fleet has 8"),
        (["plan", "llama-3.1-8b", "--tp", "3", "--pp", "1"], "not divisible by TP 3"),
        (["plan", "llama-3.1-70b", "--tp", "3"], "TP 3 cannot run llama-3.1-70b: 64 attention heads"),
        (["plan", "llama-3.1-8b", "--pp", "40", "--gpus", "5xh100x8"], "PP 40 cannot run llama-3.1-8b"),
        (["plan", "llama-3.1-8b", "--format", "xml"], "'xml' is not one of"),
        (["plan", "llama-3.1-8b", "--max-input-len", "200000"], "exceeds llama-3.1-8b's 131072 positions"),
        (["plan", "llama-3.1-8b", "--kv-cache-free-gpu-mem-fraction", "1.5"], "must be in (0, 1]"),
        (["plan", "--gpus", "h100x8"], "name a model"),
        (["plan", "llama-3.1-8b", "--gpus", "a100x1", "--quant", "fp8"], "cannot run fp8"),
        (["plan", "llama-3.1-8b", "--max-queue-delay-us", "-5"], "-5 is not in the range x>=0"),
        (["plan", "llama-3.1-8b", "--preprocessing-instances", "0"], "0 is not in the range x>=1"),
        (["plan", "llama-3.1-8b", "--image", "bad image"], "--image: 'bad image' is not a container image"),
        (["nonsense"], "No such command"),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2, err
    assert needle in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_fleet_file(tmp_path, capsys):
    good = tmp_path / "fleet.yaml"
    good.write_text("gpu: H100\ngpus_per_node: 8\nnodes: 2\n")
    code, out, _ = run(capsys, "plan", "llama-3.1-405b", "--gpus", str(good), "--format", "json")
    assert code == 0 and json.loads(out)["fleet"]["total_gpus"] == 16
    for text, needle in [("gpu: [unclosed", "not readable YAML"), ("- a\n- b\n", "must be a mapping"),
                         ("gpu: h100\nnodes: -1\n", "nodes"), ("gpu: h100\ncolor: red\n", "color"),
                         ("gpu: tpu-v5\n", "unknown GPU")]:
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        code, _, err = run(capsys, "plan", "llama-3.1-8b", "--gpus", str(bad))
        assert code == 2 and needle in err and err.count("\n") == 1


def test_config_file_sets_options_and_flags_win(tmp_path, capsys):
    cfg = tmp_path / "plan.yaml"
    cfg.write_text("model_name: llama-3.1-8b\ngpus: l40sx2\nmax-batch-size: 4\nquant: fp8\n")
    code, out, _ = run(capsys, "plan", "-c", str(cfg), "--format", "json", "--max-batch-size", "2")
    plan = json.loads(out)
    assert code == 0
    assert plan["fleet"]["gpu"] == "l40s" and plan["quantization"]["weights"] == "fp8"
    assert plan["workload"]["max_batch_size"] == 2
    cfg.write_text("gpus: h100x8\nwhat: 1\n")
    code, _, err = run(capsys, "plan", "-c", str(cfg))
    assert code == 2 and "unknown option 'what'" in err and "did you mean" not in err
    cfg.write_text("gpus: h100x8\nmax_batch: 4\n")
    code, _, err = run(capsys, "plan", "-c", str(cfg))
    assert code == 2 and "unknown option 'max_batch'; did you mean max-batch-size" in err


def test_models_and_gpus_listings(capsys):
    code, out, _ = run(capsys, "models", "--format", "json")
    names = {m["name"] for m in json.loads(out)}
    assert {"llama-3.1-70b", "deepseek-v3", "gpt-j-6b", "mixtral-8x22b"} <= names
    code, out, _ = run(capsys, "gpus", "--format", "json")
    assert {"h100-sxm", "gb200", "t4"} <= {g["name"] for g in json.loads(out)}
    code, out, _ = run(capsys, "gpus")
    assert code == 0 and "h100-sxm" in out


def test_console_script_exit_code_and_no_traceback():
    proc = subprocess.run([sys.executable, "-m", "planner", "plan", "nope-model"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("planner: error: unknown model") and "Traceback" not in proc.stderr
