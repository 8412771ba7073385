"""The TensorRT-LLM release a plan targets: version profiles loaded from data.

Each profile (`planner/data/trtllm/<version>.yaml`) says what that release's engine
flow offers: the checkpoint-conversion script per model family, the flags of
`convert_checkpoint.py`, `quantize.py` and `trtllm-build` with their defaults, the
Triton container that ships it, and the tensors and parameters the Triton models of
its `inflight_batcher_llm` repository declare. Emitters read the profile so that no
flag the pinned release lacks is ever written.
"""


import functools
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from planner import package_data
from planner.errors import InputError

DEFAULT_TRTLLM_VERSION = "1.2.1"
FLOWS = ("pytorch", "engine")


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


class TritonConfigSpec(_Frozen):
    """`triton_config` of model.yaml: what the llmapi model's auto-complete reads from it."""

    required: tuple[str, ...]  # keys auto_complete_config/initialize index without a default
    optional: tuple[str, ...] = ()
    # Triton's max_batch_size the release's model works with (it takes one prompt per request)
    max_batch_size: int


class LlmArgsSpec(_Frozen):
    """`LLM()` keyword arguments of the release (TorchLlmArgs) and the fields of the nested configs."""

    source: str
    arguments: tuple[str, ...]
    nested: dict[str, tuple[str, ...]]  # argument -> its fields (kv_cache_config, cuda_graph_config, ...)


class QuantizeHfSpec(_Frozen):
    """ModelOpt post-training quantization that exports a Hugging Face checkpoint (PyTorch flow)."""

    source: str
    repo: str
    script: str
    qformats: dict[str, str]  # planner weight scheme -> --qformat
    kv_cache_qformats: dict[str, str]  # planner KV dtype -> --kv_cache_qformat
    prequantized_only: tuple[str, ...] = ()  # schemes served only from a checkpoint already in them
    flags: tuple[str, ...]


class PytorchFlowSpec(_Frozen):
    """The PyTorch (LLM API) flow of a release: the llmapi model repository and LLM() arguments."""

    sources: dict[str, str]
    unverified: tuple[str, ...] = ()
    container: ContainerSpec
    # triton_backend/all_models/llmapi/tensorrt_llm: a Python model whose 1/model.yaml holds LLM() args
    llmapi: TritonModelIO
    triton_config: TritonConfigSpec
    llm_args: LlmArgsSpec
    quantize: QuantizeHfSpec
    launch_script: str  # launch_triton_server.py inside the container
    model_code_dir: str  # the release's llmapi model.py and helpers inside the container
    model_code_files: tuple[str, ...]
    native_quantization: dict[str, str] = {}  # architecture -> weight scheme of its published checkpoint
    multi_node_launcher: str  # wraps tritonserver on every MPI rank (rank 0 serves, others work)
    serve_command: str  # the OpenAI-compatible server outside Triton
    serve_flags: tuple[str, ...]
    # families the PyTorch flow of this release runs (architecture names as the catalog spells them)
    architectures: tuple[str, ...]


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
    pytorch: PytorchFlowSpec | None = None  # None: the release has no supported PyTorch flow

    @property
    def flows(self) -> tuple[str, ...]:
        """The flows this release runs, the default first."""
        return tuple(f for f in FLOWS if (f == "pytorch" and self.pytorch) or (f == "engine" and self.engine_flow))

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
        """Whether the engine flow can convert this family: the release's contract data decides
        (planner/data/trtllm/contract/<version>/); the profile's own list where there is none."""
        families = converter_families(self.version)
        if families is not None:
            return architecture.lower() in families
        return architecture.lower() in self.convert.scripts


def _data_dir():
    return package_data.path("trtllm")


@functools.cache
def converter_families(version: str) -> frozenset[str] | None:
    """The families some convert_checkpoint.py of the release converts (what
    `planner.engine_contract.load_contract(version).converter(family)` finds), or None without
    contract data. Read from the data without building the contract (planner.engine_contract):
    every plan asks it to choose its flow."""
    folder = package_data.path("trtllm", "contract", version)
    if not folder.is_dir():
        return None
    names = sorted(f.name for f in folder.iterdir() if f.name.startswith("convert-") and f.name.endswith(".yaml"))
    return frozenset(family for name in names
                     for family in package_data.load("trtllm", "contract", version, name).get("families", ()))


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
    data = package_data.load("trtllm", f"{version}.yaml")
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


def _releases_with(flow: str) -> list[str]:
    return [v for v in available_versions() if flow in load_profile(v).flows]


