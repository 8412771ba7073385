#!/bin/bash
# LeaderWorkerSet leader: waits for the group's workers, then starts all 16 ranks
# with mpirun, remote ranks through kubectl exec (kubessh). LWS names the leader pod
# <set>-<group> and its workers <set>-<group>-<index>, and sets LWS_GROUP_SIZE in every pod.
# Slots: 8 on the leader, 8 on each worker; ranks fill them in order
# (--map-by slot), as TensorRT-LLM expects: rank r on GPU r % 8 of pod r // 8.
# Expects POD_NAME, POD_NAMESPACE, WORLD_SIZE, LEADER_SLOTS and WORKER_SLOTS in the environment.
set -euo pipefail
if ! command -v kubectl >/dev/null; then
  echo "planner: this image has no kubectl; build deploy/kubernetes/image/Containerfile and use it" >&2
  exit 1
fi
hosts="${POD_NAME}:${LEADER_SLOTS}"
for i in $(seq 1 $((LWS_GROUP_SIZE - 1))); do
  worker="${POD_NAME}-${i}"
  until kubectl -n "$POD_NAMESPACE" wait --for=condition=Ready "pod/${worker}" --timeout=60s >/dev/null 2>&1; do
    echo "planner: waiting for ${worker}"
    sleep 5
  done
  hosts="${hosts},${worker}:${WORKER_SLOTS}"
done
# plm_rsh_no_tree_spawn: only the leader starts remote daemons (the workers have no kubectl).
exec mpirun --allow-run-as-root \
  --mca plm_rsh_agent /opt/planner/kubessh \
  --mca plm_rsh_no_tree_spawn 1 \
  --map-by slot \
  -np "$WORLD_SIZE" \
  --host "$hosts" \
  /bin/bash /opt/planner/triton-rank.sh
