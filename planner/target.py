"""The TensorRT-LLM release a plan targets: version profiles loaded from data.

Each profile (`planner/data/trtllm/<version>.yaml`) says what that release's engine
flow offers: the checkpoint-conversion script per model family, the flags of
`convert_checkpoint.py`, `quantize.py` and `trtllm-build` with their defaults, the
Triton container that ships it, and the tensors and parameters the Triton models of
its `inflight_batcher_llm` repository declare. Emitters read the profile so that no
flag the pinned release lacks is ever written.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from planner.errors import InputError
from planner.yamlio import load_yaml

DEFAULT_TRTLLM_VERSION = "0.19.0"



class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Tensor(_Frozen):
    """One input or output of a Triton model, as config.pbtxt declares it."""

    name: str
    data_type: str  # inference.DataType name, e.g. TYPE_INT32
    dims: tuple[int, ...]
    optional: bool = False
    reshape: tuple[int, ...] | None = None  # reshape: { shape: [...] }
    ragged: bool = False  # allow_ragged_batch


class TritonModelIO(_Frozen):
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    parameters: tuple[str, ...] = ()  # keys the model reads from config.pbtxt parameters

    def input(self, name: str) -> Tensor | None:
        return next((t for t in self.inputs if t.name == name), None)

    def output(self, name: str) -> Tensor | None:
        return next((t for t in self.outputs if t.name == name), None)


class EnsembleSpec(_Frozen):
    """The text-in/text-out ensemble: its own tensors and how each step is wired."""

    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    # step model -> {step tensor name: ensemble tensor name}; names starting with "_" are internal
    input_maps: dict[str, dict[str, str]]
    output_maps: dict[str, dict[str, str]]


class TritonSpec(_Frozen):
    source: str
    backend: str = "tensorrtllm"
    # launch_triton_server.py: the repository and tag that ship it, and its path there
    launch_repo: str
    launch_script: str
    tensorrt_llm: TritonModelIO
    preprocessing: TritonModelIO
    postprocessing: TritonModelIO
    tensorrt_llm_bls: TritonModelIO
    ensemble: EnsembleSpec


class ConvertSpec(_Frozen):
    # model architecture (as the catalog names it) -> script path inside a TensorRT-LLM checkout
    scripts: dict[str, str]
    # architectures the engine flow of this release cannot build, with the reason
    unsupported: dict[str, str] = {}
    flags: tuple[str, ...]
    dtypes: tuple[str, ...] = ("float16", "bfloat16", "float32")


class QuantizeSpec(_Frozen):
    script: str
    # planner weight scheme -> --qformat value
    qformats: dict[str, str]
    kv_cache_dtypes: tuple[str, ...]
    flags: dict[str, Any]  # flag -> default (None: no default)


class BuildSpec(_Frozen):
    command: str = "trtllm-build"
    flags: dict[str, Any]  # flag -> default (None: no default / required)


class ContainerSpec(_Frozen):
    image: str
    source: str
    verified: bool


class Profile(_Frozen):
    version: str
    engine_flow: bool
    git_tag: str
    sources: dict[str, str]
    unverified: tuple[str, ...] = ()  # facts in this profile not checked against the release tag
    container: ContainerSpec
    convert: ConvertSpec
    quantize: QuantizeSpec
    build: BuildSpec
    triton: TritonSpec
    notes: tuple[str, ...] = Field(default=())

    def convert_script(self, architecture: str) -> str:
        """The convert_checkpoint.py of a model family; InputError when the engine flow lacks it."""
        key = architecture.lower()
        if key in self.convert.unsupported:
            raise InputError(
                f"TensorRT-LLM {self.version}'s engine flow (trtllm-build) cannot build {architecture}: "
                f"{self.convert.unsupported[key]}"
            )
        if key not in self.convert.scripts:
            known = ", ".join(sorted(self.convert.scripts))
            raise InputError(
                f"TensorRT-LLM {self.version} profile has no checkpoint converter for architecture "
                f"{architecture!r}; known: {known}"
            )
        return self.convert.scripts[key]

    def supports(self, architecture: str) -> bool:
        return architecture.lower() in self.convert.scripts


def _data_dir():
    # planner/data is package data of `planner`, not a package of its own
    return resources.files("planner").joinpath("data", "trtllm")


def available_versions() -> list[str]:
    return list(_versions())


@functools.cache
def _versions() -> tuple[str, ...]:  # package data: read once per process
    files = _data_dir().iterdir()
    names = [f.name[: -len(".yaml")] for f in files if f.name.endswith(".yaml")]
    return tuple(sorted(names, key=_version_key))


def _version_key(version: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in version.split("."))


@functools.cache
def load_profile(version: str = DEFAULT_TRTLLM_VERSION) -> Profile:
    versions = available_versions()
    if version not in versions:
        raise InputError(
            f"unknown TensorRT-LLM version {version!r}; available: {', '.join(versions)}"
        )
    text = _data_dir().joinpath(f"{version}.yaml").read_text(encoding="utf-8")
    data = load_yaml(text)
    try:
        return Profile.model_validate(data)
    except ValueError as exc:  # a broken data file is a bug in the package, not user input
        raise RuntimeError(f"profile {version}.yaml is malformed: {exc}") from exc


def check_version(version: str) -> None:
    """Raise InputError unless a profile exists for `version`. Only the file names are read: loading
    the profile (YAML and validation) is the emitters' work, and a fifth of a cold `planner plan`."""
    versions = available_versions()
    if version not in versions:
        raise InputError(f"unknown TensorRT-LLM version {version!r}; available: {', '.join(versions)}")
