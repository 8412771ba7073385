"""Invariants of the memory model (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from planner import catalog
from planner.layout import structural_reason
from planner.memory import kv_bytes_per_token, layout_memory, stage_weight_bytes
from planner.quant import SCHEMES, WEIGHT_SCHEMES
from planner.specs import Fleet, RuntimeProfile, Workload

MODELS = [m.name for m in catalog.models()]
models = st.sampled_from(MODELS).map(catalog.get_model)
quants = st.sampled_from([q for q in WEIGHT_SCHEMES if q != "fp32"])
GPU = catalog.get_gpu("b200")


def _max_stage_weights(model, quant, tp, pp):
    fleet = Fleet(gpu=GPU, gpus_per_node=64, nodes=4)
    wl = Workload(max_batch_size=1, max_input_len=16, max_output_len=16, max_num_tokens=16)
    return max(s.weights_bytes for s in layout_memory(model, quant, "fp8", tp, pp, wl, fleet.gpu, RuntimeProfile()))


@settings(max_examples=150, deadline=None)
@given(models, quants, st.sampled_from([1, 2, 4, 8]), st.integers(1, 16))
def test_more_tp_never_needs_more_weights_per_gpu(model, quant, tp, pp):
    pp = min(pp, model.num_layers)
    assert _max_stage_weights(model, quant, 2 * tp, pp) <= _max_stage_weights(model, quant, tp, pp)


@settings(max_examples=150, deadline=None)
@given(models, quants, st.sampled_from([1, 2, 4, 8]), st.integers(1, 15))
def test_more_pp_never_needs_more_weights_per_gpu(model, quant, tp, pp):
    if pp + 1 > model.num_layers:
        return
    assert _max_stage_weights(model, quant, tp, pp + 1) <= _max_stage_weights(model, quant, tp, pp)


@settings(max_examples=200, deadline=None)
@given(models, quants, st.sampled_from([1, 2, 4, 8]))
def test_quantization_never_increases_weights(model, quant, tp):
    half = stage_weight_bytes(model, "bf16", tp, 0, model.num_layers, True, True)
    assert stage_weight_bytes(model, quant, tp, 0, model.num_layers, True, True) <= half


@settings(max_examples=100, deadline=None)
@given(models, st.sampled_from([1, 2, 4, 8, 16]), st.integers(1, 200))
def test_kv_per_token_shrinks_with_tp_and_halves_in_fp8(model, tp, layers):
    assert kv_bytes_per_token(model, layers, 2 * tp, "bf16") <= kv_bytes_per_token(model, layers, tp, "bf16")
    assert 2 * kv_bytes_per_token(model, layers, tp, "fp8") == kv_bytes_per_token(model, layers, tp, "bf16")


@settings(max_examples=100, deadline=None)
@given(models, st.sampled_from(["bf16", "fp8", "int4_awq"]), st.sampled_from(["h100", "l40s", "a100-80gb"]),
       st.integers(1, 256), st.integers(1, 4096), st.integers(1, 2048))
def test_a_fitting_plan_fits_its_gpus(model, quant, gpu, batch, inp, out):
    from planner.api import make_plan
    from planner.errors import InputError

    try:
        plan = make_plan(model, f"{gpu}x8", quant=quant, max_batch_size=batch, max_input_len=inp, max_output_len=out)
    except InputError:
        return  # e.g. a sequence longer than the model's context, fp8 on an A100
    if plan.fits:
        for s in plan.memory.per_gpu:
            assert s.total_bytes <= s.capacity_bytes
            assert s.weights_bytes + s.activation_bytes + s.overhead_bytes < s.capacity_bytes
        assert plan.kv_cache.max_tokens >= plan.kv_cache.required_tokens
        assert plan.layout.tp * plan.layout.pp * plan.layout.replicas <= plan.fleet.total_gpus
        if plan.target.flow == "pytorch":  # the graphs it emits fit in what every stage's pool leaves
            sizes = plan.runtime.cuda_graph_batch_sizes
            assert sizes == sorted(set(sizes)) and sizes[-1] <= plan.workload.max_batch_size
            for s in plan.memory.per_gpu:
                assert s.cuda_graph_bytes <= s.free_bytes - s.kv_cache_bytes and s.cuda_graph_max_batch >= sizes[-1]
        assert structural_reason(model, quant, plan.layout.tp, plan.layout.pp,
                                 Fleet(gpu=catalog.get_gpu(gpu), gpus_per_node=8), plan.layout.ep or 1,
                                 plan.layout.attention_dp, plan.target.flow, plan.target.trtllm_version) is None


@settings(max_examples=60, deadline=None)
@given(models, st.sampled_from(["bf16", "fp8"]), st.sampled_from(["h100", "h200", "l40s"]),
       st.integers(1, 4096), st.sampled_from([0.9, 0.95, 0.99]), st.sampled_from([1, 2, 4, 8]))
def test_the_graphs_a_pytorch_plan_captures_fit_and_are_cut_only_where_they_must_be(model, quant, gpu, batch,
                                                                                   fraction, tp):
    from planner.api import make_plan
    from planner.errors import InputError
    from planner.memory.pytorch import cuda_graph_batch_sizes, cuda_graph_bytes

    try:
        plan = make_plan(model, f"{gpu}x8", quant=quant, max_batch_size=batch, max_input_len=128, max_output_len=128,
                         kv_cache_free_gpu_mem_fraction=fraction, flow="pytorch", tp=tp, pp=1)
    except InputError:
        return  # a layout the model cannot take, a scheme the GPU cannot run
    (stage,) = plan.memory.per_gpu
    if stage.free_bytes <= 0:
        return
    covering = list(cuda_graph_batch_sizes(RuntimeProfile(flow="pytorch", cuda_graphs_cover_batch=True), batch))
    default = list(cuda_graph_batch_sizes(RuntimeProfile(flow="pytorch"), batch))
    sizes = plan.runtime.cuda_graph_batch_sizes
    assert covering[-1] == batch and stage.cuda_graph_max_batch == sizes[-1]
    room = stage.free_bytes - stage.kv_cache_bytes
    w = plan.workload
    workload = Workload(max_batch_size=w.max_batch_size, max_input_len=w.max_input_len,
                        max_output_len=w.max_output_len, max_num_tokens=w.max_num_tokens)

    def need(kept: list[int]) -> int:
        rt = RuntimeProfile(flow="pytorch", cuda_graph_batch_sizes=tuple(kept))
        return cuda_graph_bytes(model, quant, tp, workload, rt, True, attention_dp=plan.layout.attention_dp)

    assert stage.cuda_graph_bytes == need(sizes)
    if sizes == covering:
        assert need(covering) <= room  # nothing was cut: the whole set fits
    else:  # cut: the next size up would not have fitted (or the default set is all that is left)
        assert sizes == default or (sizes == covering[:len(sizes)] and sizes[-1] > 128)
        assert need(covering[:len(sizes) + 1]) > room
    if plan.fits:
        assert stage.cuda_graph_bytes <= room


def test_schemes_cover_the_cli_choices():
    assert set(SCHEMES) == set(WEIGHT_SCHEMES)


@settings(max_examples=100, deadline=None)
@given(models, st.sampled_from(["bf16", "fp8", "int4_awq"]), st.sampled_from([1, 2, 4, 8]), st.sampled_from([1, 2]),
       st.sampled_from(["engine", "pytorch"]), st.integers(1, 512), st.integers(1, 8), st.integers(1, 4))
def test_a_larger_batch_never_frees_memory(model, quant, tp, pp, flow, batch, more, beam):
    pp = min(pp, model.num_layers)
    rt = RuntimeProfile(flow=flow)

    def stages(b):
        wl = Workload(max_batch_size=b, max_input_len=512, max_output_len=512, max_num_tokens=2048, max_beam_width=beam)
        return layout_memory(model, quant, "fp8", tp, pp, wl, GPU, rt)

    for small, large in zip(stages(batch), stages(batch * more), strict=True):
        for term in ("activation_bytes", "runtime_buffers_bytes", "decoder_bytes", "overhead_bytes",
                     "cuda_graph_bytes"):
            assert getattr(large, term) >= getattr(small, term), term
        assert large.free_bytes <= small.free_bytes
        assert large.kv_tokens <= small.kv_tokens


@settings(max_examples=100, deadline=None)
@given(models, st.sampled_from(["bf16", "fp8", "int4_awq"]), st.sampled_from([1, 2, 4]),
       st.sampled_from(["engine", "pytorch"]))
def test_more_tp_never_needs_more_weights_activations_or_buffers_per_gpu(model, quant, tp, flow):
    wl = Workload(max_batch_size=64, max_input_len=1024, max_output_len=1024, max_num_tokens=4096)
    rt = RuntimeProfile(flow=flow)
    one = layout_memory(model, quant, "fp8", tp, 1, wl, GPU, rt)[0]
    two = layout_memory(model, quant, "fp8", 2 * tp, 1, wl, GPU, rt)[0]
    for term in ("weights_bytes", "activation_bytes", "runtime_buffers_bytes", "decoder_bytes", "kv_bytes_per_token"):
        assert getattr(two, term) <= getattr(one, term), term
