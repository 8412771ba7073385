"""Turn a generated model repository into one a CPU-only Triton can serve.

Only the ``tensorrt_llm`` model changes: it becomes the Python stand-in with the
same inputs, outputs, batching and decoupled policy (its parameters stay, unused).
Tokenizer paths are pointed at a local tokenizer, GPU instance groups become CPU
ones, and models that cannot load without a GPU stack are left out, each with a
note saying so.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

TRITON_MODELS = Path(__file__).resolve().parent.parent / "triton_models"
STANDIN_SOURCE = TRITON_MODELS / "tensorrt_llm_standin" / "model.py"
# The PyTorch flow's llmapi tensorrt_llm model (a Python model whose 1/model.yaml holds LLM() args)
LLMAPI_STANDIN_SOURCE = TRITON_MODELS / "llmapi_standin" / "model.py"
MODEL_YAML = "model.yaml"
TRT_MODEL = "tensorrt_llm"
BLS_MODEL = "tensorrt_llm_bls"
DELAY_PARAMETER = "standin_token_delay_ms"


class RepositoryError(ValueError):
    """The repository cannot be prepared for a rehearsal."""


def read_config(path: Path) -> mc.ModelConfig:
    text = path.read_text()
    if "${" in text:
        raise RepositoryError(f"{path} still has unfilled ${{...}} template placeholders")
    try:
        return text_format.Parse(text, mc.ModelConfig())
    except text_format.ParseError as exc:
        raise RepositoryError(f"{path}: not a valid model config: {exc}") from exc


def write_config(path: Path, config: mc.ModelConfig) -> None:
    path.write_text(text_format.MessageToString(config))


def _version_dir(model_dir: Path) -> Path:
    versions = sorted(
        (p for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name)
    )
    return versions[-1] if versions else model_dir / "1"


def _cpu_only(config: mc.ModelConfig) -> bool:
    changed = False
    for group in config.instance_group:
        if group.kind in (mc.ModelInstanceGroup.KIND_GPU, mc.ModelInstanceGroup.KIND_AUTO) or group.gpus:
            group.kind = mc.ModelInstanceGroup.KIND_CPU
            del group.gpus[:]
            changed = True
    return changed


def _swap_trt(model_dir: Path, config: mc.ModelConfig, token_delay_ms: float) -> None:
    config.backend = "python"
    config.platform = ""
    config.parameters[DELAY_PARAMETER].string_value = f"{token_delay_ms:g}"
    version = _version_dir(model_dir)
    # Engines or other backend files are of no use to the stand-in.
    shutil.rmtree(version, ignore_errors=True)
    version.mkdir(parents=True)
    shutil.copy2(STANDIN_SOURCE, version / "model.py")


def is_llmapi(model_dir: Path, config: mc.ModelConfig) -> bool:
    return config.backend == "python" and (_version_dir(model_dir) / MODEL_YAML).is_file()


def _swap_llmapi(model_dir: Path, config: mc.ModelConfig, tokenizer_dir: Path | None, token_delay_ms: float) -> None:
    """The stand-in replaces the release's model.py; model.yaml keeps its triton_config (so the
    auto-complete contract is exercised) and names the local tokenizer instead of the checkpoint."""
    import yaml

    version = _version_dir(model_dir)
    path = version / MODEL_YAML
    try:
        args = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise RepositoryError(f"{path}: not readable YAML: {exc}") from exc
    if not isinstance(args, dict):
        raise RepositoryError(f"{path}: not a mapping of LLM() arguments")
    if tokenizer_dir is not None:
        args["model"] = str(Path(tokenizer_dir).resolve())
        args.pop("tokenizer", None)
    for stale in version.glob("*.py"):
        stale.unlink()
    shutil.copy2(LLMAPI_STANDIN_SOURCE, version / "model.py")
    path.write_text(yaml.safe_dump(args, sort_keys=False), encoding="utf-8")
    config.parameters[DELAY_PARAMETER].string_value = f"{token_delay_ms:g}"


def prepare(
    source: Path,
    dest: Path,
    tokenizer_dir: Path | None,
    token_delay_ms: float = 0.0,
) -> list[str]:
    """Copy ``source`` to ``dest`` ready for a CPU rehearsal; return notes on what was changed."""
    source, dest = Path(source), Path(dest)
    if not (source / TRT_MODEL / "config.pbtxt").is_file():
        raise RepositoryError(f"{source} has no {TRT_MODEL}/config.pbtxt")
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("*.engine", "__pycache__"))
    notes = [f"{TRT_MODEL} replaced by the CPU stand-in (same tensors and decoupled policy)"]
    for config_path in sorted(dest.glob("*/config.pbtxt")):
        model_dir = config_path.parent
        config = read_config(config_path)
        name = config.name or model_dir.name
        if name == BLS_MODEL and not _bls_loadable(model_dir):
            shutil.rmtree(model_dir)
            notes.append(f"{BLS_MODEL} left out: its model code needs torch, not installed here")
            continue
        if name == TRT_MODEL and is_llmapi(model_dir, config):
            _swap_llmapi(model_dir, config, tokenizer_dir, token_delay_ms)
            notes[0] = f"{TRT_MODEL} (llmapi) replaced by the CPU stand-in (same tensors, model.yaml's triton_config)"
        elif name == TRT_MODEL:
            _swap_trt(model_dir, config, token_delay_ms)
        if tokenizer_dir is not None and "tokenizer_dir" in config.parameters:
            config.parameters["tokenizer_dir"].string_value = str(Path(tokenizer_dir).resolve())
        if _cpu_only(config):
            notes.append(f"{name}: GPU instance groups run as CPU instances")
        if config.backend == "python" and not (_version_dir(model_dir) / "model.py").is_file():
            raise RepositoryError(
                f"{name}: Python backend model without {_version_dir(model_dir).name}/model.py"
            )
        write_config(config_path, config)
    return notes


def _bls_loadable(model_dir: Path) -> bool:
    """The planner's BLS model runs anywhere; NVIDIA's imports torch, which a rehearsal may lack."""
    source = _version_dir(model_dir) / "model.py"
    if not source.is_file():
        return False
    needs_torch = re.search(r"^\s*(import|from)\s+torch\b", source.read_text(errors="replace"), re.MULTILINE)
    return not needs_torch or importlib.util.find_spec("torch") is not None
