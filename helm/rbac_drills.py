"""The chart's RBAC, tried for real: called by chart_checks.py when a firedrill binary and
target/plugins/ are there.

For every rendered `ci/*-values.yaml` with `rbac.create`: a sandbox (`firedrill sandbox up`,
loopback, one per example) with what the configuration needs (its services' namespaces and
workloads, three zones), the chart's ServiceAccount, Roles, ClusterRoles and bindings
applied with `kubectl apply -f` (admin kubeconfig), a token minted with `kubectl create
token`, and the configuration rewritten to a `kind: kubeconfig` target holding only that
token. Every drill of the configuration (or, for examples without drills, a generated set
exercising what the chart grants for `rbac.namespaces`) must pass with `firedrill run
--output json`, and `firedrill serve` must take the leader-election Lease. Then each
(resource, verb) of every Role and ClusterRole is removed in turn (RBAC re-applied without
it) and the drills re-run: one must fail with the API server's Forbidden naming that verb,
resource and namespace (or the cluster scope). A rule no drill needs fails the check unless
it is listed in UNEXERCISED with the reason.
"""

from __future__ import annotations

import concurrent.futures
import copy
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import yaml

RBAC_KINDS = ("ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
ADMIN_TOKEN = "firedrill-sandbox-admin"
ZONES = ["zone-a", "zone-b", "zone-c"]
START_DELAY = "200ms"
# Examples run side by side (one sandbox each): the drills mostly wait on the clock.
PARALLEL = 3

# (resource, verb) of the chart that no drill here needs, and why. Any other rule whose
# removal every drill survives fails the check (not least privilege).
UNEXERCISED = {
    # (resource, verb): (the examples (`name` or `name:namespace`) it applies to, None for
    # all; why)
    ("pods", "get"): (None, "no built-in scenario reads one pod (they list); kept for custom scenarios' cluster.get-pod"),
    ("pods", "watch"): (None, "only cluster.wait-pods-ready watches pods, and no built-in scenario calls it; kept for custom scenarios"),
    ("nodes", "get"): (None, "no built-in scenario reads one node (they list by zone label); kept for custom scenarios"),
    ("pods/eviction", "create"): (None,
        "in a namespaced Role: only a drain evicts among built-in scenarios, and a drain needs the "
        "cluster-wide pods list (rbac.drainNodes or \"*\"), whose ClusterRole grants evictions too; "
        "kept for custom scenarios' cluster.evict-pod"),
    ("pods/exec", "create"): (None,
        "the sandbox authorizes a WebSocket exec (a GET) as get, like Kubernetes before 1.35; "
        "1.35 and later also require create, as do POST (SPDY) clients"),
    ("statefulsets", "get"): ({"full"}, "full's services are Deployments"),
    ("statefulsets", "patch"): ({"full"}, "full's services are Deployments"),
    ("services/proxy", "get"): ({"full:payments"}, "full's checkout (payments) has no service_proxy probe"),
    ("namespaces", "get"): (None,
        "kube-system only: its UID is the cluster's identity, read once per run; without it a run "
        "warns and is bound to the API server URL alone (a crash is still recovered on that URL)"),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen | None) -> None:
    """Stops a process started here (its own process group) and waits for it."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)


def _selector_labels(selector: str) -> dict[str, str]:
    labels = {}
    for term in selector.split(","):
        key, _, value = term.partition("=")
        labels[key.strip()] = value.strip().lstrip("=")
    return labels


class Example:
    """One values file: its rendered RBAC and configuration, a sandbox and the drills."""

    def __init__(self, name, docs, values, firedrill, plugins, work: Path):
        self.name, self.values, self.plugins = name, values, plugins
        self.firedrill = str(Path(firedrill).resolve())
        self.work = work
        self.rbac = [d for d in docs if d.get("kind") in RBAC_KINDS]
        self.roles = [d for d in self.rbac if d["kind"] in ("Role", "ClusterRole")]
        cm = next(d for d in docs if d.get("kind") == "ConfigMap" and "firedrill.yaml" in d.get("data", {}))
        self.config = yaml.safe_load(cm["data"]["firedrill.yaml"])
        binding = next(d for d in self.rbac if d["kind"] == "RoleBinding")
        self.sa_name = binding["subjects"][0]["name"]
        self.release_ns = binding["subjects"][0]["namespace"]
        rbac = values.get("rbac", {})
        self.namespaces = rbac.get("namespaces", [])
        self.star = "*" in self.namespaces
        self.drain = self.star or rbac.get("drainNodes", False)
        self.exec = values.get("scenarios", {}).get("exec", False) and bool(self.namespaces)
        self.sandbox = None
        self.cordon_before: set[str] = set()
        self.drills: list[str] = []
        self.lease_name = self.config.get("leader_election", {}).get("lease", "firedrill")

    # ------------------------------------------------------------ setup

    def platform_and_config(self) -> tuple[dict, dict]:
        config = copy.deepcopy(self.config)
        deployments, statefulsets = [], []
        if config.get("drills"):
            for svc in config.get("services", {}).values():
                kind, _, wname = (svc.get("workload") or "deployment/" + svc["selector"].split("=")[-1]).partition("/")
                entry = {"name": wname, "namespace": svc["namespace"], "replicas": max(3, svc.get("min_ready", 1) + 1),
                         "labels": _selector_labels(svc["selector"]), "startDelay": START_DELAY,
                         "pdb": {"maxUnavailable": 1}}
                (statefulsets if kind == "statefulset" else deployments).append(entry)
            # A custom plugin the chart mounts from a volume (full's checkout-canary) is not
            # here: the SDK's C example, which only lists the phase's pods, stands in for it
            # under its own name, with the custom plugin's grants and phases.
            plugins_cfg = config.get("plugins", {})
            for name in list(plugins_cfg.get("custom", {})):
                plugins_cfg["custom"].pop(name)
                plugins_cfg["custom"]["c-pod-counter"] = {"path": str(self.plugins / "c-pod-counter.wasm")}
                if name in plugins_cfg.get("grants", {}):
                    plugins_cfg["grants"]["c-pod-counter"] = plugins_cfg["grants"].pop(name)
                for drill in config["drills"].values():
                    for phase in drill["phases"]:
                        if phase["scenario"] == name:
                            phase["scenario"] = "c-pod-counter"
            for drill in config["drills"].values():
                for phase in drill["phases"]:
                    if phase["scenario"] == "full-recovery" and not any(
                            p["scenario"] == "zone-failure" for p in drill["phases"]):
                        self.cordon_before.add(drill_name_of(config, drill))
        else:
            config["services"], config["drills"] = self.generated(config, deployments, statefulsets)
        self.drills = list(config["drills"])
        config["targets"] = {"sandbox": {"kind": "kubeconfig", "kubeconfig": str(self.work / "sa.kubeconfig")}}
        config["default_target"] = "sandbox"
        config["storage"] = {"path": str(self.work / "data")}
        config.setdefault("plugins", {})["dir"] = str(self.plugins)
        config.pop("notifications", None)  # no SMTP server here
        config.setdefault("api", {})["listen"] = f"127.0.0.1:{_free_port()}"
        if self.drain:
            # Pods of a namespace no drill targets, on every node: a drain must evict them too
            # (what the cluster-wide grant is for).
            deployments.append({"name": "bystander", "namespace": "monitoring", "replicas": 3,
                                "startDelay": START_DELAY, "service": False})
        platform = {"zones": ZONES, "nodesPerZone": 1, "deployments": deployments, "statefulsets": statefulsets}
        return platform, config

    def generated(self, config, deployments, statefulsets) -> tuple[dict, dict]:
        """Drills exercising what the chart grants for rbac.namespaces."""
        grants = config.setdefault("plugins", {}).setdefault("grants", {})
        services, drills = {}, {}
        node_grant = {"verbs": ["list", "patch"], "namespaces": [":cluster"]}
        if self.namespaces:
            ns = "shop" if self.star else self.namespaces[0]
            deployments.append({"name": "web", "namespace": ns, "replicas": 3, "startDelay": START_DELAY,
                                "pdb": {"maxUnavailable": 1}})
            statefulsets.append({"name": "cassandra", "namespace": ns, "replicas": 3, "port": 9042,
                                 "startDelay": START_DELAY})
            services["web"] = {"namespace": ns, "selector": "app.kubernetes.io/name=web", "min_ready": 2,
                               "probes": [{"service_proxy": {"service": "web", "port": "http", "path": "/"}}]}
            services["cassandra"] = {"namespace": ns, "selector": "app=cassandra"}
            granted = ["*"] if self.star else self.namespaces
            grants["pod-failure"] = {"kubernetes": [{"verbs": ["list", "delete"], "namespaces": granted}]}
            grants["full-recovery"] = {"kubernetes": [node_grant, {"verbs": ["get", "list", "patch"], "namespaces": granted}]}
            drills["pod-failure"] = {"phases": [{"name": "pod-failure", "scenario": "pod-failure", "services": ["web"],
                                                 "objectives": {"rto": "1m", "availability_floor": 0.5}}]}
            recovery = {"name": "full-recovery", "scenario": "full-recovery", "services": ["web", "cassandra"],
                        "objectives": {"rto": "2m"}}
            if self.drain:
                grants["zone-failure"] = {"kubernetes": [node_grant, {"verbs": ["list", "evict"], "namespaces": ["*"]}]}
                drills["zone-outage"] = {"phases": [
                    {"name": "zone-failure", "scenario": "zone-failure", "services": ["web"],
                     "params": {"zone": "zone-a", "drain_timeout_seconds": 20}, "objectives": {"rto": "1m"}},
                    recovery]}
            else:
                drills["recovery"] = {"phases": [recovery]}
                self.cordon_before.add("recovery")
            if self.exec:
                grants["cassandra-node"] = {"kubernetes": [{"verbs": ["list", "delete"], "namespaces": granted}],
                                            "exec": granted}
                drills["cassandra-node"] = {"phases": [{"name": "cassandra-node", "scenario": "cassandra-node",
                                                        "services": ["cassandra"], "objectives": {"rto": "1m"}}]}
        else:
            # No workload namespace: the chart grants nodes only. full-recovery without
            # services uncordons what is cordoned (the test cordons a node first).
            grants["full-recovery"] = {"kubernetes": [node_grant]}
            drills["uncordon"] = {"phases": [{"name": "uncordon", "scenario": "full-recovery",
                                              "params": {"no_restart": True}, "objectives": {"rto": "1m"}}]}
            self.cordon_before.add("uncordon")
        return services, drills

    def prepare(self) -> None:
        self.platform, config = self.platform_and_config()
        (self.work / "platform.yaml").write_text(yaml.safe_dump(self.platform, sort_keys=False))
        (self.work / "firedrill.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    def start(self) -> None:
        platform = self.platform
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.admin = self.work / "admin.kubeconfig"
        self.log = open(self.work / "sandbox.log", "w")
        self.sandbox = subprocess.Popen(
            [self.firedrill, "sandbox", "up", "--listen", f"127.0.0.1:{port}", "--kubeconfig", str(self.admin),
             "--platform", str(self.work / "platform.yaml")],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.work)
        deadline = time.monotonic() + 30
        while not (self.admin.exists() and self.get("/version")):
            assert self.sandbox.poll() is None, f"sandbox exited: {(self.work / 'sandbox.log').read_text()[-2000:]}"
            assert time.monotonic() < deadline, "sandbox did not answer in 30 s"
            time.sleep(0.1)
        self.wait_ready(platform)
        self.apply(self.rbac_manifest(self.roles))
        self.token = self.kubectl("create", "token", self.sa_name, "-n", self.release_ns, "--duration", "1h").strip()
        (self.work / "sa.kubeconfig").write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "sandbox", "cluster": {"server": self.url}}],
            "users": [{"name": self.sa_name, "user": {"token": self.token}}],
            "contexts": [{"name": "sa", "context": {"cluster": "sandbox", "user": self.sa_name}}],
            "current-context": "sa"}))

    def stop(self) -> None:
        _stop(self.sandbox)
        if self.sandbox is not None:
            self.log.close()

    def get(self, path: str):
        try:
            req = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
            with urllib.request.urlopen(req, timeout=5) as resp:
                return json.loads(resp.read())
        except OSError:
            return None

    def wait_ready(self, platform: dict, timeout: float = 30) -> None:
        want = sum(w["replicas"] for w in platform["deployments"] + platform["statefulsets"])
        deadline = time.monotonic() + timeout
        while True:
            pods = (self.get("/api/v1/pods") or {}).get("items", [])
            ready = [p for p in pods if not p["metadata"].get("deletionTimestamp") and any(
                c["type"] == "Ready" and c["status"] == "True" for c in p.get("status", {}).get("conditions", []))]
            if len(ready) >= want:
                return
            assert time.monotonic() < deadline, f"{len(ready)}/{want} pods Ready after {timeout} s"
            time.sleep(0.2)

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run(["kubectl", "--kubeconfig", str(self.admin), *args], input=stdin,
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr.strip()}"
        return result.stdout

    def rbac_manifest(self, roles: list[dict]) -> list[dict]:
        docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.release_ns}}]
        if not any(d["kind"] == "ServiceAccount" for d in self.rbac):
            # serviceAccount.create false: the named existing account, created here.
            docs.append({"apiVersion": "v1", "kind": "ServiceAccount",
                         "metadata": {"name": self.sa_name, "namespace": self.release_ns}})
        return docs + [d for d in self.rbac if d["kind"] not in ("Role", "ClusterRole")] + roles

    def apply(self, docs: list[dict]) -> None:
        self.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(docs, sort_keys=False))

    # ------------------------------------------------------------ runs

    def run_drill(self, drill: str) -> tuple[bool, str]:
        """Runs one drill with the ServiceAccount's token: (passed, everything it said)."""
        if drill == "leader-election":
            return self.leader()
        self.wait_ready(self.platform)  # what the last drill deleted or evicted is back
        if drill in self.cordon_before:
            self.kubectl("cordon", "zone-a-node-1")
        if self.drain and self.has_zone_phase(drill):
            self.bystander_on_zone_a()
        result = subprocess.run(
            [self.firedrill, "-c", str(self.work / "firedrill.yaml"), "run", drill, "--output", "json"],
            capture_output=True, text=True, timeout=120, cwd=self.work,
            env={**os.environ, "FIREDRILL_API_TOKEN": "rbac-test", "FIREDRILL_SMTP_PASSWORD": "unused"})
        try:
            record = json.loads(result.stdout)
            passed = record["outcome"]["kind"] == "passed"
            said = "\n".join([f"outcome: {json.dumps(record['outcome'])}"] +
                             [f"{p['name']}: {json.dumps(p['verdict'])}" for p in record["phases"]])
        except (ValueError, KeyError, TypeError):
            passed, said = False, result.stdout
        return passed and result.returncode == 0, said + "\n" + result.stderr

    def has_zone_phase(self, drill: str) -> bool:
        config = yaml.safe_load((self.work / "firedrill.yaml").read_text())
        return any(p["scenario"] == "zone-failure" for p in config["drills"][drill]["phases"])

    def bystander_on_zone_a(self, timeout: float = 15) -> None:
        """A bystander pod on the drained node (an earlier drain moved it away)."""
        deadline = time.monotonic() + timeout
        restarted = False
        while True:
            pods = (self.get("/api/v1/namespaces/monitoring/pods") or {}).get("items", [])
            live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
            ready = [p for p in live if any(c["type"] == "Ready" and c["status"] == "True"
                                            for c in p.get("status", {}).get("conditions", []))]
            if len(ready) == 3 == len(live) and any(p["spec"].get("nodeName") == "zone-a-node-1" for p in ready):
                return
            if not restarted and len(ready) == 3 == len(live):
                self.kubectl("rollout", "restart", "deployment/bystander", "-n", "monitoring")
                restarted = True
            assert time.monotonic() < deadline, "no bystander pod came back on zone-a-node-1"
            time.sleep(0.2)

    def leader(self, seconds: float = 8) -> tuple[bool, str]:
        """`firedrill serve` with leader election on: does it take and renew the Lease?"""
        config = yaml.safe_load((self.work / "firedrill.yaml").read_text())
        config["leader_election"] = {"enabled": True, "namespace": self.release_ns, "lease": self.lease_name,
                                     "duration": "3s"}
        config["drills"] = {}
        path = self.work / "serve.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        lease = f"/apis/coordination.k8s.io/v1/namespaces/{self.release_ns}/leases/{self.lease_name}"
        subprocess.run(["kubectl", "--kubeconfig", str(self.admin), "delete", "lease", self.lease_name, "-n",
                        self.release_ns, "--ignore-not-found"], capture_output=True, timeout=30)
        err = open(self.work / "serve.log", "w+")
        proc = None
        held = False
        try:
            proc = subprocess.Popen([self.firedrill, "-c", str(path), "serve"], stdout=err, stderr=subprocess.STDOUT,
                                    start_new_session=True, cwd=self.work,
                                    env={**os.environ, "FIREDRILL_POD_NAME": "rbac-test",
                                         "FIREDRILL_API_TOKEN": "rbac-test"})
            deadline = time.monotonic() + seconds
            renewed = None
            while time.monotonic() < deadline and proc.poll() is None:
                spec = (self.get(lease) or {}).get("spec", {})
                if spec.get("holderIdentity") == "rbac-test":
                    held = True
                    renew = spec.get("renewTime")
                    if renewed is None:
                        renewed = renew
                    elif renew != renewed:  # renewed once: create, then update, worked
                        break
                time.sleep(0.3)
            else:
                held = False
        finally:
            _stop(proc)
            err.seek(0)
            text = err.read()
            err.close()
        return held, text

    # ------------------------------------------------------------ removals

    def units(self):
        """(role index, apiGroup, resource, verb) of every granted rule."""
        for i, role in enumerate(self.roles):
            for rule in role.get("rules") or []:
                for group in rule.get("apiGroups", []):
                    for resource in rule.get("resources", []):
                        for verb in rule.get("verbs", []):
                            yield i, group, resource, verb

    def without(self, unit) -> list[dict]:
        i, group, resource, verb = unit
        roles = copy.deepcopy(self.roles)
        rules = []
        for rule in roles[i].get("rules") or []:
            if group in rule.get("apiGroups", []) and resource in rule.get("resources", []) and verb in rule.get("verbs", []):
                others = [r for r in rule["resources"] if r != resource]
                if others:
                    rules.append({**rule, "resources": others})
                verbs = [v for v in rule["verbs"] if v != verb]
                if verbs:
                    rules.append({**rule, "resources": [resource], "verbs": verbs})
            else:
                rules.append(rule)
        roles[i]["rules"] = rules
        return roles

    def covered_elsewhere(self, unit) -> str | None:
        """Another role granting the same access where this one does (a ClusterRole covers all)."""
        i, group, resource, verb = unit
        ns = self.roles[i]["metadata"].get("namespace")
        for j, role in enumerate(self.roles):
            if j == i or (role["kind"] == "Role" and role["metadata"].get("namespace") != ns):
                continue
            if role["kind"] == "Role" and ns is None:
                continue
            for rule in role.get("rules") or []:
                if group in rule.get("apiGroups", []) and resource in rule.get("resources", []) and verb in rule.get("verbs", []):
                    return f"{role['kind']} {role['metadata']['name']}"
        return None

    def forbidden_pattern(self, unit) -> re.Pattern:
        i, group, resource, verb = unit
        role = self.roles[i]
        q = r'\\?"'  # a quote, escaped where the message sits in JSON
        if role["kind"] == "Role":
            where = f'in the namespace {q}{re.escape(role["metadata"]["namespace"])}{q}'
        elif resource == "nodes":
            where = "at the cluster scope"
        else:
            where = f'(in the namespace {q}[a-z0-9-]+{q}|at the cluster scope)'
        return re.compile(rf'forbidden: User \\?"system:serviceaccount:{re.escape(self.release_ns)}:'
                          rf'{re.escape(self.sa_name)}\\?" cannot {verb} resource \\?"{re.escape(resource)}\\?" '
                          rf'in API group \\?"{re.escape(group)}\\?" {where}')

    def candidates(self, resource: str) -> list[str]:
        """The drills, those most likely to need `resource` first."""
        all_drills = self.drills + ["leader-election"]
        if resource == "leases":
            return ["leader-election"]
        def rank(drill: str) -> int:
            if drill == "leader-election":
                return 9
            phases = [p["scenario"] for p in yaml.safe_load((self.work / "firedrill.yaml").read_text())["drills"][drill]["phases"]]
            hints = {"nodes": ("zone-failure", "full-recovery"), "pods/eviction": ("zone-failure",),
                     "pods/exec": ("cassandra-node",), "deployments": ("full-recovery",),
                     "statefulsets": ("full-recovery",), "services/proxy": ("pod-failure",),
                     "pods": ("pod-failure", "cassandra-node")}
            return 0 if any(s in hints.get(resource, ()) for s in phases) else 1
        return sorted(all_drills, key=rank)


def drill_name_of(config: dict, drill: dict) -> str:
    return next(name for name, d in config["drills"].items() if d is drill)


def run(check, rendered: dict, values_by_name: dict, firedrill: str, plugins: Path) -> None:
    """The checks, one per example and one per removal summary, through chart_checks' `check`."""
    totals = {"examples": 0, "drills": 0, "removed": 0, "named": 0, "named_by_api": 0, "covered": 0}
    unexercised: dict[tuple[str, str], list[str]] = {}
    seen_rules: dict[str, str] = {}
    started = time.monotonic()
    lock = threading.Lock()
    jobs = []
    for name, (docs, _files) in sorted(rendered.items()):
        values = values_by_name[name]
        if not values.get("rbac", {}).get("create", True):
            continue
        roles = [d for d in docs if d.get("kind") in ("Role", "ClusterRole")]
        fingerprint = json.dumps([(r["kind"], r["metadata"].get("namespace"), r.get("rules")) for r in roles],
                                 sort_keys=True)
        jobs.append((name, docs, values, seen_rules.get(fingerprint)))
        seen_rules.setdefault(fingerprint, name)

    def work(name, docs, values, same_as) -> list:
        """One example, in its own thread: its checks and notes, replayed in order below."""
        log: list = []

        def rec(check_name, fn):
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - replayed through `check`
                log.append(("check", check_name, exc))
            else:
                log.append(("check", check_name, None))

        def say(text):
            log.append(("note", text))

        def count(key, n=1):
            with lock:
                totals[key] += n

        with tempfile.TemporaryDirectory(prefix=f"rbac-{name}-") as tmp:
            ex = Example(name, docs, values, firedrill, plugins, Path(tmp))
            try:
                ex.prepare()
                state = {}

                def setup_and_pass(ex=ex, state=state):
                    ex.start()
                    failures = []
                    for drill in ex.drills + ["leader-election"]:
                        ok, text = ex.run_drill(drill)
                        if ok:
                            count("drills")
                        else:
                            failures.append(f"{drill}:\n{text.strip()[-1500:]}")
                    state["ok"] = not failures
                    assert not failures, "\n".join(failures)

                count("examples")
                rec(f"{name}: every drill passes with the chart's RBAC and the ServiceAccount's token "
                      f"({', '.join(ex.drills + ['leader-election'])})", setup_and_pass)
                if not state.get("ok"):
                    return log
                if same_as:
                    say(f"     ({name}: same Roles and ClusterRoles as {same_as}, removals not repeated)")
                    return log

                def removals(ex=ex, name=name):
                    problems = []
                    for unit in list(ex.units()):
                        i, group, resource, verb = unit
                        role = ex.roles[i]
                        label = f"{role['kind']} {role['metadata'].get('namespace', '')}/{role['metadata']['name']}: {verb} {resource}"
                        other = ex.covered_elsewhere(unit)
                        if other:
                            count("covered")
                            say(f"     {label}: also granted by {other}, not removed alone")
                            continue
                        known = UNEXERCISED.get((resource, verb))
                        scope = {name, f"{name}:{role['metadata'].get('namespace', '')}"}
                        if known and (known[0] is None or scope & known[0]) and not (
                                resource == "pods/eviction" and role["kind"] == "ClusterRole"):
                            # Listed, not run: every drill would be run in vain (time budget).
                            unexercised.setdefault((resource, verb), []).append(f"{name} {label}")
                            continue
                        count("removed")
                        pattern = ex.forbidden_pattern(unit)
                        ex.apply(ex.without(unit))
                        failed_with = None
                        try:
                            for drill in ex.candidates(resource):
                                ok, text = ex.run_drill(drill)
                                if not ok:
                                    failed_with = (drill, text)
                                    break
                        finally:
                            ex.apply(ex.roles)
                            subprocess.run(["kubectl", "--kubeconfig", str(ex.admin), "uncordon", "zone-a-node-1"],
                                           capture_output=True, timeout=30)
                        if failed_with is None:
                            problems.append(f"{label}: every drill passes without it (not least privilege?)")
                        elif pattern.search(failed_with[1]):
                            count("named")
                        elif resource == "services/proxy":
                            # The prober counts a refused probe as failed without saying why
                            # (daemon/src/adapters/prober.rs): the API's answer is checked here.
                            probe = next(s for s in yaml.safe_load((ex.work / "firedrill.yaml").read_text())["services"].values()
                                         if s.get("probes"))
                            ex.apply(ex.without(unit))
                            try:
                                svc = probe["probes"][0]["service_proxy"]
                                req = urllib.request.Request(
                                    f"{ex.url}/api/v1/namespaces/{probe['namespace']}/services/{svc['service']}:{svc['port']}/proxy/",
                                    headers={"Authorization": f"Bearer {ex.token}"})
                                try:
                                    urllib.request.urlopen(req, timeout=5)
                                    body = "200"
                                except urllib.error.HTTPError as exc:
                                    body = exc.read().decode()
                            finally:
                                ex.apply(ex.roles)
                            if pattern.search(body) and "availability" in failed_with[1]:
                                count("named_by_api")
                                say(f"     {label}: {failed_with[0]} fails on availability; the API's 403 names it (the run does not)")
                            else:
                                problems.append(f"{label}: {failed_with[0]} failed with {failed_with[1].strip()[-800:]}\n"
                                                f"the proxy answered {body[:300]}")
                        else:
                            problems.append(f"{label}: {failed_with[0]} failed without naming it:\n"
                                            f"{failed_with[1].strip()[-1200:]}")
                    assert not problems, "\n".join(problems)

                rec(f"{name}: removing any one rule of its Roles/ClusterRoles makes a drill fail with a Forbidden naming it",
                      removals)
            finally:
                ex.stop()
        return log

    with concurrent.futures.ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        logs = list(pool.map(lambda job: work(*job), jobs))
    for log in logs:
        for entry in log:
            if entry[0] == "note":
                print(entry[1])
            else:
                _, check_name, exc = entry

                def replay(exc=exc):
                    if exc is not None:
                        raise exc

                check(check_name, replay)

    for (resource, verb), where in sorted(unexercised.items()):
        print(f"     unexercised: {verb} {resource} ({UNEXERCISED[(resource, verb)][1]}): {'; '.join(sorted(where))}")
    print(f"rbac drills: {totals['examples']} examples, {totals['drills']} drills passed, {totals['removed']} rules removed, "
          f"{totals['named']} Forbidden named by the run, {totals['named_by_api']} by the API only "
          f"(service_proxy probes), {totals['covered']} covered by another rule, "
          f"{sum(len(v) for v in unexercised.values())} unexercised ({time.monotonic() - started:.0f}s)")
