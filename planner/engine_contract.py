"""What each TensorRT-LLM release's engine-flow scripts accept, as data read from the release.

`planner/data/trtllm/contract/<version>/` holds one file per script the planner emits (every
family's `convert_checkpoint.py`, `quantize.py`, `trtllm-build`, `launch_triton_server.py`):
its path at that release, the flags its argument parser declares with their choices, and what
it cannot do (pipeline parallelism). `release.yaml` holds what the release as a whole cannot
build (uneven pipeline stages, builder refusals per GPU architecture, families without a
converter). Every entry names the repository, commit and file it was read from.

`ScriptContract.parser()` turns the data back into an argparse parser, so an emitted command
line can be checked against the release it targets without that release installed.
"""


import argparse
import functools
import shlex

from pydantic import BaseModel, ConfigDict

from planner import package_data


class _Frozen(BaseModel):
    # built on first use: a plan asks the contract only which families have a converter
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class Source(_Frozen):
    repository: str
    file: str
    commit: str
    function: str | None = None
    read: str | None = None  # how it was read: the tag itself, or a stored version of the file
    also: str | None = None


class Flag(_Frozen):
    """One add_argument() call: its option strings and what it accepts."""

    names: tuple[str, ...]
    type: str = "str"  # str | int | float
    action: str | None = None  # store_true for switches
    choices: tuple[str, ...] | None = None
    nargs: str | None = None
    required: bool = False


class ScriptContract(_Frozen):
    version: str
    key: str
    script: str
    families: tuple[str, ...] = ()
    # Where the script lives in a TensorRT-LLM checkout (or the backend repository), in the order
    # build.sh looks; empty for console commands on PATH (trtllm-build).
    paths: tuple[str, ...]
    path_verified: bool
    path_evidence: str
    source: Source
    pipeline_parallel: bool = True
    pipeline_evidence: str | None = None
    notes: tuple[str, ...] = ()
    flags: tuple[Flag, ...]

    def flag(self, name: str) -> Flag | None:
        return next((f for f in self.flags if name in f.names), None)

    def accepts(self, name: str, value: str | None = None) -> bool:
        """Whether the script declares `name` (and, when given, accepts `value` for it)."""
        f = self.flag(name)
        if f is None:
            return False
        return value is None or f.choices is None or value in f.choices

    def parser(self) -> argparse.ArgumentParser:
        parser = _StrictParser(prog=self.script, add_help=False, allow_abbrev=False)
        types = {"str": str, "int": int, "float": float}
        for f in self.flags:
            kwargs: dict = {"required": f.required}
            if f.action:
                kwargs["action"] = f.action
            else:
                kwargs["type"] = types[f.type] if f.choices is None else str
                if f.choices is not None:
                    kwargs["choices"] = list(f.choices)
                if f.nargs:
                    kwargs["nargs"] = f.nargs
            parser.add_argument(*f.names, **kwargs)
        return parser

    def check(self, argv: list[str]) -> argparse.Namespace:
        """Parse `argv` (the arguments after the script) as the release would; ContractError if it refuses."""
        return self.parser().parse_args(argv)


class ContractError(Exception):
    """An emitted command line that the release's own argument parser would reject."""


class _StrictParser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would print usage and exit 2
        raise ContractError(f"{self.prog}: {message}")


class BuilderRefusals(_Frozen):
    """Quantizations tensorrt_llm/builder.py refuses for sm_min <= SM < sm_below."""

    sm_min: int
    sm_below: int
    weights: tuple[str, ...]
    kv_cache: tuple[str, ...]
    source: Source


class ReleaseContract(_Frozen):
    version: str
    even_pp_split_only: bool
    even_pp_split_evidence: str
    builder_sm_refusals: BuilderRefusals
    no_engine_converter: dict[str, str] = {}
    pytorch_flow_release: str
    scripts: dict[str, ScriptContract] = {}

    def converter(self, family: str) -> ScriptContract | None:
        """The convert_checkpoint.py contract of a model family (catalog architecture name)."""
        key = family.lower()
        return next((s for s in self.scripts.values() if key in s.families), None)

    def script(self, key: str) -> ScriptContract:
        return self.scripts[key]