def choose_flow(profile: Profile, architecture: str, requested: str | None = None) -> tuple[str, str]:
    """The flow a plan takes and why: the one asked for, else the release's default unless the
    family runs only in the other. InputError when the release or the family cannot run it."""
    arch = architecture.lower()
    runs = {
        "engine": profile.engine_flow and profile.supports(arch),
        "pytorch": profile.pytorch is not None and arch in profile.pytorch.architectures,
    }
    version = f"TensorRT-LLM {profile.version}"
    if requested is not None:
        requested = requested.lower()
        if requested not in FLOWS:
            raise InputError(f"unknown flow {requested!r}; choose one of {', '.join(FLOWS)}")
        if requested not in profile.flows:
            others = ", ".join(v for v in _releases_with(requested) if v != profile.version)
            why = " (its PyTorch backend was experimental)" if requested == "pytorch" else ""
            raise InputError(f"{version} has no supported {requested} flow{why}; --flow {requested} needs "
                             f"--trtllm-version {others}")
        if not runs[requested]:
            raise InputError(f"{version}'s {requested} flow cannot run {architecture}: "
                             f"{_why_not(profile, arch, requested)}{_instead(profile, arch, requested)}")
        return requested, f"--flow {requested}"
    default = profile.flows[0]
    if runs[default]:
        if len(profile.flows) == 1:
            return default, f"{version} has the {default} flow only"
        other = next(f for f in profile.flows if f != default)
        if not runs[other]:
            return default, (f"the default flow of {version}, and the only one that runs {architecture} "
                             f"(its {other} flow: {_why_not(profile, arch, other)})")
        return default, f"the default flow of {version}"
    for other in profile.flows[1:]:
        if runs[other]:
            why = _why_not(profile, arch, default)
            return other, f"{architecture} runs only in the {other} flow of {version} (its {default} flow: {why})"
    raise InputError(f"{version} cannot run {architecture}: {_why_not(profile, arch, default)}"
                     f"{_instead(profile, arch, default)}")


def _why_not(profile: Profile, arch: str, flow: str) -> str:
    if flow == "engine":
        if arch in profile.convert.unsupported:
            return " ".join(profile.convert.unsupported[arch].split())
        return "no checkpoint converter (convert_checkpoint.py) for it, so no engine can be built"
    return "not among the families its PyTorch backend lists as supported"


def _instead(profile: Profile, arch: str, flow: str) -> str:
    """Where the family runs instead: the other flow of this release, or a release that has it."""
    other = "pytorch" if flow == "engine" else "engine"
    name = "the PyTorch flow" if other == "pytorch" else "the engine flow"
    for version in [profile.version] + [v for v in available_versions() if v != profile.version]:
        p = load_profile(version)
        ok = (p.pytorch is not None and arch in p.pytorch.architectures) if other == "pytorch" \
            else (p.engine_flow and p.supports(arch))
        if ok:
            return f"; it runs in {name} (--flow {other} --trtllm-version {version})"
    return ""


UNQUANTIZED = ("fp16", "bf16", "fp32")
# KvCacheConfig.dtype "auto" follows the model's dtype (fp32 models keep an fp32 cache)
KV_UNQUANTIZED = ("fp16", "bf16", "fp32")


def check_flow_quantization(profile: Profile, flow: str, weights: str, kv_cache: str,
                            checkpoint_weights: str | None = None) -> None:
    """InputError when the flow cannot serve the quantization (the engine flow's own limits are
    checked by its emitters); the PyTorch flow loads 16-bit checkpoints, ModelOpt's exports and the
    pre-quantized formats it supports (`checkpoint_weights`: the checkpoint's own scheme, if any)."""
    if flow != "pytorch" or profile.pytorch is None:
        return
    q = profile.pytorch.quantize
    if weights in q.prequantized_only and checkpoint_weights != weights:
        raise InputError(f"TensorRT-LLM {profile.version}'s PyTorch flow serves {weights} only from a checkpoint "
                         f"published in it; this checkpoint is not")
    weight_ok = tuple(UNQUANTIZED) + tuple(q.qformats) + tuple(q.prequantized_only)
    kv_ok = KV_UNQUANTIZED + tuple(q.kv_cache_qformats)
    version = f"TensorRT-LLM {profile.version}'s PyTorch flow"
    if weights not in weight_ok:
        raise InputError(f"{version} cannot serve {weights} weights (it runs {', '.join(weight_ok)}); "
                         f"use --flow engine for {weights}")
    if kv_cache not in kv_ok:
        raise InputError(f"{version} cannot hold a {kv_cache} KV cache (it holds {', '.join(kv_ok)}); "
                         f"use --flow engine for a {kv_cache} KV cache")
