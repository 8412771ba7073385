"""One broken repository per validation rule, each caught with the file, field and fix."""

import shutil
from pathlib import Path

import pytest
from _emit_helpers import plan

from planner.emit import render_all
from planner.emit.writer import write_all
from planner.target import load_profile
from planner.validate import format_issues, validate_repository


@pytest.fixture()
def repo(tmp_path) -> Path:
    write_all(render_all(plan(trtllm_version="0.19.0")), tmp_path / "out")
    return tmp_path / "out" / "model_repository"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def issues_of(repo, **kw):
    found = validate_repository(repo, **kw)
    assert found, "expected an issue"
    return found


def test_clean_repository(repo):
    assert validate_repository(repo) == []
    assert format_issues([]) == "model repository OK\n"


def test_unparseable_config(repo):
    edit(repo / "preprocessing/config.pbtxt", "max_batch_size:", "max_batch_sizes:")
    (i,) = [i for i in issues_of(repo) if i.file == "preprocessing/config.pbtxt"]
    assert "does not parse" in i.message


def test_step_input_not_produced(repo):
    edit(repo / "ensemble/config.pbtxt", 'value: "_INPUT_ID"', 'value: "_NOWHERE"')
    assert any("neither an ensemble input" in i.message and "input_ids" in i.field for i in issues_of(repo))


def test_ensemble_output_not_produced(repo):
    edit(repo / "ensemble/config.pbtxt", 'value: "text_output"', 'value: "other_text"')
    assert any(i.field == "output[text_output]" and "no step produces" in i.message for i in issues_of(repo))


def test_data_type_mismatch(repo):
    edit(repo / "ensemble/config.pbtxt", 'name: "top_k"\n    data_type: TYPE_INT32',
         'name: "top_k"\n    data_type: TYPE_FP32')
    assert any("runtime_top_k" in i.field and "TYPE_FP32" in i.message for i in issues_of(repo))


def test_dims_mismatch(repo):
    edit(repo / "ensemble/config.pbtxt", 'name: "temperature"\n    data_type: TYPE_FP32\n    dims: [ 1 ]',
         'name: "temperature"\n    data_type: TYPE_FP32\n    dims: [ 2, 3 ]')
    assert any("input_map[temperature]" in i.field and "dims" in i.message for i in issues_of(repo))


def test_required_input_unmapped(repo):
    edit(repo / "ensemble/config.pbtxt", 'input_map { key: "input_lengths" value: "_REQUEST_INPUT_LEN" }\n', "")
    assert any("required input tensorrt_llm.input_lengths" in i.message for i in issues_of(repo))


def test_ensemble_batch_exceeds_composing_model(repo):
    edit(repo / "ensemble/config.pbtxt", "max_batch_size: 64", "max_batch_size: 512")
    assert any(i.field == "max_batch_size" and "exceeds" in i.message for i in issues_of(repo))


def test_missing_composing_model(repo):
    shutil.rmtree(repo / "postprocessing")
    assert any("not in the repository" in i.message for i in issues_of(repo))


def test_unknown_step_tensor(repo):
    edit(repo / "ensemble/config.pbtxt", 'key: "QUERY"', 'key: "QUERIES"')
    assert any("has no input 'QUERIES'" in i.message for i in issues_of(repo))


def test_missing_version_directory(repo):
    shutil.rmtree(repo / "tensorrt_llm" / "1")
    assert any(i.field == "version directory" for i in issues_of(repo))


def test_tensor_unknown_to_pinned_version(repo):
    # a 1.2-only input in a repository pinned (via plan.json) to 0.19.0
    edit(repo / "tensorrt_llm/config.pbtxt", 'name: "min_length"', 'name: "min_tokens"')
    found = issues_of(repo)
    assert any(i.field == "input[min_tokens]" and "0.19.0" in i.message for i in found)


def test_profile_given_explicitly(repo):
    (repo.parent / "plan.json").unlink()
    assert validate_repository(repo) == []  # version unknown: structural checks only
    found = issues_of(repo, profile=load_profile("1.2.1"))
    assert any(i.field == "input[min_length]" for i in found)


def test_tensor_type_differs_from_profile(repo):
    edit(repo / "tensorrt_llm/config.pbtxt", 'name: "input_lengths"\n    data_type: TYPE_INT32',
         'name: "input_lengths"\n    data_type: TYPE_INT64')
    assert any(i.field == "input[input_lengths].data_type" for i in issues_of(repo))


def test_unknown_parameter(repo):
    edit(repo / "tensorrt_llm/config.pbtxt", 'key: "gpt_model_type"', 'key: "gpt_model_kind"')
    found = issues_of(repo)
    assert any(i.field == "parameters[gpt_model_kind]" for i in found)
    assert any(i.field == "parameters[gpt_model_type]" for i in found)
    assert "fix:" in format_issues(found)
