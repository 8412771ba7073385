"""The busiest EP rank's share of the routed tokens (planner/perf/routing.py)."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner import catalog
from planner.perf.factors import routing_alpha
from planner.perf.routing import _moments, busiest_rank_load, expected_max_normal


def test_expected_maximum_of_normal_draws_has_its_closed_forms():
    # two draws: 1/sqrt(pi); three: 3/(2 sqrt(pi))
    assert expected_max_normal(2) == pytest.approx(1 / math.sqrt(math.pi), abs=1e-6)
    assert expected_max_normal(3) == pytest.approx(3 / (2 * math.sqrt(math.pi)), abs=1e-6)
    assert expected_max_normal(1) == 0.0
    assert expected_max_normal(8) == pytest.approx(1.4236, abs=1e-4)


def test_power_law_moments_worked_by_hand():
    """x^-2 on [1, 2]: normaliser 1 - 1/2 = 1/2, mean ln 2 / (1/2) = 1.3863, E[x^2] = (2 - 1) / (1/2) = 2."""
    mean, var = _moments(1.0, 2.0, 2.0)
    assert mean == pytest.approx(2 * math.log(2))
    assert var == pytest.approx(2 - (2 * math.log(2)) ** 2)


def test_qwen3_235b_on_ep4_worked_by_hand():
    """128 experts, top 8, 4,096 tokens, alpha 1.2: loads drawn on [1, 3276.8]; 32 experts per rank."""
    lo, hi, a = 1.0, 0.8 * 4096, 1.2
    norm = (hi ** (1 - a) - lo ** (1 - a)) / (1 - a)
    mean = (hi ** (2 - a) - lo ** (2 - a)) / (2 - a) / norm
    second = (hi ** (3 - a) - lo ** (3 - a)) / (3 - a) / norm
    expected = 1 + math.sqrt(second - mean ** 2) / mean * 1.02938 / math.sqrt(32)
    assert busiest_rank_load(128, 4, 4096, 8, 1.2) == pytest.approx(expected, rel=1e-4)
    assert 1.4 < expected < 1.5


def test_no_skew_without_expert_parallelism():
    assert busiest_rank_load(256, 1, 8192, 8, 1.01) == 1.0
    assert busiest_rank_load(256, 8, 0, 8, 1.01) == 1.0


def test_a_rank_gets_at_most_its_experts_per_token():
    # 16 experts of top 8 on 8 ranks: 2 per rank, so at most 2 of a token's 8 pairs: twice the mean
    assert busiest_rank_load(16, 8, 4096, 8, 1.2) == pytest.approx(2.0)


def _sampled(experts: int, ep: int, tokens: int, top_k: int, alpha: float, trials: int) -> float:
    """The collector's own procedure: draw each expert's load on the power law, scale them to tokens x top-k,
    and take the largest block of experts / ep."""
    rng = random.Random(0)
    lo, hi = (1.0, 0.8 * tokens) if tokens * top_k > experts else (0.01, 2.0)
    per = experts // ep
    total = 0.0
    for _ in range(trials):
        loads = [((hi ** (1 - alpha) - lo ** (1 - alpha)) * rng.random() + lo ** (1 - alpha)) ** (1 / (1 - alpha))
                 for _ in range(experts)]
        scale = tokens * top_k / sum(loads)
        total += max(sum(loads[i:i + per]) for i in range(0, experts, per)) * scale / (tokens * top_k / ep)
    return total / trials


@pytest.mark.parametrize(("experts", "ep", "tokens", "top_k", "alpha"), [
    (256, 8, 2048, 8, 1.01),  # DeepSeek R1 at EP 8
    (128, 4, 4096, 8, 1.2),  # Qwen3 235B at EP 4
    (128, 8, 512, 1, 1.01),  # Llama 4 Maverick at EP 8
    (128, 2, 16, 8, 1.2),  # a few decode tokens
])
def test_closed_form_follows_the_sampled_procedure(experts, ep, tokens, top_k, alpha):
    sampled = _sampled(experts, ep, tokens, top_k, alpha, trials=400)
    assert busiest_rank_load(experts, ep, tokens, top_k, alpha) == pytest.approx(sampled, rel=0.06)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([8, 16, 32, 64, 128, 256, 384]), st.sampled_from([1, 2, 4, 8, 16]),
       st.floats(1, 65536), st.sampled_from([1, 2, 4, 8]), st.sampled_from([1.01, 1.2, 1.5]))
def test_more_ranks_never_spread_the_load_more_evenly(experts, ep, tokens, top_k, alpha):
    here = busiest_rank_load(experts, ep, tokens, top_k, alpha)
    assert here >= 1.0
    assert here <= ep * min(top_k, experts / ep) / top_k + 1e-12 if ep <= experts else here == 1.0
    if 2 * ep <= experts:
        assert busiest_rank_load(experts, 2 * ep, tokens, top_k, alpha) >= here - 1e-12


def test_routing_exponents_by_family():
    assert routing_alpha(catalog.get_model("deepseek-r1").architecture) == 1.01
    assert routing_alpha(catalog.get_model("kimi-k2").architecture) == 1.01
    assert routing_alpha(catalog.get_model("llama-4-maverick").architecture) == 1.01
    for name in ("qwen3-235b-a22b", "gpt-oss-120b", "mixtral-8x7b"):
        assert routing_alpha(catalog.get_model(name).architecture) == 1.2
