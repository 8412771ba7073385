"""One emitter per TensorRT-LLM flow, chosen once from `plan.target.flow`.

Both flows write the same families of artifacts (build.sh, model_repository/, deploy/, README.md);
what each holds differs: the engine flow converts and builds engines and serves them with the
C++ backend's ensemble, the PyTorch flow prepares a Hugging Face checkpoint and serves it with the
llmapi Python model. `render_all` asks the flow's emitter for each family and never branches on
the flow itself.
"""

from __future__ import annotations

from typing import Protocol

from planner.plan import Plan


class FlowEmitter(Protocol):
    name: str

    def build_script(self, plan: Plan) -> dict[str, str]: ...

    def model_repository(self, plan: Plan) -> dict[str, str]: ...

    def deploy(self, plan: Plan) -> dict[str, str]: ...

    def readme(self, plan: Plan) -> dict[str, str]: ...


class EngineFlow:
    """trtllm-build engines, served by the tensorrtllm backend behind the ensemble."""

    name = "engine"

    def build_script(self, plan: Plan) -> dict[str, str]:
        from planner.emit.build_script import emit_build_script

        return emit_build_script(plan)

    def model_repository(self, plan: Plan) -> dict[str, str]:
        from planner.emit.model_repo import emit_model_repository

        return emit_model_repository(plan)

    def deploy(self, plan: Plan) -> dict[str, str]:
        from planner.emit.deploy import emit_deploy

        return emit_deploy(plan)

    def readme(self, plan: Plan) -> dict[str, str]:
        from planner.emit.readme import emit_readme

        return emit_readme(plan)


class PytorchFlow:
    """The LLM API on the PyTorch backend, served by the llmapi Python model."""

    name = "pytorch"

    def build_script(self, plan: Plan) -> dict[str, str]:
        from planner.emit.pytorch import emit_build_script

        return emit_build_script(plan)

    def model_repository(self, plan: Plan) -> dict[str, str]:
        from planner.emit.pytorch import emit_model_repository

        return emit_model_repository(plan)

    def deploy(self, plan: Plan) -> dict[str, str]:
        from planner.emit.pytorch.launch import emit_deploy

        return emit_deploy(plan)

    def readme(self, plan: Plan) -> dict[str, str]:
        from planner.emit.pytorch.readme import emit_readme

        return emit_readme(plan)


FLOW_EMITTERS: dict[str, FlowEmitter] = {"engine": EngineFlow(), "pytorch": PytorchFlow()}


def flow_emitter(plan: Plan) -> FlowEmitter:
    try:
        return FLOW_EMITTERS[plan.target.flow]
    except KeyError:
        raise ValueError(f"plan names an unknown flow {plan.target.flow!r}") from None
