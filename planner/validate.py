"""Check a Triton model repository before a server ever sees it.

`validate_repository(dir, profile=None)` parses every `*/config.pbtxt` as
`inference.ModelConfig` (the schema shipped in tritonclient), checks the ensemble's
wiring, and, when the TensorRT-LLM version is known (a `plan.json` beside the
repository, or `profile`), checks the tensorrt_llm model against that version's
profile. Each Issue names the file, the field and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from planner import safeio
from planner.errors import InputError
from planner.target import Profile, load_profile
from planner.triton_rules import load_time_problems

ModelConfig = model_config_pb2.ModelConfig
MAX_CONFIG_BYTES = 4 * 1024 * 1024  # a config.pbtxt is a few KiB


@dataclass(frozen=True)
class Issue:
    file: str
    field: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message} (fix: {self.fix})"


def _dtype(value: int) -> str:
    return model_config_pb2.DataType.Name(value)


def _dims_agree(a, b) -> bool:
    """Shapes agree when ranks match and every fixed size matches (-1 matches anything)."""
    a, b = list(a), list(b)
    return len(a) == len(b) and all(x == y or x == -1 or y == -1 for x, y in zip(a, b, strict=True))


def load_configs(repo: Path) -> tuple[dict[str, ModelConfig], list[Issue]]:
    configs: dict[str, ModelConfig] = {}
    issues: list[Issue] = []
    for path in sorted(repo.glob("*/config.pbtxt")):
        rel = str(path.relative_to(repo))
        try:
            cfg = text_format.Parse(safeio.read_text(path, MAX_CONFIG_BYTES, "model config"), ModelConfig())
        except InputError as exc:
            issues.append(Issue(rel, "config.pbtxt", exc.message, "replace it with a regular text file"))
            continue
        except (text_format.ParseError, UnicodeDecodeError, RecursionError) as exc:
            issues.append(Issue(rel, "config.pbtxt", f"does not parse as inference.ModelConfig: {exc}",
                                "regenerate it with planner, or correct the syntax at the position given"))
            continue
        model = path.parent.name
        if cfg.name and cfg.name != model:
            issues.append(Issue(rel, "name", f"is {cfg.name!r} but the directory is {model!r}",
                                f'set name: "{model}" or rename the directory'))
        if not any(p.is_dir() and p.name.isdigit() for p in path.parent.iterdir()):
            issues.append(Issue(rel, "version directory", "no numeric version directory (e.g. 1/)",
                                f"create {model}/1/"))
        configs[model] = cfg
    return configs, issues


def check_ensemble(name: str, cfg: ModelConfig, configs: dict[str, ModelConfig]) -> list[Issue]:
    rel = f"{name}/config.pbtxt"
    issues: list[Issue] = []
    # tensor name -> (data_type, dims, where it comes from)
    available = {t.name: (t.data_type, list(t.dims), "ensemble input") for t in cfg.input}
    produced: set[str] = set()
    for i, step in enumerate(cfg.ensemble_scheduling.step):
        where = f"ensemble_scheduling.step[{i}] ({step.model_name})"
        sub = configs.get(step.model_name)
        if sub is None:
            issues.append(Issue(rel, f"{where}.model_name", f"model {step.model_name!r} is not in the repository",
                                f"add {step.model_name}/config.pbtxt or fix the model_name"))
            continue
        if cfg.max_batch_size > sub.max_batch_size:
            issues.append(Issue(rel, "max_batch_size",
                                f"{cfg.max_batch_size} exceeds {step.model_name}'s {sub.max_batch_size}",
                                f"lower the ensemble's max_batch_size to at most {sub.max_batch_size}"))
        sub_inputs = {t.name: t for t in sub.input}
        sub_outputs = {t.name: t for t in sub.output}
        for key, value in step.input_map.items():
            if key not in sub_inputs:
                issues.append(Issue(rel, f"{where}.input_map[{key}]", f"{step.model_name} has no input {key!r}",
                                    f"use one of {step.model_name}'s inputs: {', '.join(sorted(sub_inputs))}"))
                continue
            if value not in available:
                issues.append(Issue(rel, f"{where}.input_map[{key}]",
                                    f"tensor {value!r} is neither an ensemble input nor produced by an earlier step",
                                    "map it from an ensemble input or an earlier step's output_map"))
                continue
            dtype, dims, source = available[value]
            want = sub_inputs[key]
            if dtype != want.data_type:
                issues.append(Issue(rel, f"{where}.input_map[{key}]",
                                    f"{value!r} from {source} is {_dtype(dtype)} but {step.model_name}.{key} "
                                    f"is {_dtype(want.data_type)}", "make the data types match"))
            elif not _dims_agree(dims, want.dims):
                issues.append(Issue(rel, f"{where}.input_map[{key}]",
                                    f"{value!r} from {source} has dims {dims} but {step.model_name}.{key} "
                                    f"has {list(want.dims)}", "make the dims agree"))
        mapped = set(step.input_map.keys())
        for t in sub.input:
            if not t.optional and t.name not in mapped:
                issues.append(Issue(rel, f"{where}.input_map",
                                    f"required input {step.model_name}.{t.name} is not mapped",
                                    f"add input_map {{ key: \"{t.name}\" value: ... }}"))
        for key, value in step.output_map.items():
            if key not in sub_outputs:
                issues.append(Issue(rel, f"{where}.output_map[{key}]", f"{step.model_name} has no output {key!r}",
                                    f"use one of {step.model_name}'s outputs: {', '.join(sorted(sub_outputs))}"))
                continue
            out = sub_outputs[key]
            available[value] = (out.data_type, list(out.dims), f"{step.model_name}.{key}")
            produced.add(value)
    for t in cfg.output:
        if t.name not in produced:
            issues.append(Issue(rel, f"output[{t.name}]", "no step produces this ensemble output",
                                f"add an output_map with value \"{t.name}\" to a step"))
            continue
        dtype, dims, source = available[t.name]
        if dtype != t.data_type:
            issues.append(Issue(rel, f"output[{t.name}]",
                                f"declared {_dtype(t.data_type)} but {source} produces {_dtype(dtype)}",
                                "make the data types match"))
        elif not _dims_agree(dims, t.dims):
            issues.append(Issue(rel, f"output[{t.name}]", f"declared dims {list(t.dims)} but {source} has {dims}",
                                "make the dims agree"))
    return issues


def check_tensorrt_llm(cfg: ModelConfig, profile: Profile, name: str = "tensorrt_llm") -> list[Issue]:
    rel = f"{name}/config.pbtxt"
    want = profile.triton.tensorrt_llm
    ver = f"TensorRT-LLM {profile.version}"
    issues: list[Issue] = []
    if cfg.backend != profile.triton.backend:
        issues.append(Issue(rel, "backend", f"is {cfg.backend!r}, not {profile.triton.backend!r}",
                            f'set backend: "{profile.triton.backend}"'))
    for kind, declared, expected in (("input", cfg.input, want.inputs), ("output", cfg.output, want.outputs)):
        spec = {t.name: t for t in expected}
        for t in declared:
            s = spec.get(t.name)
            if s is None:
                issues.append(Issue(rel, f"{kind}[{t.name}]", f"{ver} does not declare this {kind}",
                                    f"remove it or rename it to one of {ver}'s {kind}s"))
                continue
            if _dtype(t.data_type) != s.data_type:
                issues.append(Issue(rel, f"{kind}[{t.name}].data_type",
                                    f"is {_dtype(t.data_type)}; {ver} declares {s.data_type}",
                                    f"set data_type: {s.data_type}"))
            if list(t.dims) != list(s.dims):
                issues.append(Issue(rel, f"{kind}[{t.name}].dims", f"is {list(t.dims)}; {ver} declares {list(s.dims)}",
                                    f"set dims: {list(s.dims)}"))
        names = {t.name for t in declared}
        for s in expected:
            if kind == "input" and not s.optional and s.name not in names:
                issues.append(Issue(rel, f"input[{s.name}]", f"{ver} requires this input but it is missing",
                                    f"declare input {s.name} ({s.data_type}, dims {list(s.dims)})"))
    for key in cfg.parameters:
        if key not in want.parameters:
            issues.append(Issue(rel, f"parameters[{key}]", f"{ver}'s tensorrt_llm backend does not read this key",
                                "remove it (or check the spelling)"))
    for key in ("gpt_model_path", "gpt_model_type"):
        if key not in cfg.parameters:
            issues.append(Issue(rel, f"parameters[{key}]", "missing; the backend cannot find or run the engine",
                                f"add parameters {{ key: \"{key}\" value {{ string_value: ... }} }}"))
    return issues


def _profile_beside(repo: Path) -> Profile | None:
    for candidate in (repo / "plan.json", repo.parent / "plan.json"):
        if candidate.is_file():
            try:
                version = safeio.read_json(candidate, what="plan")["target"]["trtllm_version"]
            except (InputError, KeyError, TypeError):
                return None
            return load_profile(version)
    return None


def validate_repository(repo: str | Path, profile: Profile | None = None) -> list[Issue]:
    repo = Path(repo)
    if not repo.is_dir():
        raise InputError(f"{repo} is not a directory")
    configs, issues = load_configs(repo)
    if not configs and not issues:
        return [Issue(str(repo), "model repository", "no */config.pbtxt found", "point at a model_repository/")]
    for name, cfg in configs.items():
        issues += [Issue(*problem) for problem in load_time_problems(name, cfg)]
        if cfg.platform == "ensemble":
            issues += check_ensemble(name, cfg, configs)
    profile = profile or _profile_beside(repo)
    from planner.validate_llmapi import check_llmapi_model, is_llmapi

    for name, cfg in configs.items():
        if is_llmapi(repo / name, cfg):  # PyTorch flow: the llmapi Python model and its model.yaml
            issues += check_llmapi_model(repo / name, cfg, profile or _default_profile(), _plan_beside(repo))
        elif profile is not None and (cfg.backend == "tensorrtllm" or name == "tensorrt_llm"):
            issues += check_tensorrt_llm(cfg, profile, name)
    return issues


def _default_profile() -> Profile:
    from planner.target import DEFAULT_TRTLLM_VERSION

    return load_profile(DEFAULT_TRTLLM_VERSION)


def _plan_beside(repo: Path) -> dict | None:
    for candidate in (repo / "plan.json", repo.parent / "plan.json"):
        if candidate.is_file():
            try:
                data = safeio.read_json(candidate, what="plan")
            except InputError:
                return None
            return data if isinstance(data, dict) else None
    return None


def format_issues(issues: list[Issue]) -> str:
    if not issues:
        return "model repository OK\n"
    lines = [f"{len(issues)} issue(s):"] + [f"  {i}" for i in issues]
    return "\n".join(lines) + "\n"
