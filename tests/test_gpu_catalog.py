"""The GPU catalog: every entry carries the figures the memory and performance models read, and they hang together.

Figures are checked against each other and against the architecture's known ratios, never against copies of
themselves: a typo in gpus.yaml (a sparse figure left unhalved, a bidirectional link bandwidth, a bf16 rate that
differs from fp16) fails here.
"""

from __future__ import annotations

import json
import re

import pytest

from planner import api, catalog
from planner.catalog import DATA_DIR
from planner.cli import main

GPUS = catalog.gpus()
BY_NAME = {g.name: g for g in GPUS}
NEW_GPUS = ("b300", "gb300", "rtx-pro-6000-blackwell", "rtx-5090", "h200-nvl", "l20", "dgx-spark")
# Precisions that are tensor-core compute rates; int4 is weight-only (dequantized into fp16/bf16/fp8 GEMMs).
COMPUTE = ("fp32", "fp16", "bf16", "fp8", "int8", "fp4")
MIB = 1 << 20


def ids(gpus):
    return [g.name for g in gpus]


def arch(gpu) -> str:
    major, minor = gpu.cc
    if major == 7:
        return "volta-turing"
    if major == 8:
        return "ada" if minor == 9 else "ampere"
    if major == 9:
        return "hopper"
    if major in (10, 12):
        return "blackwell"
    raise AssertionError(f"unexpected compute capability {gpu.compute_capability}")


def test_catalog_holds_the_existing_and_the_new_gpus():
    assert len(GPUS) == 26
    assert set(NEW_GPUS) <= set(BY_NAME)


@pytest.mark.parametrize("gpu", GPUS, ids=ids(GPUS))
def test_every_compute_precision_has_a_dense_peak(gpu):
    listed = [p for p in gpu.precisions if p in COMPUTE]
    assert {"fp32", "fp16"} <= set(listed)
    assert sorted(gpu.dense_tflops) == sorted(listed), "dense_tflops keys must be exactly the compute precisions"
    assert all(v > 0 for v in gpu.dense_tflops.values())
    if gpu.cc >= (8, 0):
        assert "bf16" in listed
    if gpu.cc >= (8, 9):
        assert "fp8" in listed
    if gpu.cc >= (10, 0):
        assert "fp4" in listed


@pytest.mark.parametrize("gpu", GPUS, ids=ids(GPUS))
def test_peaks_follow_the_tensor_core_ratios(gpu):
    t = gpu.dense_tflops
    if "bf16" in t:
        assert t["bf16"] == t["fp16"]
    if arch(gpu) in ("ampere", "ada", "hopper", "blackwell"):
        # TF32 runs at half the fp16 rate on every tensor-core generation that has it (L40S's datasheet
        # rounds its figures inconsistently: 183 vs 362.05 / 2 = 181.0).
        assert t["fp32"] == pytest.approx(t["fp16"] / 2, rel=0.025)
    else:
        # Volta/Turing: no TF32, fp32 is the CUDA-core rate, far below the fp16 tensor rate.
        assert t["fp32"] < t["fp16"] / 4
    if "fp8" in t:
        if gpu.compute_capability == "12.1":
            # GB10 (sm_121): FP8 measured at the FP16 rate (mmapeak, cited in gpus.yaml), the one documented exception.
            assert t["fp8"] == t["fp16"]
        else:
            # L40S's own datasheet rounds to 362.05 vs 733 (2.02x); every other entry is exact.
            assert t["fp8"] == pytest.approx(2 * t["fp16"], rel=0.025)
    if "fp4" in t:
        assert t["fp4"] >= 2 * t["fp8"]


