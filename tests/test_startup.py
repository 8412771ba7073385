"""The command line's start-up: pydantic's plugin discovery is skipped, and nothing else changes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pydantic

PROBE = """
import sys
import planner.cli
from planner.api import make_plan
plan = make_plan("llama-3.1-8b", "h100x1")
import io
from planner.render import plan_tables
from planner.textout import Writer
plan_tables(plan, Writer(io.StringIO()))
print(plan.fits, "importlib.metadata" in sys.modules, "yaml" in sys.modules, "rich" in sys.modules)
"""


def _probe(env_extra: dict[str, str] | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, env=env).stdout


def test_a_plan_from_the_command_line_imports_no_plugin_discovery_no_yaml_and_no_rich():
    from planner import package_data

    for f in package_data.DATA.rglob("*.yaml"):  # fill the test run's cache, as any earlier run would
        package_data.load(*f.relative_to(package_data.DATA).parts)
    assert _probe().split() == ["True", "False", "False", "False"]


def test_the_command_line_collects_garbage_rarely_and_the_api_as_python_does():
    code = ("import gc, sys\ndefault = gc.get_threshold()\nimport {}\n"
            "print(gc.get_threshold()[0], default[0], gc.get_threshold()[1:] == default[1:])")
    run = [sys.executable, "-c"]
    cli = subprocess.run(run + [code.format("planner.cli")], capture_output=True, text=True, check=True).stdout
    api = subprocess.run(run + [code.format("planner.api")], capture_output=True, text=True, check=True).stdout
    assert cli.split() == ["100000", "700", "True"]
    assert api.split() == ["700", "700", "True"]


def test_a_user_naming_plugins_keeps_pydantics_discovery():
    assert _probe({"PYDANTIC_DISABLE_PLUGINS": "some_plugin"}).split()[:2] == ["True", "True"]


def test_pydantic_asks_its_plugin_loader_for_get_plugins_only():
    """The stand-in loader has get_plugins alone: any other import of the loader in the installed
    pydantic would break model building, so this fails first."""
    root = Path(pydantic.__file__).parent
    imports = set()
    for source in root.rglob("*.py"):
        for match in re.finditer(r"from (?:pydantic\.plugin\.|\.)?_loader import ([\w, ]+)", source.read_text()):
            imports.update(name.strip() for name in match.group(1).split(","))
    assert imports == {"get_plugins"}


TEARDOWN_PROBE = """
import atexit, sys
import planner.cli
class Witness:
    def __del__(self):
        print("torn down", file=sys.stderr)
witness = Witness()
if {handler}:
    atexit.register(print, "exit handler ran", file=sys.stderr)
sys.argv = ["planner", "plan", "llama-3.1-8b", "--gpus", "{fleet}", "--format", "json"]
planner.cli.run()
"""


def _run_command(handler: bool, fleet: str = "h100x1") -> subprocess.CompletedProcess:
    code = TEARDOWN_PROBE.format(handler=handler, fleet=fleet)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_the_command_skips_the_interpreters_teardown_and_loses_no_output():
    import json

    done = _run_command(handler=False)
    assert done.returncode == 0
    assert json.loads(done.stdout)["fits"] is True  # the whole document, flushed before the exit
    assert "torn down" not in done.stderr


def test_the_command_keeps_the_exit_code_without_teardown():
    done = _run_command(handler=False, fleet="l40sx1-nope")
    assert done.returncode == 2 and "torn down" not in done.stderr and "planner: error" in done.stderr


def test_the_command_tears_down_when_an_exit_handler_is_registered():
    done = _run_command(handler=True)
    assert done.returncode == 0
    assert "exit handler ran" in done.stderr and "torn down" in done.stderr


def test_a_live_thread_is_joined_before_the_command_exits():
    code = TEARDOWN_PROBE.format(handler=False, fleet="h100x1").replace(
        "planner.cli.run()",
        # the thread outlives the command whatever its speed: it waits for the main thread to stop, which
        # only the interpreter's shutdown does (threading._shutdown, before it joins the other threads)
        "import threading\n"
        "threading.Thread(target=lambda: (threading.main_thread().join(), print('thread finished', file=sys.stderr)))"
        ".start()\n"
        "planner.cli.run()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and "thread finished" in done.stderr and "torn down" in done.stderr