def _contract_dir():
    return package_data.path("trtllm", "contract")


def contract_versions() -> list[str]:
    return sorted(d.name for d in _contract_dir().iterdir() if d.is_dir())


@functools.cache
def load_contract(version: str) -> ReleaseContract | None:
    """The engine-flow contract of a release, or None when no contract data exists for it."""
    if version not in contract_versions():
        return None
    folder = _contract_dir().joinpath(version)
    release = None
    scripts: dict[str, ScriptContract] = {}
    for f in sorted(folder.iterdir(), key=lambda p: p.name):
        if not f.name.endswith(".yaml"):
            continue
        data = package_data.load("trtllm", "contract", version, f.name)
        try:
            if f.name == "release.yaml":
                release = data
            else:
                s = ScriptContract.model_validate(data)
                scripts[s.key] = s
        except ValueError as exc:  # a broken data file is a bug in the package, not user input
            raise RuntimeError(f"contract {version}/{f.name} is malformed: {exc}") from exc
    if release is None:
        raise RuntimeError(f"contract {version} has no release.yaml")
    return ReleaseContract.model_validate({**release, "scripts": scripts})


def split_command(line: str) -> list[str]:
    """A shell command line (continuations already joined) as argv, variables left unexpanded."""
    return shlex.split(line, comments=True)


def logical_lines(text: str) -> list[str]:
    """Shell text as logical lines: backslash continuations joined, blank lines dropped."""
    out: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            out.append(full)
    return out


def _resolve(path: str, contract: ReleaseContract) -> ScriptContract:
    for script in contract.scripts.values():
        if any(path == p or path.endswith("/" + p) for p in script.paths):
            return script
    raise ContractError(f"{path}: TensorRT-LLM {contract.version} has no script there")


def _candidates(lines: list[str], contract: ReleaseContract) -> ScriptContract | None:
    """The script a `for candidate in A B; do` probe looks for: every candidate must be one of its paths."""
    for line in lines:
        if not line.startswith("for candidate in "):
            continue
        words = split_command(line.split(";", 1)[0])[3:]
        scripts = {_resolve(w, contract).key for w in words}
        if len(scripts) != 1:
            raise ContractError(f"the candidates {words} name different scripts of TensorRT-LLM {contract.version}")
        return contract.script(scripts.pop())
    return None


def check_commands(text: str, contract: ReleaseContract) -> list[tuple[str, list[str]]]:
    """Parse every `python3 <script>` and `trtllm-build` command in shell text against the release.

    Returns (script key, argv) per command; raises ContractError at the first unknown script
    path, unknown flag, bad choice, bad value or missing required flag.
    """
    lines = logical_lines(text)
    probed = _candidates(lines, contract)
    parsed: list[tuple[str, list[str]]] = []
    for line in lines:
        if not line.startswith(("python3 ", "trtllm-build")):
            continue  # assignments, tests, echo: not release commands
        argv = split_command(line)
        if argv[0] == "trtllm-build":
            script, args = contract.script("trtllm-build"), argv[1:]
        elif argv[0] == "python3" and len(argv) > 1 and argv[1].endswith(".py"):
            script, args = _resolve(argv[1], contract), argv[2:]
        elif argv[0] == "python3" and len(argv) > 1 and argv[1] == "$CONVERT_SCRIPT":
            if probed is None:
                raise ContractError("$CONVERT_SCRIPT is run but no candidate paths are probed for it")
            script, args = probed, argv[2:]
        else:
            continue
        script.check(args)
        parsed.append((script.key, argv))
    return parsed


def check_build_script(text: str, contract: ReleaseContract) -> list[tuple[str, list[str]]]:
    """check_commands for an emitted build.sh, which must run at least one command."""
    parsed = check_commands(text, contract)
    if not parsed:
        raise ContractError("build.sh runs no TensorRT-LLM command")
    return parsed
