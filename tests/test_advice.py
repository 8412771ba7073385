"""What a plan that does not fit advises: every suggestion must be one the planner itself would then make."""

from __future__ import annotations

import re

from planner.api import make_plan


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
