"""User strings (model name, paths) cannot break or inject into the deploy artifacts."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import jinja2
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.api import make_plan
from planner.deploy_validate import validate_manifests
from planner.emit.deploy import emit_deploy, resource_name
from planner.emit.templating import Untrusted, compose_quote, make_env, yaml_quote
from planner.errors import PlannerError
from planner.plan import Plan

CRDS = [Path(__file__).parent / "data" / "lws"]

HOSTILE = [
    'llama"; rm -rf /',
    "name: injected\nkind: Secret",
    "a: b",
    "- item",
    "{{ x }}",
    "$(reboot) ${HOME} `id` $$",
    "'single' \"double\" \\back",
    "\u2028line\u2029para\x85nel\ufeffbom\x00nul\x7fdel",
    "#comment",
    "&anchor *alias !tag |literal >folded",
    "",
    "   ",
    "ÄÖÜ-日本語-😀",
]


@pytest.fixture(scope="module")
def single() -> Plan:
    return make_plan("llama-3.1-70b", "h100x8")


@pytest.fixture(scope="module")
def multi() -> Plan:
    return make_plan("llama-3.1-405b", "2xh100x8", quant="bf16")


def renamed(plan: Plan, name: str, engine_dir: str | None = None) -> Plan:
    serving = plan.serving.model_copy(update={"engine_dir": engine_dir or plan.serving.engine_dir,
                                              "tokenizer_dir": engine_dir or plan.serving.tokenizer_dir})
    return plan.model_copy(update={"model": plan.model.model_copy(update={"name": name}), "serving": serving})


@given(st.text())
def test_yaml_quote_round_trips(text: str) -> None:
    assert yaml.safe_load(f"key: {yaml_quote(text)}\n") == {"key": text}


@given(st.text())
def test_compose_quote_escapes_interpolation(text: str) -> None:
    loaded = yaml.safe_load(f"key: {compose_quote(text)}\n")["key"]
    # Compose turns $$ back into $
    assert loaded.replace("$$", "$") == text


@given(st.text())
def test_resource_name_is_a_dns_label(text: str) -> None:
    name = resource_name(text)
    assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name)
    assert len(name) <= 39


def test_distinct_long_names_stay_distinct() -> None:
    base = "x" * 40
    assert resource_name(base + "a") != resource_name(base + "b")


@pytest.mark.parametrize("name", HOSTILE)
@pytest.mark.parametrize("which", ["single", "multi"])
def test_hostile_strings_stay_data(name: str, which: str, single: Plan, multi: Plan) -> None:
    plan = renamed(single if which == "single" else multi, name, engine_dir=name.replace("\x00", "") or "./e")
    files = emit_deploy(plan)
    for path, text in files.items():
        if path.endswith(".yaml"):
            parsed = [d for d in yaml.safe_load_all(text) if d is not None]
            assert parsed, path
    workload = "deployment" if which == "single" else "leaderworkerset"
    (obj,) = yaml.safe_load_all(files[f"deploy/kubernetes/{workload}.yaml"])
    assert obj["metadata"]["annotations"]["planner/model"] == name
    assert obj["kind"] in ("Deployment", "LeaderWorkerSet")
    assert validate_manifests(files, CRDS) == []
    if which == "single":
        for service in yaml.safe_load(files["deploy/docker/compose.yaml"])["services"].values():
            assert service["environment"]["ENGINE_DIR"].replace("$$", "$") == plan.serving.engine_dir


@pytest.mark.parametrize("path", ["$(touch /tmp/pwned)", "a'b", "x\ny", "`id`"])
def test_sbatch_keeps_paths_literal(multi: Plan, path: str, tmp_path: Path) -> None:
    text = emit_deploy(renamed(multi, "m", engine_dir=path))["deploy/slurm/triton.sbatch"]
    # run only the variable assignments (a quoted value may span lines) and print ENGINE_DIR back
    start = text.index("export DATA_DIR=")
    end = text.index("\n", text.index("export WORLD_SIZE="))
    probe = tmp_path / "probe.sh"
    probe.write_text(text[start:end] + '\nprintf %s "$ENGINE_DIR"\n')
    out = subprocess.run(["bash", str(probe)], capture_output=True, text=True, check=True)
    assert out.stdout == path


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(max_size=60))
def test_any_model_name_parses_and_validates(single: Plan, name: str) -> None:
    files = emit_deploy(renamed(single, name))
    (dep,) = yaml.safe_load_all(files["deploy/kubernetes/deployment.yaml"])
    assert dep["metadata"]["annotations"]["planner/model"] == name
    assert validate_manifests(files, CRDS) == []


def test_unquoted_user_string_is_refused() -> None:
    env = make_env()
    with pytest.raises(PlannerError, match="unquoted user string"):
        env.from_string("name: {{ x }}").render(x=Untrusted("a\nb: c"))
    assert env.from_string("name: {{ x | q }}").render(x=Untrusted("a\nb: c")) == 'name: "a\\nb: c"'


def test_templates_use_strict_undefined() -> None:
    with pytest.raises(jinja2.UndefinedError):
        make_env().from_string("{{ missing }}").render()