def test_no_entry_kept_a_sparse_figure():
    """Sparse datasheet peaks are twice the dense ones; a few well-known dense values pin the halving."""
    assert BY_NAME["h100-sxm"].dense_tflops["bf16"] == pytest.approx(989.5)
    assert BY_NAME["b200"].dense_tflops["fp4"] == pytest.approx(9000)
    assert BY_NAME["a100-80gb"].dense_tflops["fp16"] == pytest.approx(312)
    assert BY_NAME["l4"].dense_tflops["fp8"] == pytest.approx(242.5)
    # Within one product family the faster part is never reported slower.
    assert BY_NAME["h100-sxm"].dense_tflops["fp8"] > BY_NAME["h100-nvl"].dense_tflops["fp8"] \
        > BY_NAME["h100-pcie"].dense_tflops["fp8"]
    assert BY_NAME["gb300"].dense_tflops["fp4"] > BY_NAME["b300"].dense_tflops["fp4"] \
        > BY_NAME["gb200"].dense_tflops["fp4"] > BY_NAME["b200"].dense_tflops["fp4"]


@pytest.mark.parametrize("gpu", GPUS, ids=ids(GPUS))
def test_bandwidth_and_links_are_plausible(gpu):
    assert 200 <= gpu.bandwidth_gb_s <= 10_000
    # Per-direction link figures: NVLink above PCIe, PCIe one of the generations' x16 rates.
    if gpu.nvlink_domain > 1:
        assert gpu.nvlink_gb_s and gpu.nvlink_latency_us
        assert gpu.nvlink_gb_s in (150, 300, 450, 900)
        assert gpu.nvlink_gb_s > (gpu.pcie_gb_s or 0)
    else:
        assert gpu.nvlink_gb_s is None
    if gpu.unified_memory:
        assert gpu.pcie_gb_s is None  # GB10's CPU-GPU link is NVLink-C2C
    else:
        assert gpu.pcie_gb_s in (16, 32, 64, 128) and gpu.pcie_latency_us
    if gpu.network_gb_s is not None:
        assert 1 <= gpu.network_gb_s <= 100 and gpu.network_latency_us
    latencies = [x for x in (gpu.nvlink_latency_us, gpu.pcie_latency_us, gpu.network_latency_us) if x]
    assert latencies == sorted(latencies), "a hop over NVLink is never slower than PCIe, PCIe never than the network"


@pytest.mark.parametrize("gpu", GPUS, ids=ids(GPUS))
def test_memory_figures(gpu):
    if not gpu.unified_memory:  # GB10's figure is CUDA's total in bytes: nvidia-smi reports none
        assert gpu.memory_bytes % MIB == 0, "nvidia-smi totals are whole MiB"
    marketed = gpu.marketing_memory_gb * 1e9
    # The driver reports a little less than the marketed capacity (decimal GB vs GiB, reserved memory),
    # never more than the marketed figure read as GiB.
    assert 0.85 * marketed <= gpu.memory_bytes <= gpu.marketing_memory_gb * (1 << 30)
    if gpu.cuda_total_bytes is not None:
        if gpu.unified_memory:  # GB10: memory_bytes already is CUDA's total
            assert gpu.cuda_total_bytes == gpu.memory_bytes
        else:
            assert gpu.cuda_total_bytes < gpu.memory_bytes
        assert gpu.cuda_total_bytes > 0.95 * gpu.memory_bytes


def test_cuda_totals_match_the_published_logs():
    # TensorRT-LLM 0.20 on H100 80GB: "CUDA total 79.18 GiB"; 0.14 on L4: "22.03 GiB" (../shared/calibration.md).
    assert round(BY_NAME["h100-sxm"].cuda_total_bytes / (1 << 30), 2) == 79.18
    assert round(BY_NAME["l4"].cuda_total_bytes / (1 << 30), 2) == 22.03


def test_unified_memory_is_only_gb10():
    unified = [g.name for g in GPUS if g.unified_memory]
    assert unified == ["dgx-spark"]
    spark = BY_NAME["dgx-spark"]
    assert spark.compute_capability == "12.1"
    assert round(spark.memory_bytes / (1 << 30), 1) == 119.7  # what CUDA reports of the 128 GB
    assert "free" in spark.notes.lower()


@pytest.mark.parametrize("name, cc", [("b300", "10.3"), ("gb300", "10.3"), ("rtx-pro-6000-blackwell", "12.0"),
                                      ("rtx-5090", "12.0"), ("dgx-spark", "12.1"), ("h200-nvl", "9.0"), ("l20", "8.9")])
def test_new_gpus_compute_capability(name, cc):
    assert BY_NAME[name].compute_capability == cc


