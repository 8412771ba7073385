"""scripts/extract_flags.py reads a script's flags from its source without importing it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "data" / "extract_flags"
sys.path.insert(0, str(ROOT / "scripts"))

import extract_flags  # noqa: E402


def _by_name(result):
    return {f["names"][0]: f for f in result["flags"]}


def test_every_flag_with_its_aliases_type_and_choices():
    result = extract_flags.extract((FIXTURES / "converter.py").read_text())
    flags = _by_name(result)
    # positional arguments are not flags; the helper function's calls count as well
    assert list(flags) == ["--model-dir", "--workers", "--tp_size", "--pp_size", "--dtype", "--precision",
                           "--source", "--scale", "--fast", "--names"]
    assert flags["--model-dir"] == {"names": ["--model-dir", "--model_dir"], "type": "str", "required": True}
    assert flags["--workers"]["type"] == "int"
    assert flags["--dtype"]["choices"] == ["auto", "float16", "bfloat16"]
    # None in a choices list is argparse's "no value"; a const/nargs='?' flag keeps its nargs
    assert flags["--precision"] == {"names": ["--precision"], "nargs": "?", "choices": ["int8", "int4"],
                                    "type": "str"}
    # choices computed at run time cannot be read from the source: flagged for a person to read
    assert flags["--source"]["choices"] == "dynamic" and flags["--source"]["type"] == "dynamic"
    assert flags["--scale"] == {"names": ["--scale", "-s"], "type": "float"}
    assert flags["--fast"] == {"names": ["--fast"], "action": "store_true"}
    assert flags["--names"]["nargs"] == "+"


def test_parallelism_asserts_are_reported():
    result = extract_flags.extract((FIXTURES / "converter.py").read_text())
    assert result["asserts"] == ["args.pp_size == 1"]


def test_the_script_is_never_imported(tmp_path):
    # Importing this file would create a marker; extracting must not.
    marker = tmp_path / "imported"
    script = tmp_path / "side_effect.py"
    script.write_text(f"open({str(marker)!r}, 'w').close()\nimport argparse\n"
                      "p = argparse.ArgumentParser()\np.add_argument('--x', type=int)\n")
    assert extract_flags.extract(script.read_text())["flags"] == [{"names": ["--x"], "type": "int"}]
    assert not marker.exists()


def test_output_loads_as_contract_flags(tmp_path):
    from planner.engine_contract import Flag
    from planner.yamlio import load_yaml

    text = extract_flags.render(extract_flags.extract((FIXTURES / "converter.py").read_text()),
                                "examples/x/convert.py", "example/repo", "0" * 40)
    data = load_yaml(text)
    assert data["source"] == {"repository": "example/repo", "file": "examples/x/convert.py", "commit": "0" * 40}
    literal = [f for f in data["flags"] if f.get("choices") != "dynamic" and f.get("type") != "dynamic"]
    flags = [Flag.model_validate(f) for f in literal]
    assert [f.names[0] for f in flags][:3] == ["--model-dir", "--workers", "--tp_size"]
    assert "# asserts on parallelism" in text and "assert args.pp_size == 1" in text


def test_command_line_and_unreadable_file():
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "extract_flags.py"), str(FIXTURES / "converter.py"),
                          "--root", str(FIXTURES), "--commit", "abc"], capture_output=True, text=True)
    assert run.returncode == 0 and "file: converter.py" in run.stdout and "commit: \"abc\"" in run.stdout
    bad = subprocess.run([sys.executable, str(ROOT / "scripts" / "extract_flags.py"),
                          str(FIXTURES / "broken_source.txt")], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("extract_flags: cannot read") and "Traceback" not in bad.stderr


@pytest.mark.parametrize("missing", ["nope.py"])
def test_missing_file_is_one_line(missing):
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "extract_flags.py"), str(FIXTURES / missing)],
                         capture_output=True, text=True)
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1
