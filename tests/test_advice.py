"""What a plan that does not fit advises: every suggestion must be one the planner itself would then make."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner import catalog
from planner.api import make_plan
from planner.errors import InputError


def test_forced_layout_that_does_not_fit_names_the_layout_that_fits_on_the_same_fleet():
    # 70B bf16 at TP 2 on H100s: the KV pool is short, but the same 8 GPUs fit TP 4 (the unforced plan).
    free = make_plan("llama-3.1-70b", "h100x8")
    forced = make_plan("llama-3.1-70b", "h100x8", tp=2, pp=1)
    assert free.fits and not forced.fits
    want = f"TP {free.layout.tp} × PP {free.layout.pp}"
    assert any("without --tp/--pp" in a and want in a for a in forced.advice), forced.advice
    # a bigger fleet is no answer when this one fits without the forced sizes
    assert not any(a.startswith("--gpus") for a in forced.advice), forced.advice


def test_bigger_fleet_advice_names_the_layout_a_plan_on_that_fleet_chooses():
    plan = make_plan("llama-3.1-405b", "h100x8")
    assert not plan.fits
    [line] = [a for a in plan.advice if a.startswith("--gpus")]
    m = re.match(r"--gpus (\S+) fits with TP (\d+) × PP (\d+)", line)
    assert m, line
    follow = make_plan("llama-3.1-405b", m.group(1))
    assert follow.fits
    assert (follow.layout.tp, follow.layout.pp) == (int(m.group(2)), int(m.group(3))), (line, follow.layout)


def test_lighter_quantization_advice_names_the_layout_that_quantization_gives():
    plan = make_plan("llama-3.1-405b", "h100x8")
    [line] = [a for a in plan.advice if a.startswith("--quant")]
    m = re.match(r"--quant (\S+) fits on TP (\d+) × PP (\d+)", line)
    assert m, line
    follow = make_plan("llama-3.1-405b", "h100x8", quant=m.group(1))
    assert follow.fits
    assert (follow.layout.tp, follow.layout.pp) == (int(m.group(2)), int(m.group(3))), (line, follow.layout)


_FLAGS = {"--max-batch-size": ("max_batch_size", int), "--quant": ("quant", str), "--gpus": ("gpus", str),
          "--ttft-ms": ("ttft_ms", float), "--tpot-ms": ("tpot_ms", float)}


def _follow(line: str) -> dict:
    """The make_plan arguments an advice line tells the user to add."""
    words = re.split(r" (?:fits|meets) ", line, maxsplit=1)[0].split()
    assert len(words) % 2 == 0 and words, line
    return {_FLAGS[flag][0]: _FLAGS[flag][1](value) for flag, value in zip(words[::2], words[1::2], strict=True)}


CASES = [
    # KV pool short: a smaller batch, fp8 with a smaller batch, more GPUs
    ("llama-3.1-8b", "l4x1", {}),
    # ... and a TPOT limit no batch of bf16 meets on one L4: only fp8 and more GPUs are advised
    ("llama-3.1-8b", "l4x1", {"request_rate": 5, "ttft_ms": 500, "tpot_ms": 40}),
    ("llama-3.1-8b", "l4x1", {"tpot_ms": 100}),
    # static memory short at 100k-token prompts: fp8 fits only with a smaller batch
    ("llama-3.1-405b", "h100x8", {"max_input_len": 100_000}),
    # fp8 fits a smaller batch, int4_awq the whole one: both are said
    ("llama-3.1-70b", "dgx-sparkx1", {}),
    # checkpoints stored quantized (block FP8): no other --quant, which the planner refuses for them
    ("deepseek-r1", "h100x8", {}),
    ("kimi-k2", "h100x8", {}),
]


@pytest.mark.parametrize("model,gpus,asked", CASES)
def test_every_advice_line_followed_gives_a_plan_that_fits(model, gpus, asked):
    plan = make_plan(model, gpus, **asked)
    assert not plan.fits and plan.advice
    for line in plan.advice:
        follow = make_plan(model, **{"gpus": gpus, **asked, **_follow(line)})
        assert follow.fits, (line, follow.advice)


def test_a_smaller_batch_is_advised_within_the_limits_only():
    free = make_plan("llama-3.1-8b", "l4x1")
    limited = make_plan("llama-3.1-8b", "l4x1", ttft_ms=500, tpot_ms=40)
    assert any(re.match(r"--max-batch-size \d+ fits on", a) for a in free.advice), free.advice
    # one L4 reads bf16 Llama-3.1-8B's weights in more than 40 ms: no batch meets the limit
    assert not any(a.startswith("--max-batch-size") for a in limited.advice), limited.advice
    [quant] = [a for a in limited.advice if a.startswith("--quant")]
    assert "within the limits" in quant and _follow(quant)["quant"] == "fp8", quant


def test_a_lighter_scheme_for_a_smaller_batch_does_not_hide_one_that_fits_the_batch():
    plan = make_plan("llama-3.1-70b", "dgx-sparkx1")
    quant = [a for a in plan.advice if a.startswith("--quant")]
    assert [_follow(a).get("max_batch_size") is not None for a in quant] == [True, False], quant
    assert [_follow(a)["quant"] for a in quant] == ["fp8", "int4_awq"], quant


def test_a_checkpoint_stored_quantized_is_not_advised_another_quantization():
    for model in ("deepseek-r1", "kimi-k2"):
        plan = make_plan(model, "h100x8")
        assert not plan.fits and not any(a.startswith("--quant") for a in plan.advice), (model, plan.advice)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=st.sampled_from([m.name for m in catalog.models()]),
       gpu=st.sampled_from([g.name for g in catalog.gpus()]), gpus=st.sampled_from([1, 2, 4, 8]),
       batch=st.sampled_from([1, 8, 64, 256]), prompt=st.sampled_from([512, 2048, 8192, 32768]),
       tpot=st.sampled_from([None, None, 20.0, 60.0]), ttft=st.sampled_from([None, None, 500.0, 2000.0]),
       rate=st.sampled_from([None, None, 2.0, 50.0]), objective=st.sampled_from(["min-gpus", "throughput", "latency"]))
def test_advice_followed_fits_for_any_model_fleet_and_limits(model, gpu, gpus, batch, prompt, tpot, ttft, rate,
                                                             objective):
    asked = {"max_batch_size": batch, "max_input_len": prompt, "tpot_ms": tpot, "ttft_ms": ttft,
             "request_rate": rate, "objective": objective}
    fleet = f"{gpu}x{gpus}"
    try:
        plan = make_plan(model, fleet, **asked)
    except InputError:  # a context longer than the model's, a scheme the GPU cannot run, ...
        return
    for line in [] if plan.fits else plan.advice:
        follow = make_plan(model, **{"gpus": fleet, **asked, **_follow(line)})
        assert follow.fits, (line, follow.advice)
