"""deploy/ for the PyTorch flow: the shared Kubernetes, Compose and Slurm files, with each MPI rank
started the way the llmapi repository is served.

Every rank runs `trtllm-llmapi-launch tritonserver ...`: on rank 0 it starts Triton, whose
tensorrt_llm model builds the LLM over the whole MPI world; the other ranks become its workers
(tensorrtllm_backend docs/llmapi.md: `srun --mpi=pmix ... trtllm-llmapi-launch tritonserver`;
launch_triton_server.py's --trtllm_llmapi_launch does the same under mpirun). Single-node
replicas start their ranks with mpirun, multi-node ones with the LeaderWorkerSet leader's mpirun or
`srun --mpi=pmix`, as in the engine flow.

Why not `launch_triton_server.py --model_repo` for one node, as the backend's README shows: it starts
`mpirun ... tritonserver` with Popen and returns, which ends a container whose command it is, and it
passes `--disable-auto-complete-config`, which keeps `triton_config` (max_batch_size, decoupled) from
reaching Triton. The generated README still names it for bare-metal, non-streaming use.
"""

from __future__ import annotations

from planner.emit.deploy import emit_deploy as _emit_deploy
from planner.emit.pytorch.llm_args import model_path, pytorch_spec
from planner.emit.templating import Untrusted
from planner.plan import Plan

OVERRIDES = {
    "deploy/scripts/triton-rank.sh": "pytorch/triton-rank.sh.j2",
    "deploy/scripts/check-artifacts.sh": "pytorch/check-artifacts.sh.j2",
    "deploy/README.md": "pytorch/deploy-README.md.j2",
}


def emit_deploy(plan: Plan) -> dict[str, str]:
    _, spec = pytorch_spec(plan)
    image = plan.serving.image or spec.container.image
    extra = {
        "base_image": spec.container.image,
        "launcher": spec.multi_node_launcher,
        "model_code_dir": spec.model_code_dir,
        "model_code_files": list(spec.model_code_files),
    }
    extra["model_dir"] = Untrusted(model_path(plan))
    return _emit_deploy(plan, image=image, overrides=OVERRIDES, extra=extra)
