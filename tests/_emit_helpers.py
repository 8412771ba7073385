"""Plans the emitter tests share (built once per session through planner.api)."""

from __future__ import annotations

import functools

from planner.api import make_plan
from planner.serving import ServingInfo


@functools.cache
def plan(model: str = "llama-3.1-8b", gpus: str = "l40sx1", **kw):
    serving = kw.pop("serving", None)
    kw.setdefault("flow", "engine")  # these tests pin the engine flow's artifacts; test_pytorch_flow the other
    return make_plan(model, gpus, serving=serving or ServingInfo(), **kw)


HOSTILE = 'evil"\nname: "pwn" # \' $(touch /tmp/x) `id` ; rm -rf / \\ é'
