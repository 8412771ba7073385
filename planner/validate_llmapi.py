"""Checks for a model repository in the llmapi layout (TensorRT-LLM PyTorch flow).

The `tensorrt_llm` model is a Python model whose `1/model.yaml` holds LLM() arguments and,
under `triton_config`, the Triton settings its auto-complete applies. So the config is checked
as Triton will load it: config.pbtxt with `max_batch_size` and the decoupled policy taken from
`triton_config` (a value config.pbtxt already sets differently is a conflict Triton rejects),
then against the release's llmapi tensors. model.yaml's keys are checked against the release's
LLM() arguments (profile `pytorch.llm_args`, with its source), and, when a plan.json sits beside
the repository, its layout and limits against the plan.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from planner.target import Profile
from planner.validate import Issue, ModelConfig, _dtype

MODEL_YAML = "model.yaml"
TRITON_CONFIG = "triton_config"


def is_llmapi(model_dir: Path, cfg: ModelConfig) -> bool:
    """A Python model with a model.yaml in a version directory: the llmapi layout."""
    return cfg.backend == "python" and any((v / MODEL_YAML).is_file() for v in model_dir.iterdir() if v.is_dir())


def _model_yaml(model_dir: Path) -> Path | None:
    versions = sorted((v for v in model_dir.iterdir() if v.is_dir() and v.name.isdigit()), key=lambda v: int(v.name))
    found = [v / MODEL_YAML for v in versions if (v / MODEL_YAML).is_file()]
    return found[-1] if found else None


def load_model_yaml(model_dir: Path, rel: str) -> tuple[dict[str, Any] | None, list[Issue]]:
    path = _model_yaml(model_dir)
    if path is None:
        return None, [Issue(rel, MODEL_YAML, "no <version>/model.yaml with the LLM() arguments",
                            f"create {model_dir.name}/1/model.yaml (planner plan --out writes one)")]
    where = str(path.relative_to(model_dir.parent))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, [Issue(where, MODEL_YAML, f"is not readable YAML: {first}", "correct the syntax")]
    if not isinstance(data, dict):
        return None, [Issue(where, MODEL_YAML, "must be a mapping of LLM() argument names to values",
                            "write `key: value` lines")]
    return data, []


def auto_completed(cfg: ModelConfig, triton: dict[str, Any], rel: str) -> tuple[ModelConfig, list[Issue]]:
    """The config Triton serves after the model's auto_complete_config applies `triton_config`."""
    out = ModelConfig()
    out.CopyFrom(cfg)
    issues: list[Issue] = []
    mbs, dec = triton.get("max_batch_size"), triton.get("decoupled")
    if isinstance(mbs, int) and not isinstance(mbs, bool):
        if cfg.max_batch_size not in (0, mbs):
            issues.append(Issue(rel, "max_batch_size", f"config.pbtxt sets {cfg.max_batch_size} but "
                                f"model.yaml's triton_config sets {mbs}; auto-complete cannot change it",
                                "remove max_batch_size from config.pbtxt (model.yaml sets it)"))
        out.max_batch_size = mbs
    if isinstance(dec, bool):
        if cfg.HasField("model_transaction_policy") and cfg.model_transaction_policy.decoupled != dec:
            issues.append(Issue(rel, "model_transaction_policy.decoupled",
                                f"config.pbtxt sets {cfg.model_transaction_policy.decoupled} but model.yaml's "
                                f"triton_config sets {dec}", "remove model_transaction_policy from config.pbtxt"))
        out.model_transaction_policy.decoupled = dec
    return out, issues


def check_triton_config(triton: Any, profile: Profile, where: str) -> list[Issue]:
    spec = profile.pytorch.triton_config
    ver = f"TensorRT-LLM {profile.version}"
    if not isinstance(triton, dict):
        return [Issue(where, TRITON_CONFIG, "missing or not a mapping; the model's auto-complete reads "
                      f"{', '.join(spec.required)} from it", f"add triton_config: {{{', '.join(spec.required)}}}")]
    issues = []
    for key in spec.required:
        if key not in triton:
            issues.append(Issue(where, f"{TRITON_CONFIG}.{key}", f"missing; {ver}'s model reads it at load time",
                                f"add {TRITON_CONFIG}.{key}"))
    for key in triton:
        if key not in spec.required + spec.optional:
            issues.append(Issue(where, f"{TRITON_CONFIG}.{key}", f"{ver}'s llmapi model does not read this key",
                                f"use one of {', '.join(spec.required + spec.optional)}"))
    if "decoupled" in triton and not isinstance(triton["decoupled"], bool):
        issues.append(Issue(where, f"{TRITON_CONFIG}.decoupled", f"is {triton['decoupled']!r}, not true/false",
                            "set true for streaming, else false"))
    mbs = triton.get("max_batch_size")
    if "max_batch_size" in triton and (not isinstance(mbs, int) or isinstance(mbs, bool) or mbs < 0):
        issues.append(Issue(where, f"{TRITON_CONFIG}.max_batch_size", f"is {mbs!r}, not a non-negative integer",
                            f"set {spec.max_batch_size}"))
    elif mbs is not None and mbs != spec.max_batch_size:
        issues.append(Issue(where, f"{TRITON_CONFIG}.max_batch_size",
                            f"is {mbs}; {ver}'s llmapi model takes one prompt per request (max_batch_size "
                            f"{spec.max_batch_size}) and batches inside the LLM", f"set {spec.max_batch_size}"))
    return issues


