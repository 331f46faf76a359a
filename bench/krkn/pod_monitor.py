"""krkn-lib's pod monitor against a firedrill sandbox, driven by `firedrill-bench krkn`.

Each round: start krkn-lib's `select_and_monitor_by_label` (a list of the Running pods
of the selector, then a watch from its resourceVersion), delete one random pod of the
selector with krkn-lib's `KrknKubernetes.delete_pod` (the pod's own grace period; it
returns once the pod is gone), gather the monitor's snapshot and read
`PodsSnapshot.get_pods_status()`: per recovered pod, `pod_rescheduling_time` (deletion
event to the replacement's ADDED event) and `pod_readiness_time` (deletion event to the
replacement's READY event), seconds; the events are dated by `time.time()` when they
arrived. One JSON object per round is printed on stdout.

    python pod_monitor.py KUBECONFIG NAMESPACE SELECTOR ROUNDS
"""

import json
import logging
import random
import sys
import time

from krkn_lib.k8s import KrknKubernetes
from krkn_lib.k8s.pod_monitor import select_and_monitor_by_label
from krkn_lib.models.pod_monitor.models import PodStatus


def ready_pods(cli, namespace, selector):
    pods = cli.list_namespaced_pod(namespace, label_selector=selector).items
    return [
        p
        for p in pods
        if p.metadata.deletion_timestamp is None
        and p.status.phase == "Running"
        and all(c.ready for c in (p.status.container_statuses or []))
        and p.status.container_statuses
    ]


def settle(cli, namespace, selector, replicas, timeout=60):
    """Waits until `replicas` pods are Ready and no pod of the selector is terminating."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        pods = cli.list_namespaced_pod(namespace, label_selector=selector).items
        if len(pods) == replicas and len(ready_pods(cli, namespace, selector)) == replicas:
            return True
        time.sleep(0.2)
    return False


def main():
    kubeconfig, namespace, selector, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    kube = KrknKubernetes(kubeconfig_path=kubeconfig)
    cli = kube.cli
    replicas = len(ready_pods(cli, namespace, selector))
    for i in range(rounds):
        if not settle(cli, namespace, selector, replicas):
            print(json.dumps({"round": i, "error": "the deployment did not settle"}), flush=True)
            continue
        # Rounds start at random offsets to the sandbox's controller tick.
        time.sleep(0.5 + random.random() * 0.1)
        victim = random.choice(ready_pods(cli, namespace, selector)).metadata.name
        future = select_and_monitor_by_label(
            label_selector=selector, max_timeout=60, v1_client=cli
        )
        delete_requested = time.time()
        kube.delete_pod(victim, namespace)
        delete_returned = time.time()
        snapshot = future.result()
        status = snapshot.get_pods_status()
        killed = snapshot.pods.get(victim)
        deletion_event = None
        if killed is not None:
            deletion_event = next(
                (
                    e.timestamp
                    for e in killed.status_changes
                    if e.status == PodStatus.DELETION_SCHEDULED
                ),
                None,
            )
        print(
            json.dumps(
                {
                    "round": i,
                    "victim": victim,
                    "delete_requested": delete_requested,
                    "delete_returned": delete_returned,
                    "deletion_event": deletion_event,
                    "recovered": [
                        {
                            "pod": p.pod_name,
                            "pod_rescheduling_time": p.pod_rescheduling_time,
                            "pod_readiness_time": p.pod_readiness_time,
                            "total_recovery_time": p.total_recovery_time,
                        }
                        for p in status.recovered
                    ],
                    "unrecovered": [p.pod_name for p in status.unrecovered],
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
