"""Docker Compose runs every replica the plan puts on one host, each on its own GPUs and host ports."""

from __future__ import annotations

import yaml

from planner.api import make_plan
from planner.emit.deploy import emit_deploy


def _services(plan):
    return yaml.safe_load(emit_deploy(plan)["deploy/docker/compose.yaml"])["services"]


def test_two_replicas_on_one_host_are_two_services_on_disjoint_gpus():
    for flow in ("pytorch", "engine"):
        plan = make_plan("llama-3.1-70b", "h100x8", flow=flow)
        assert plan.layout.replicas == 2 and plan.layout.gpus_per_replica == 4
        services = _services(plan)
        assert len(services) == 2, flow
        gpus, ports = [], []
        for svc in services.values():
            (device,) = svc["deploy"]["resources"]["reservations"]["devices"]
            assert "count" not in device
            gpus.append(device["device_ids"])
            ports += [p.split(":")[0] for p in svc["ports"]]
            # each replica's server listens on its own ports (triton-rank.sh reads them), published as they are
            assert all(p.split(":")[0] == p.split(":")[1] for p in svc["ports"])
        assert gpus == [["0", "1", "2", "3"], ["4", "5", "6", "7"]]
        assert len(set(ports)) == 6


def test_one_replica_per_host_keeps_one_service():
    services = _services(make_plan("llama-3.1-8b", "h100x1"))
    assert list(services) == ["triton"]


def test_deploy_readme_asks_for_the_gpus_compose_uses():
    for flow in ("pytorch", "engine"):
        text = emit_deploy(make_plan("llama-3.1-70b", "h100x8", flow=flow))["deploy/README.md"]
        assert "with 8 free GPU(s)" in text, flow
