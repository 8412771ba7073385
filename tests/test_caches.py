"""The memory model's caches never hand one input's result to another.

Model specs keep their hash outside the instance and the layout cache matches a GPU by identity;
these are the ways a cache could go stale: a spec copied with a change, a GPU spec equal in name
but not in memory, a dead spec whose id is reused.
"""

from __future__ import annotations

import gc

from planner import catalog
from planner.memory import layout_memory
from planner.specs import RuntimeProfile, Workload

WL = Workload(max_batch_size=8, max_input_len=1024, max_output_len=256, max_num_tokens=8192)


def test_a_changed_copy_of_a_model_gets_its_own_hash_and_memory():
    base = catalog.get_model("llama-3.1-8b")
    before = layout_memory(base, "bf16", "bf16", 1, 1, WL, catalog.get_gpu("h100"), RuntimeProfile())
    wider = base.model_copy(update={"intermediate_size": base.intermediate_size * 2})
    assert hash(wider) != hash(base)
    after = layout_memory(wider, "bf16", "bf16", 1, 1, WL, catalog.get_gpu("h100"), RuntimeProfile())
    assert after[0].weights_bytes > before[0].weights_bytes
    # an unchanged copy is equal, hashes alike, and may share the cached result
    same = base.model_copy()
    assert same == base and hash(same) == hash(base)
    assert layout_memory(same, "bf16", "bf16", 1, 1, WL, catalog.get_gpu("h100"), RuntimeProfile()) == before


def test_a_model_hash_equals_a_fresh_computation_after_ids_are_reused():
    base = catalog.get_model("llama-3.1-8b")
    for layers in range(1, 40):  # short-lived copies: their ids are reused, their hashes must not be
        copy = base.model_copy(update={"num_layers": layers})
        fields = tuple(copy.__dict__[name] for name in type(copy).model_fields)
        assert hash(copy) == hash(fields)
        del copy
        gc.collect()


def test_gpus_alike_in_name_but_not_in_memory_get_their_own_memory():
    model = catalog.get_model("llama-3.1-8b")
    h100 = catalog.get_gpu("h100")
    half = h100.model_copy(update={"memory_bytes": h100.memory_bytes // 2, "cuda_total_bytes": None})
    full = layout_memory(model, "bf16", "bf16", 1, 1, WL, h100, RuntimeProfile())[0]
    small = layout_memory(model, "bf16", "bf16", 1, 1, WL, half, RuntimeProfile())[0]
    assert small.capacity_bytes == h100.memory_bytes // 2 and full.capacity_bytes == h100.memory_bytes
    assert small.kv_cache_bytes < full.kv_cache_bytes
    assert small.weights_bytes == full.weights_bytes  # the terms no GPU figure enters are shared


def test_cached_stages_keep_their_own_index_and_first_layer():
    model = catalog.get_model("llama-3.1-70b")  # 80 layers: PP 4 gives 20 each, the middle stages alike
    stages = layout_memory(model, "bf16", "bf16", 2, 4, WL, catalog.get_gpu("h100"), RuntimeProfile())
    assert [s.pp_stage for s in stages] == [0, 1, 2, 3]
    assert [s.first_layer for s in stages] == [0, 20, 40, 60]
    again = layout_memory(model, "bf16", "bf16", 2, 4, WL, catalog.get_gpu("h100"), RuntimeProfile())
    assert again == stages and again is not stages


def test_plans_with_the_same_limits_share_one_workload_and_runtime_record():
    """The cache keys then match by identity; different limits still get records of their own."""
    from planner.api import make_plan, make_workload

    assert make_workload(64, 2048, 512, None) is make_workload(64, 2048, 512, None)
    assert make_workload(64, 2048, 512, None) is not make_workload(32, 2048, 512, None)
    a = make_plan("llama-3.1-8b", "h100x1")
    b = make_plan("qwen2.5-7b", "l40sx1")
    c = make_plan("llama-3.1-8b", "h100x1", kv_cache_free_gpu_mem_fraction=0.8)
    assert a.runtime == b.runtime and a.runtime != c.runtime
    assert c.runtime.kv_cache_free_gpu_mem_fraction == 0.8
