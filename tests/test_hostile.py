"""Hostile input, one test per case: every bad input is one line and exit 2, nothing of the user's is
deleted, nothing hangs. Cases that need signals, races or a FIFO run `planner` as a subprocess with a
timeout (a hang fails the test instead of the suite); the rest run in-process."""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import socket
import struct
import subprocess
from pathlib import Path

import pytest
from _hostile_helpers import PLANNER, SMALL, dripping_server, one_line_error, run, run_process, snapshot

from planner.cli import MAX_ERROR_CHARS
from planner.emit.writer import MARKER, Interrupted, _signals_held, write_all

REPO = Path(__file__).resolve().parents[1]
LLAMA_CONFIG = {"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32, "num_hidden_layers": 32,
                "num_key_value_heads": 8, "vocab_size": 32000, "intermediate_size": 14336,
                "max_position_embeddings": 8192}
MIXTRAL_CONFIG = {**LLAMA_CONFIG, "model_type": "mixtral", "num_local_experts": 8, "num_experts_per_tok": 2}


def model_dir(tmp_path: Path, config: dict | str, name: str = "m") -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))
    return d


def safetensors(path: Path, header: bytes) -> None:
    path.write_bytes(struct.pack("<Q", len(header)) + header)


def planner_output(tmp_path: Path, name: str = "out") -> Path:
    out = tmp_path / name
    assert run(*SMALL, "--out", out).code == 0
    return out


# -- data loss and races ---------------------------------------------------------------------------


def test_force_does_not_replace_a_git_checkout(tmp_path):
    repo = tmp_path / "myrepo"
    (repo / ".git").mkdir(parents=True)
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (repo / "src.py").write_text("print('mine')\n")
    before = snapshot(repo)
    line = one_line_error(run(*SMALL, "--out", repo, "--force"))
    assert "not written by `planner plan --out`" in line
    assert snapshot(repo) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["myrepo"]


def test_force_does_not_delete_files_added_to_a_planner_output(tmp_path):
    out = planner_output(tmp_path)
    engine = out / "engines" / "rank0.engine"
    engine.parent.mkdir()
    engine.write_bytes(b"built for hours")
    line = one_line_error(run(*SMALL, "--out", out, "--force"))
    assert "engines/" in line and "will not delete" in line
    assert engine.read_bytes() == b"built for hours"


def test_force_refuses_a_forged_marker_next_to_user_files(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / MARKER).write_text("anything\n")
    (out / "plan.json").write_text("{}")
    (out / "thesis.tex").write_text("years of work")
    one_line_error(run(*SMALL, "--out", out, "--force"))
    assert (out / "thesis.tex").read_text() == "years of work"


