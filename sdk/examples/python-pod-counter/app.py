"""Example firedrill scenario in Python: counts Ready pods of each service.

`inject` records the count as state and evidence (it breaks nothing, so it is safe to
try anywhere); `verify` reports recovered once every service has its replicas Ready.
Built by plugins/build with componentize-py against sdk/wit/since_v0.1.0.
"""

import json

from componentize_py_types import Err
from wit_world import WitWorld
from wit_world.imports import cluster, evidence, log, state, types


def ready_pods(service: types.Service) -> int:
    pods = cluster.list_pods(service.namespace, service.selector)
    return sum(1 for pod in pods if pod.ready and not pod.terminating)


def params_of(phase: types.Phase) -> dict:
    try:
        params = json.loads(phase.params or "{}")
    except ValueError as error:
        raise Err(types.Error_InvalidParams(f"phase parameters: {error}"))
    if not isinstance(params, dict):
        raise Err(types.Error_InvalidParams("phase parameters must be a JSON object"))
    return params


class WitWorld(WitWorld):
    def describe(self) -> types.Description:
        schema = {"type": "object", "properties": {"note": {"type": "string"}}}
        access = types.ClusterAccess(verbs=[types.Verb.LIST], namespaces=["*"])
        return types.Description(
            name="python-pod-counter",
            version="0.1.0",
            summary="Counts Ready pods per service (example in Python).",
            params_schema=json.dumps(schema),
            capabilities=[types.Capability_Cluster(access)],
        )

    def plan(self, phase: types.Phase) -> list[types.Action]:
        params_of(phase)
        return [
            types.Action(kind="count-pods", target=f"{s.namespace}/{s.selector}", detail="list pods, count Ready ones")
            for s in phase.services
        ]

    def inject(self, phase: types.Phase) -> None:
        note = params_of(phase).get("note", "")
        counts = {s.name: ready_pods(s) for s in phase.services}
        log.write(log.Level.INFO, f"ready pods: {counts} {note}".strip())
        state.set("counts", json.dumps(counts))
        evidence.attach("ready-pods.json", "application/json", json.dumps(counts, sort_keys=True))

    def verify(self, phase: types.Phase) -> types.Verdict:
        for service in phase.services:
            ready = ready_pods(service)
            if ready < service.replicas:
                return types.Verdict_Recovering(f"{service.name}: {ready}/{service.replicas} ready")
        return types.Verdict_Recovered()

    def rollback(self, phase: types.Phase) -> None:
        state.remove("counts")
