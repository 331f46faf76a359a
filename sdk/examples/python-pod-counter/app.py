"""Example firedrill scenario in Python: counts Ready pods of each service.

`inject` records the count as state and evidence (it breaks nothing, so it is safe to
try anywhere); `verify` reports recovered once every service has its replicas Ready,
naming the cluster change that prompted the call; `findings` asks for a follow-up for
each service still short of its replicas when the phase's wait ends.
Built by plugins/build with componentize-py against sdk/wit/since_v0.2.0
(`firedrill:scenario@0.2.0`). Its capability interfaces and shared types are 0.1.0's,
so the generated bindings have two type modules: `firedrill_scenario_types_0_1_0`
(phase, verdict, error, description) and `firedrill_scenario_types_0_2_0` (action
kinds, change, findings).
"""

import json
from typing import Optional

from componentize_py_types import Err
from wit_world import WitWorld
from wit_world.imports import cluster, evidence, log, state
from wit_world.imports import firedrill_scenario_types_0_1_0 as types
from wit_world.imports import firedrill_scenario_types_0_2_0 as types_v2


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


def describe_change(change: types_v2.Change) -> str:
    """`Pod web/web-4 became Ready`, or `Node node-a cordoned` for a cluster-scoped object."""
    name = change.name if change.namespace is None else f"{change.namespace}/{change.name}"
    return f"{change.kind} {name} {change.summary}"


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

    def plan(self, phase: types.Phase) -> list[types_v2.Action]:
        params_of(phase)
        # Counting pods is no kind the daemon knows: `other`, by a lowercase-dashed name.
        return [
            types_v2.Action(
                kind=types_v2.ActionKind_Other("count-pods"),
                target=f"{s.namespace}/{s.selector}",
                detail="list pods, count Ready ones",
            )
            for s in phase.services
        ]

    def inject(self, phase: types.Phase) -> None:
        note = params_of(phase).get("note", "")
        counts = {s.name: ready_pods(s) for s in phase.services}
        log.write(log.Level.INFO, f"ready pods: {counts} {note}".strip())
        state.set("counts", json.dumps(counts))
        evidence.attach("ready-pods.json", "application/json", json.dumps(counts, sort_keys=True))

    def verify(self, phase: types.Phase, trigger: Optional[types_v2.Change]) -> types.Verdict:
        # `trigger` is the latest cluster change the host saw, None for a timer call.
        after = "" if trigger is None else f" after {describe_change(trigger)}"
        if trigger is not None:
            log.write(log.Level.DEBUG, f"verify{after} ({trigger.age_ms} ms ago)")
        for service in phase.services:
            ready = ready_pods(service)
            if ready < service.replicas:
                return types.Verdict_Recovering(f"{service.name}: {ready}/{service.replicas} ready{after}")
        return types.Verdict_Recovered()

    def findings(self, phase: types.Phase) -> types_v2.Findings:
        # Called once the wait for recovery ended. A pod counter measures no data loss;
        # a service still short of replicas is a follow-up for the operator.
        params_of(phase)
        follow_ups = []
        for service in phase.services:
            ready = ready_pods(service)
            if ready < service.replicas:
                follow_ups.append(
                    f"{service.name}: {ready}/{service.replicas} pods Ready after the phase; "
                    "find out why the rest did not come back"
                )
        return types_v2.Findings(data_loss=None, follow_ups=follow_ups)

    def rollback(self, phase: types.Phase) -> None:
        state.remove("counts")