def test_force_replaces_the_planners_own_output(tmp_path):
    out = planner_output(tmp_path)
    assert run("plan", "llama-3.1-8b", "--gpus", "l40sx2", "--out", out, "--force").code == 0
    assert json.loads((out / "plan.json").read_text())["fleet"]["total_gpus"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_symlinked_out_stays_a_symlink(tmp_path):
    target = tmp_path / "real"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target, target_is_directory=True)
    assert run(*SMALL, "--out", link).code == 0
    assert run("plan", "llama-3.1-8b", "--gpus", "l40sx2", "--out", link, "--force").code == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert (target / "plan.json").is_file() and (target / MARKER).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]  # no .link.old-PID left behind


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path):
    out = tmp_path / "out"
    with open(tmp_path / ".out.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        line = one_line_error(run(*SMALL, "--out", out))
    assert "another `planner plan` is writing" in line
    assert not out.exists()


def test_concurrent_writers_to_one_directory_give_exactly_one_winner(tmp_path):
    for trial in range(3):
        out = tmp_path / f"out{trial}"
        args = [*[str(a) for a in SMALL], "--out", str(out), "--format", "json"]
        procs = [subprocess.Popen([*PLANNER, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        codes = sorted(p.wait(timeout=120) for p in procs)
        errors = [p.stderr.read() for p in procs]
        assert codes == [0, 2], errors
        assert all("Traceback" not in e for e in errors)
        assert json.loads((out / "plan.json").read_text())["fleet"]["gpu"] == "l40s"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out0", "out1", "out2"]


def test_ctrl_c_exits_130_with_one_line():
    # The interrupt must land while the command works, however fast the machine: smoke waits on a server
    # that accepts the connection and never answers, and the signal goes once that connection is open.
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(60)
    proc = subprocess.Popen([*PLANNER, "smoke", "--url", f"127.0.0.1:{srv.getsockname()[1]}", "--protocol", "http",
                             "--timeout", "60", "--deadline", "120"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        conn, _ = srv.accept()
        with conn:
            proc.send_signal(signal.SIGINT)
            err = proc.communicate(timeout=60)[1]
    finally:
        srv.close()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["planner: error: interrupted"]


class _InterruptedMapping(dict):
    """Rendered files whose fourth file is never produced: Ctrl-C lands while the tree is written."""

    def __iter__(self):
        for i, key in enumerate(super().__iter__()):
            if i == 3:
                raise KeyboardInterrupt
            yield key

    def keys(self):
        return list(iter(self))


def test_an_interrupt_while_writing_changes_nothing(tmp_path):
    out = tmp_path / "out"
    write_all({"plan.json": "{}", "a.txt": "old"}, out)
    before = snapshot(out)
    files = _InterruptedMapping({f"f{i}.txt": "new" for i in range(10)} | {"plan.json": "{}"})
    with pytest.raises(Interrupted, match="nothing was changed") as caught:
        write_all(files, out, force=True)
    assert caught.value.exit_code == 130
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_an_interrupt_during_the_swap_waits_until_it_is_complete():
    reached_end = False
    with pytest.raises(KeyboardInterrupt), _signals_held():
        signal.raise_signal(signal.SIGINT)
        reached_end = True  # the block runs to its end: the swap is never cut in half
    assert reached_end


# -- hangs and unbounded work ----------------------------------------------------------------------


def test_smoke_timeout_bounds_a_server_that_drips_bytes():
    with dripping_server() as port:
        result = run_process("smoke", "--url", f"127.0.0.1:{port}", "--protocol", "http", "--timeout", "1",
                             "--requests", "1", "--format", "json", timeout=60)
    assert result.code == 4 and result.seconds < 10, result.seconds
    assert "no complete answer within 1s" in json.loads(result.out)["error"]


def test_smoke_overall_deadline_ends_the_run():
    with dripping_server() as port:
        result = run_process("smoke", "--url", f"127.0.0.1:{port}", "--protocol", "http", "--timeout", "30",
                             "--deadline", "1", "--format", "json", timeout=60)
    assert result.code == 4 and result.seconds < 10, result.seconds
    assert "overall deadline of 1s" in json.loads(result.out)["error"]


def test_a_fifo_named_model_safetensors_is_refused(tmp_path):
    d = model_dir(tmp_path, LLAMA_CONFIG)
    os.mkfifo(d / "model.safetensors")
    line = one_line_error(run_process("plan", "--model", d, "--gpus", "h100", timeout=60))
    assert "not a regular file" in line


def test_a_fifo_named_config_pbtxt_is_refused(tmp_path):
    out = planner_output(tmp_path)
    config = out / "model_repository" / "ensemble" / "config.pbtxt"
    config.unlink()
    os.mkfifo(config)
    result = run_process("validate", out, timeout=60)
    assert result.code == 2 and "not a regular file" in result.out and "Traceback" not in result.err


@pytest.mark.parametrize("fleet", ["h100x10000000", "99999xh100x99999", "100001xh100x8"])
def test_fleet_sizes_are_bounded(fleet):
    result = run_process("plan", "llama-3.1-8b", "--gpus", fleet, timeout=60)
    assert "more than the planner handles" in one_line_error(result)
    assert result.seconds < 10


@pytest.mark.parametrize("text", ["gpu: h100\ngpus_per_node: 99999999\n",
                                  "gpu: l4\ngpus_per_node: 8\nnodes: 1000\ntp_across_nodes: true\n"])
def test_fleet_files_are_bounded(tmp_path, text):
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(text)
    result = run_process("plan", "llama-3.1-8b", "--gpus", fleet, timeout=60)
    one_line_error(result)
    assert result.seconds < 10


def test_yaml_aliases_in_an_option_file_are_refused(tmp_path):
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 5)]
    cfg = tmp_path / "plan.yaml"
    cfg.write_text("\n".join(levels) + "\nhf_model_dir: *a4\n")
    result = run("plan", "-c", cfg)
    assert "anchor" in one_line_error(result)
    assert result.seconds < 5


def test_an_error_line_is_capped_whatever_the_input(tmp_path):
    line = one_line_error(run("plan", "llama-3.1-8b", "--gpus", "h100", "--quant", "x" * 100_000))
    assert len(line) <= len("planner: error: ") + MAX_ERROR_CHARS


def test_check_against_the_root_directory_does_not_walk_the_filesystem():
    result = run_process(*SMALL, "--out", "/", "--check", timeout=60)
    assert "no plan.json" in one_line_error(result)


# -- exit 1 ("a bug") on bad input -----------------------------------------------------------------


@pytest.mark.parametrize("option", ["--gpus", "--model"])
def test_names_longer_than_the_os_allows(option):
    one_line_error(run("plan", *(["llama-3.1-8b"] if option == "--gpus" else []), option, "h100x" + "9" * 5000))
    one_line_error(run("plan", *(["llama-3.1-8b"] if option == "--gpus" else []), option, "a/" * 3000))


def test_a_5000_digit_integer_in_config_json(tmp_path):
    d = model_dir(tmp_path, json.dumps(LLAMA_CONFIG).replace('"vocab_size": 32000', '"vocab_size": ' + "9" * 5000))
    assert "5000 digits" in one_line_error(run("plan", "--model", d, "--gpus", "h100"))


def test_a_5000_digit_integer_in_a_safetensors_header(tmp_path):
    d = model_dir(tmp_path, LLAMA_CONFIG)
    safetensors(d / "model.safetensors",
                b'{"w": {"dtype": "F16", "shape": [' + b"9" * 5000 + b'], "data_offsets": [0, 0]}}')
    assert "5000 digits" in one_line_error(run("plan", "--model", d, "--gpus", "h100"))


def test_json_nested_100000_deep_in_config_json(tmp_path):
    d = model_dir(tmp_path, "[" * 100_000 + "]" * 100_000)
    assert "nested too deeply" in one_line_error(run("plan", "--model", d, "--gpus", "h100"))


def test_json_nested_100000_deep_in_a_safetensors_header(tmp_path):
    d = model_dir(tmp_path, LLAMA_CONFIG)
    safetensors(d / "model.safetensors", b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    assert "nested too deeply" in one_line_error(run("plan", "--model", d, "--gpus", "h100"))


@pytest.mark.parametrize("command", ["smoke", "rehearse", "diff"])
def test_json_nested_100000_deep_in_plan_json(tmp_path, command):
    (tmp_path / "plan.json").write_text('{"schema_version": 1, "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    args = {"smoke": ["smoke", "--url", "127.0.0.1:1", "--plan", tmp_path / "plan.json"],
            "rehearse": ["rehearse", tmp_path], "diff": ["diff", tmp_path]}[command]
    assert "nested too deeply" in one_line_error(run(*args))


def test_model_type_that_is_a_list(tmp_path):
    d = model_dir(tmp_path, {**LLAMA_CONFIG, "model_type": ["llama"]})
    assert "model_type must be a string" in one_line_error(run("plan", "--model", d, "--gpus", "h100"))


@pytest.mark.parametrize(("serving", "needle"), [('"x"', "serving must be a mapping"),
                                                  ('{"tokenizer_dir": ["x"]}', "tokenizer_dir must be a string")])
def test_plan_json_with_fields_of_the_wrong_type(tmp_path, serving, needle):
    (tmp_path / "plan.json").write_text('{"schema_version": 1, "serving": ' + serving + "}")
    (tmp_path / "model_repository").mkdir()
    assert needle in one_line_error(run("rehearse", tmp_path))
    assert needle in one_line_error(run("smoke", "--url", "127.0.0.1:1", "--plan", tmp_path / "plan.json"))


def test_a_full_device_on_stdout_is_exit_74():
    with open("/dev/full", "w") as full:
        done = subprocess.run([*PLANNER, *SMALL, "--format", "json"], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    assert done.returncode == 74, done.stderr
    assert done.stderr.strip().splitlines() == ["planner: error: cannot write the output: No space left on device"]


@pytest.mark.parametrize(("fleet", "fmt", "code"), [("l4", "json", 3), ("l4", "table", 3), ("2xh100x8", "table", 0)])
def test_a_closed_pipe_keeps_the_exit_code(fleet, fmt, code):
    proc = subprocess.Popen([*PLANNER, "plan", "llama-3.1-405b", "--gpus", fleet,
                             "--format", fmt], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader goes away before the plan is printed, as `| head -c 20` may
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == code, err
    assert "Traceback" not in err and "error" not in err


# -- accepted nonsense -----------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["--tokens-per-block", "99999999"], ["--tokens-per-block", "48"],
                                  ["--max-batch-size", str(10**32)], ["--max-num-tokens", str(2**40)],
                                  ["--max-beam-width", str(2**40)]])
def test_workload_nonsense_is_refused(args):
    one_line_error(run("plan", "llama-3.1-8b", "--gpus", "h100", *args))


@pytest.mark.parametrize(("change", "needle"), [
    ({"tie_word_embeddings": "false"}, "tie_word_embeddings must be true or false"),
    ({"num_key_value_heads": 0}, "num_key_value_heads must be at least 1"),
    ({"head_dim": -128}, "head_dim must be at least 1"),
])
def test_config_json_nonsense_is_refused(tmp_path, change, needle):
    d = model_dir(tmp_path, {**LLAMA_CONFIG, **change})
    assert needle in one_line_error(run("plan", "--model", d, "--gpus", "h100"))


def test_moe_top_k_above_the_expert_count_is_refused(tmp_path):
    d = model_dir(tmp_path, {**MIXTRAL_CONFIG, "num_experts_per_tok": 9})
    assert "top_k (9) exceeds num_experts (8)" in one_line_error(run("plan", "--model", d, "--gpus", "h100x8"))


@pytest.mark.parametrize(("text", "needle"), [("tp: 4.9\n", "tp must be an integer, got 4.9"),
                                              ("max_batch_size: true\n", "max-batch-size must be an integer"),
                                              ("streaming: 'yes'\n", "streaming must be true or false"),
                                              ("gpus: 8\n", "gpus must be a string")])
def test_option_file_values_must_have_the_options_type(tmp_path, text, needle):
    cfg = tmp_path / "plan.yaml"
    cfg.write_text("model: llama-3.1-8b\n" + text)
    line = one_line_error(run("plan", "-c", cfg))
    assert needle in line and "config file" in line and "Invalid value" not in line


def test_smoke_refuses_a_port_outside_the_tcp_range():
    assert "port 99999 is outside 1-65535" in one_line_error(run("smoke", "--url", "127.0.0.1:99999"))


def test_an_empty_out_is_refused():
    assert "--out needs a directory name" in one_line_error(run(*SMALL, "--out", ""))


# -- diff and validate -----------------------------------------------------------------------------


def test_diff_sees_deleted_version_directories_and_stray_files(tmp_path):
    out = planner_output(tmp_path)
    for version in (out / "model_repository").glob("*/1"):
        for f in version.iterdir():
            f.unlink()
        version.rmdir()
    (out / "model_repository" / "stray").write_text("")
    result = run("diff", out)
    assert result.code == 5
    assert "b/model_repository/ensemble/1/.gitkeep" in result.out and "model_repository/stray" in result.out


def test_diff_ignores_built_engines_and_reads_no_large_file(tmp_path):
    out = planner_output(tmp_path)
    engine = out / "engines" / "rank0.engine"
    engine.parent.mkdir()
    with open(engine, "wb") as f:
        f.truncate(300 * 1024 * 1024)  # sparse: 300 MB the diff must not read
    result = run("diff", out)
    assert result.code == 0, result.err
    big = out / "model_repository" / "tensorrt_llm" / "config.pbtxt"
    with open(big, "ab") as f:
        f.truncate(300 * 1024 * 1024)
    result = run("diff", out)
    assert result.code == 5 and result.seconds < 20 and len(result.out) < 10_000


def test_validate_refuses_an_empty_ensemble_config(tmp_path):
    out = planner_output(tmp_path)
    (out / "model_repository" / "ensemble" / "config.pbtxt").write_text("")
    result = run("validate", out)
    assert result.code == 2 and "neither is set" in result.out


def test_validate_refuses_preferred_batch_sizes_above_max_batch_size(tmp_path):
    out = planner_output(tmp_path)
    config = out / "model_repository" / "preprocessing" / "config.pbtxt"
    # preprocessing batches dynamically (as the release's template does): make its preferred sizes hostile
    text = config.read_text()
    assert "preferred_batch_size: [" in text
    config.write_text(re.sub(r"preferred_batch_size: \[ \d+ \]", "preferred_batch_size: [ 4, 100000 ]", text))
    result = run("validate", out)
    assert result.code == 2 and "100000 exceeds max_batch_size" in result.out


def test_validate_refuses_ensemble_instance_groups_and_cpu_groups_with_gpus(tmp_path):
    out = planner_output(tmp_path)
    ensemble = out / "model_repository" / "ensemble" / "config.pbtxt"
    ensemble.write_text(ensemble.read_text() + "\ninstance_group [ { kind: KIND_CPU } ]\n")
    pre = out / "model_repository" / "preprocessing" / "config.pbtxt"
    pre.write_text(pre.read_text().replace("kind: KIND_CPU", "kind: KIND_CPU\n    gpus: [ 0 ]", 1))
    result = run("validate", out)
    assert result.code == 2
    assert "must not be set for an ensemble" in result.out and "must not name GPUs" in result.out


# -- friction --------------------------------------------------------------------------------------


def test_option_files_take_the_names_help_shows(tmp_path):
    cfg = tmp_path / "plan.yaml"
    cfg.write_text("model: llama-3.1-8b\ngpus: l40sx2\nstreaming: true\nmax-queue-delay-us: 100\nformat: json\n")
    result = run("plan", "-c", cfg)
    assert result.code == 0, result.err
    plan = json.loads(result.out)
    assert plan["serving"]["decoupled"] is True and plan["serving"]["max_queue_delay_microseconds"] == 100
    assert plan["fleet"]["total_gpus"] == 2


def test_the_install_hint_names_the_projects_install_line():
    from planner.live.server import INSTALL_HINT

    assert "pip install -e '.[live]'" in INSTALL_HINT and "planner[live]" not in INSTALL_HINT


def test_a_failed_rehearsal_keeps_its_server_log(tmp_path):
    from planner.live.rehearse import SERVER_DIR, _keep_log
    from planner.live.report import SmokeReport
    from planner.live.server import LOG_NAME

    log = tmp_path / SERVER_DIR / LOG_NAME
    log.parent.mkdir()
    log.write_text("E1127 model load failed\n")
    report = SmokeReport(url="x", protocol="grpc", model="ensemble", error=f"boot failed (log: {log})")
    _keep_log(tmp_path, report)
    kept = Path(report.notes[-1].removeprefix("server log kept at "))
    try:
        assert kept.read_text() == "E1127 model load failed\n" and str(kept) in report.error
    finally:
        kept.unlink()


def test_design_notes_cited_by_the_code_are_in_the_repository():
    cited = set()
    for path in (REPO / "planner").rglob("*.py"):
        # bare names are this repository's notes; a path (docs/X.md) names another repository's file
        cited |= set(re.findall(r"(?<![/\w])([A-Z][A-Z_]+\.md)\b", path.read_text(encoding="utf-8")))
    assert "ARCHITECTURE.md" in cited
    for name in cited:
        assert (REPO / name).is_file(), f"{name} is cited but not in the repository"