def check_llm_args(args: dict[str, Any], profile: Profile, where: str) -> list[Issue]:
    known = profile.pytorch.llm_args
    ver = f"TensorRT-LLM {profile.version}"
    issues = []
    if "model" not in args:
        issues.append(Issue(where, "model", "missing; LLM() needs the checkpoint path", "add model: <path>"))
    for key, value in args.items():
        if key == TRITON_CONFIG:
            continue
        if key not in known.arguments:
            issues.append(Issue(where, key, f"is not an LLM() argument of {ver} (source: {known.source})",
                                "remove it or check the spelling"))
            continue
        if isinstance(value, dict) and key in known.nested:
            for sub in value:
                if sub not in known.nested[key]:
                    issues.append(Issue(where, f"{key}.{sub}", f"is not a field of {key} in {ver}",
                                        f"use one of {', '.join(known.nested[key])}"))
    if args.get("backend", "pytorch") != "pytorch":
        issues.append(Issue(where, "backend", f"is {args['backend']!r}; the llmapi repository runs the PyTorch backend",
                            "set backend: pytorch"))
    return issues


def check_tensors(cfg: ModelConfig, profile: Profile, rel: str) -> list[Issue]:
    want = profile.pytorch.llmapi
    ver = f"TensorRT-LLM {profile.version}'s llmapi model"
    issues: list[Issue] = []
    if cfg.backend != "python":
        issues.append(Issue(rel, "backend", f"is {cfg.backend!r}, not 'python'", 'set backend: "python"'))
    for kind, declared, expected in (("input", cfg.input, want.inputs), ("output", cfg.output, want.outputs)):
        spec = {t.name: t for t in expected}
        for t in declared:
            s = spec.get(t.name)
            if s is None:
                issues.append(Issue(rel, f"{kind}[{t.name}]", f"{ver} does not declare this {kind}",
                                    f"remove it or use one of {', '.join(spec)}"))
            elif _dtype(t.data_type) != s.data_type:
                issues.append(Issue(rel, f"{kind}[{t.name}].data_type",
                                    f"is {_dtype(t.data_type)}; {ver} declares {s.data_type}", f"set {s.data_type}"))
            elif list(t.dims) != list(s.dims):
                issues.append(Issue(rel, f"{kind}[{t.name}].dims", f"is {list(t.dims)}; {ver} declares {list(s.dims)}",
                                    f"set dims: {list(s.dims)}"))
        names = {t.name for t in declared}
        for s in expected:
            if not s.optional and s.name not in names:
                issues.append(Issue(rel, f"{kind}[{s.name}]", f"{ver} needs this {kind} but it is missing",
                                    f"declare {kind} {s.name} ({s.data_type}, dims {list(s.dims)})"))
    for key in cfg.parameters:
        if key not in want.parameters:
            issues.append(Issue(rel, f"parameters[{key}]", f"{ver} does not read this key", "remove it"))
    return issues


def check_against_plan(args: dict[str, Any], plan: dict[str, Any], where: str) -> list[Issue]:
    """model.yaml against the plan it was made from: layout, limits, KV fraction, streaming."""
    def get(*path: str) -> Any:
        node: Any = plan
        for p in path:
            node = node.get(p) if isinstance(node, dict) else None
        return node

    triton = args.get(TRITON_CONFIG) if isinstance(args.get(TRITON_CONFIG), dict) else {}
    kv = args.get("kv_cache_config") if isinstance(args.get("kv_cache_config"), dict) else {}
    pairs = [
        ("tensor_parallel_size", args.get("tensor_parallel_size", 1), get("layout", "tp")),
        ("pipeline_parallel_size", args.get("pipeline_parallel_size", 1), get("layout", "pp")),
        ("max_batch_size", args.get("max_batch_size"), get("workload", "max_batch_size")),
        ("max_num_tokens", args.get("max_num_tokens"), get("workload", "max_num_tokens")),
        ("max_seq_len", args.get("max_seq_len"), get("workload", "max_seq_len")),
        ("kv_cache_config.free_gpu_memory_fraction", kv.get("free_gpu_memory_fraction"),
         get("runtime", "kv_cache_free_gpu_mem_fraction")),
        (f"{TRITON_CONFIG}.decoupled", triton.get("decoupled"), get("serving", "decoupled")),
    ]
    issues = []
    for field, have, want in pairs:
        if want is not None and have is not None and have != want:
            issues.append(Issue(where, field, f"is {have!r} but the plan has {want!r}",
                                "regenerate with planner plan --out, or re-plan for this value"))
        elif want is not None and have is None:  # LLM()'s own default would apply, not the plan's value
            issues.append(Issue(where, field, f"missing; the plan has {want!r}", f"set {field}: {want!r}"))
    return issues


def check_llmapi_model(model_dir: Path, cfg: ModelConfig, profile: Profile | None,
                       plan: dict[str, Any] | None) -> list[Issue]:
    rel = f"{model_dir.name}/config.pbtxt"
    args, issues = load_model_yaml(model_dir, rel)
    if args is None:
        return issues
    where = str(_model_yaml(model_dir).relative_to(model_dir.parent))
    if profile is None or profile.pytorch is None:
        return issues
    triton = args.get(TRITON_CONFIG)
    issues += check_triton_config(triton, profile, where)
    served, conflicts = auto_completed(cfg, triton if isinstance(triton, dict) else {}, rel)
    issues += conflicts
    issues += check_tensors(served, profile, rel)
    issues += check_llm_args(args, profile, where)
    if plan is not None:
        issues += check_against_plan(args, plan, where)
    return issues


__all__ = ["check_llmapi_model", "is_llmapi", "auto_completed"]
