#!/usr/bin/env python3
"""Extract the command-line flags a Python script declares, by reading its source (never importing it).

Maintainer tool for the engine-flow contract (planner/data/trtllm/contract/<version>/): on a
machine with a TensorRT-LLM checkout at the new release's tag, run

    python3 scripts/extract_flags.py TensorRT-LLM/examples/models/core/llama/convert_checkpoint.py \
        --repository NVIDIA/TensorRT-LLM --commit "$(git -C TensorRT-LLM rev-parse HEAD)" \
        --root TensorRT-LLM

and paste the printed `source:`/`flags:` block into the script's contract file. The script
is parsed with Python's `ast`: every `<parser>.add_argument(...)` call anywhere in the file
gives one flag with its option strings, `type`, `action`, `choices`, `nargs` and `required`,
as far as they are literals. Non-literal choices (`choices=list(SomeEnum)`) are reported as
`dynamic` so that a person reads them from the source. Asserts on a parallelism size
(`assert args.pp_size == 1`) are reported too: they are what a script cannot do.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

_TYPES = {"str": "str", "int": "int", "float": "float", "Path": "str"}


def _literal(node: ast.AST):
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


def _flag(call: ast.Call) -> dict | None:
    names = [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    names = [n for n in names if n.startswith("-")]
    if not names:
        return None  # a positional argument: the planner never emits one
    flag: dict = {"names": names}
    for kw in call.keywords:
        if kw.arg == "action":
            value = _literal(kw.value)
            if isinstance(value, str):
                flag["action"] = value
        elif kw.arg == "type":
            name = kw.value.id if isinstance(kw.value, ast.Name) else None
            flag["type"] = _TYPES.get(name or "", "dynamic" if name else "str")
        elif kw.arg == "choices":
            value = _literal(kw.value)
            if isinstance(value, (list, tuple)):
                flag["choices"] = [str(v) for v in value if v is not None]
            else:
                flag["choices"] = "dynamic"
        elif kw.arg == "nargs":
            value = _literal(kw.value)
            if value is not None:
                flag["nargs"] = str(value)
        elif kw.arg == "required":
            value = _literal(kw.value)
            if value is True:
                flag["required"] = True
    if "action" not in flag:
        flag.setdefault("type", "str")
    return flag


def _parallel_assert(node: ast.Assert) -> str | None:
    text = ast.unparse(node.test)
    return text if any(s in text for s in ("pp_size", "tp_size", "world_size")) else None


def extract(source: str) -> dict:
    """{"flags": [...], "asserts": [...]} for the argparse flags and parallelism asserts of `source`."""
    tree = ast.parse(source)
    flags: list[tuple[int, dict]] = []
    asserts: list[str] = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add_argument"):
            flag = _flag(node)
            if flag:
                flags.append((node.lineno, flag))
        elif isinstance(node, ast.Assert):
            text = _parallel_assert(node)
            if text:
                asserts.append(text)
    # ast.walk is breadth-first: put the flags back in the order the source declares them
    return {"flags": [f for _, f in sorted(flags, key=lambda x: x[0])], "asserts": asserts}


def _yaml_flag(flag: dict) -> str:
    # One flow mapping per flag, as the contract files write them; JSON strings are valid YAML.
    parts = [f"names: [{', '.join(flag['names'])}]"]
    for key in ("type", "action", "nargs"):
        if key in flag:
            parts.append(f"{key}: {json.dumps(flag[key])}")
    if "choices" in flag:
        choices = flag["choices"]
        parts.append("choices: dynamic" if choices == "dynamic" else
                     f"choices: [{', '.join(json.dumps(c) for c in choices)}]")
    if flag.get("required"):
        parts.append("required: true")
    return "  - {" + ", ".join(parts) + "}"


def render(result: dict, path: str, repository: str, commit: str) -> str:
    lines = ["source:", f"  repository: {repository}", f"  file: {path}", f"  commit: {json.dumps(commit)}", "flags:"]
    lines += [_yaml_flag(f) for f in result["flags"]]
    if result["asserts"]:
        lines.append("# asserts on parallelism (what the script cannot do):")
        lines += [f"#   assert {a}" for a in result["asserts"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("script", type=Path, help="the Python file to read")
    parser.add_argument("--repository", default="NVIDIA/TensorRT-LLM")
    parser.add_argument("--commit", default="UNKNOWN", help="the commit the file was read at (git rev-parse HEAD)")
    parser.add_argument("--root", type=Path, help="checkout root, to print the file's path inside the repository")
    args = parser.parse_args(argv)
    try:
        source = args.script.read_text(encoding="utf-8")
        result = extract(source)
    except (OSError, SyntaxError, UnicodeDecodeError) as exc:
        print(f"extract_flags: cannot read {args.script}: {exc}", file=sys.stderr)
        return 2
    path = args.script.resolve().relative_to(args.root.resolve()) if args.root else args.script
    sys.stdout.write(render(result, str(path), args.repository, args.commit))
    return 0


if __name__ == "__main__":
    sys.exit(main())