@pytest.mark.parametrize("name", NEW_GPUS)
def test_new_gpus_carry_sources(name):
    gpu = BY_NAME[name]
    assert gpu.source and gpu.memory_source and gpu.notes
    assert re.search(r"\d+ ?MiB|bytes", gpu.memory_source)
    assert gpu.tdp_w and gpu.marketing_memory_gb


def test_fp4_and_mxfp4_kernels_are_named_for_hopper_and_blackwell():
    for gpu in GPUS:
        if arch(gpu) in ("hopper", "blackwell"):
            assert "MXFP4" in gpu.notes, gpu.name
        if arch(gpu) == "hopper":
            assert "fp4" not in gpu.precisions and "weight-only" in gpu.notes
        if gpu.cc >= (10, 0):
            assert "NVFP4" in gpu.notes


def test_every_figure_line_has_a_source_comment():
    """Each catalog number in gpus.yaml sits on a line with a comment saying where it comes from."""
    text = (DATA_DIR / "gpus.yaml").read_text(encoding="utf-8")
    fields = ("marketing_memory_gb", "memory_bytes", "bandwidth_gb_s", "compute_capability", "tdp_w",
              "nvlink_gb_s", "pcie_gb_s", "network_gb_s", "nvlink_latency_us", "pcie_latency_us",
              "network_latency_us", "cuda_total_bytes", *(f"  {p}" for p in COMPUTE))
    bare = [line for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")
            and any(line.startswith(f"    {f.strip()}:") or line.startswith(f"      {f.strip()}:") for f in fields)
            and "#" not in line]
    assert not bare, f"figures without a source comment: {bare[:3]}"


@pytest.mark.parametrize("alias, name", [
    ("B300", "b300"), ("NVIDIA B300 SXM6 AC", "b300"), ("gb300-nvl72", "gb300"),
    ("NVIDIA RTX PRO 6000 Blackwell Server Edition", "rtx-pro-6000-blackwell"),
    ("rtx-pro-6000", "rtx-pro-6000-blackwell"),
    ("NVIDIA GeForce RTX 5090", "rtx-5090"), ("H200 NVL", "h200-nvl"), ("nvidia l20", "l20"),
    ("GB10", "dgx-spark"), ("dgx_spark", "dgx-spark"), ("h200", "h200"), ("rtx 6000 ada", "rtx-6000-ada"),
])
def test_names_and_aliases_resolve(alias, name):
    assert catalog.get_gpu(alias).name == name


def test_planner_gpus_lists_every_entry(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["gpus", "--format", "json"])
    out, _ = capsys.readouterr()
    assert exc.value.code == 0
    assert {g["name"] for g in json.loads(out)} == set(BY_NAME)


@pytest.mark.parametrize("name", NEW_GPUS)
def test_a_small_model_plans_on_each_new_gpu(name):
    gpu = BY_NAME[name]
    plan = api.make_plan("llama-3.2-1b", gpus=name, max_batch_size=8, max_input_len=1024, max_output_len=256)
    assert plan.fits
    assert plan.layout.tp == plan.layout.pp == 1
    stage = plan.memory.per_gpu[0]
    assert stage.capacity_bytes == gpu.memory_bytes
    assert stage.kv_cache_bytes > 0
    # Default weights: bf16 everywhere here (all are compute capability 8.0+).
    assert plan.quantization.weights == "bf16"


@pytest.mark.parametrize("name", ["b300", "gb300", "rtx-pro-6000-blackwell", "rtx-5090", "dgx-spark"])
def test_nvfp4_plans_on_blackwell(name):
    plan = api.make_plan("llama-3.1-8b", gpus=name, quant="nvfp4", max_batch_size=8, max_input_len=1024,
                         max_output_len=256)
    assert plan.fits and plan.quantization.weights == "nvfp4"


@pytest.mark.parametrize("name", ["h200-nvl", "l20"])
def test_nvfp4_is_refused_before_blackwell(name):
    from planner.errors import InputError

    with pytest.raises(InputError, match="cannot run nvfp4"):
        api.make_plan("llama-3.1-8b", gpus=name, quant="nvfp4")
