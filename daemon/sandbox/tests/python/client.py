"""Drives the sandbox with the real Python `kubernetes` client; one JSON line per check.

Usage: client.py KUBECONFIG NAMESPACE SELECTOR SERVICE PORT
Between the watch's first event and the victim's deletion it prints
{"check": "watch-ready", "victim": NAME} and waits for the test to delete that pod.
"""

import json
import sys

from kubernetes import client, config, watch


def say(**fields):
    print(json.dumps(fields), flush=True)


def main():
    kubeconfig, namespace, selector, service, port = sys.argv[1:6]
    config.load_kube_config(config_file=kubeconfig)
    v1 = client.CoreV1Api()

    # (a) Pages of 5, following `_continue`, against one unpaged list.
    whole = v1.list_namespaced_pod(namespace, _request_timeout=20)
    paged, token, pages = [], None, 0
    while True:
        page = v1.list_namespaced_pod(namespace, limit=5, _continue=token, _request_timeout=20)
        pages += 1
        paged.extend(p.metadata.name for p in page.items)
        token = page.metadata._continue
        if not token:
            break
    say(
        check="paged",
        pages=pages,
        paged=len(paged),
        distinct=len(set(paged)),
        unpaged=len(whole.items),
        same=sorted(paged) == sorted(p.metadata.name for p in whole.items),
    )

    # (d) A label selector list.
    selected = v1.list_namespaced_pod(namespace, label_selector=selector, _request_timeout=20)
    say(
        check="selected",
        count=len(selected.items),
        all_match=all(
            (p.metadata.labels or {}).get(selector.split("=")[0]) == selector.split("=")[1]
            for p in selected.items
        ),
    )

    # (c) The service proxy; the client percent-encodes `service:port`.
    body = v1.connect_get_namespaced_service_proxy_with_path(
        f"{service}:{port}", namespace, "healthz", _request_timeout=20
    )
    say(check="proxy", body=str(body)[:200])

    # (b) A watch (watch=True by default); the test deletes the victim once it is ready.
    victim = selected.items[0].metadata.name
    seen = []
    w = watch.Watch()
    announced = False
    for event in w.stream(
        v1.list_namespaced_pod, namespace, label_selector=selector, timeout_seconds=20
    ):
        kind, pod = event["type"], event["object"]
        if not announced:
            say(check="watch-ready", victim=victim)
            announced = True
        if pod.metadata.name == victim:
            seen.append(kind)
            if kind == "DELETED":
                w.stop()
    say(check="watch", victim=victim, events=seen)


if __name__ == "__main__":
    main()
