"""Checks of the firedrill chart, run by helm/test.sh inside its cached virtualenv.

    python helm/chart_checks.py OUT_DIR KUBE_VERSION [FIREDRILL_BINARY]

Lints and renders the chart offline (helm-python-sdk: Helm 4 as a library) for every
`ci/*-values.yaml`, validates the manifests with kubernetes-validate --strict, checks the
rendered Deployment, the store (SQLite on one replica's ReadWriteOnce claim, or PostgreSQL
with no shared volume; several replicas without a database refused at render), Secrets
wiring, RBAC (least privilege), PrometheusRule, dashboard ConfigMap and NOTES, the configuration with `firedrill check` when a binary is given, and
every dashboard query, panels' and annotations' (known metric names only; PromQL parsed by
`promtool check rules`).
With a binary, target/plugins/ and kubectl, helm/rbac_drills.py also applies each example's
RBAC to a sandbox and runs its drills with the ServiceAccount's token, then removes each
rule in turn and expects a Forbidden naming it.
That every query returns data from a real Prometheus scraping a daemon after drills is the
end-to-end test tests/tests/dashboard.rs, not a check here. Prints one line per check
(`ok` / `FAIL`) and a last line `N passed, N failed`; exits 1 on any failure.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

import yaml
import helm_python as helm

HERE = Path(__file__).resolve().parent
CHART = HERE / "firedrill"
OUT = Path(sys.argv[1])
KUBE_VERSION = sys.argv[2]
FIREDRILL = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else None
RELEASE, NAMESPACE = "firedrill", "firedrill"

# Custom resources kubernetes-validate has no schema for (prometheus-operator CRDs): they
# are checked structurally below instead.
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}

# The metrics the daemon exports (issue 7); the dashboard and alerts may use only these.
METRICS = {
    "firedrill_phase_recovery_seconds", "firedrill_phase_rto_target_seconds",
    "firedrill_phase_passed", "firedrill_rpo_seconds",
    "firedrill_phase_acknowledged_writes_lost", "firedrill_phase_canary_writes",
    "firedrill_backup_age_seconds",
    "firedrill_service_availability_ratio", "firedrill_service_latency_p95_seconds",
    "firedrill_drill_runs_total", "firedrill_drill_last_run_timestamp_seconds",
    "firedrill_drill_last_success_timestamp_seconds",
    "firedrill_drill_next_run_timestamp_seconds", "firedrill_drill_overdue",
    "firedrill_plugin_errors_total", "firedrill_mail_outbox_messages",
    "firedrill_push_outbox_messages",
    "firedrill_runs_owing_rollback",
    # The histogram of recovery times across runs (daemon/src/metrics.rs names it).
    "firedrill_phase_recovery_duration_seconds_bucket",
    # 1 while a phase runs: the dashboard's drill-phase annotations (issue 18).
    "firedrill_drill_phase_active",
    # Where each phase ran (drills spanning clusters).
    "firedrill_phase_target_info",
}

# Everything the chart may grant (issue 9): (apiGroup, resource) -> verbs.
NAMESPACED_ALLOWED = {
    ("", "pods"): {"get", "list", "watch", "delete"},
    ("", "pods/eviction"): {"create"},
    ("", "pods/exec"): {"get", "create"},  # only with scenarios.exec, checked separately
    ("apps", "deployments"): {"get", "patch"},
    ("apps", "statefulsets"): {"get", "patch"},
    ("", "services/proxy"): {"get"},  # service_proxy availability probes
    ("coordination.k8s.io", "leases"): {"get", "create", "update"},
}
CLUSTER_ALLOWED = {("", "nodes"): {"get", "list", "patch"}, ("", "namespaces"): {"get"}}
# rbac.drainNodes: what a zone drill's drain needs in every namespace.
DRAIN_ALLOWED = {("", "pods"): {"list"}, ("", "pods/eviction"): {"create"}}

passed = failed = 0


def check(name: str, fn) -> None:
    """Runs one check; an AssertionError or any exception fails it with its message."""
    global passed, failed
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the run
        failed += 1
        detail = str(exc) if isinstance(exc, AssertionError) else traceback.format_exc(limit=3)
        print(f"FAIL {name}\n     " + detail.strip().replace("\n", "\n     "))
    else:
        passed += 1
        print(f"ok   {name}")


# ---------------------------------------------------------------- rendering

def load_values(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


def render(values: dict) -> tuple[list[dict], dict[str, str]]:
    """Renders the chart offline; returns the manifests and the raw files by template."""
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema(values)
        files = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    docs = []
    for path, text in sorted(files.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                doc.setdefault("metadata", {}).setdefault("annotations", {})
                doc["metadata"]["annotations"].pop("__source", None)
                if not doc["metadata"]["annotations"]:
                    del doc["metadata"]["annotations"]
                docs.append(doc)
    return docs, files


def notes(files: dict[str, str]) -> str:
    return next((text for path, text in files.items() if path.endswith("NOTES.txt")), "")


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d.get("kind") == kind]


def one(docs: list[dict], kind: str) -> dict:
    found = by_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def rendered_config(docs: list[dict]) -> dict:
    """The firedrill configuration the ConfigMap holds."""
    cm = one([d for d in docs if d["kind"] == "ConfigMap" and "firedrill.yaml" in d.get("data", {})], "ConfigMap")
    return yaml.safe_load(cm["data"]["firedrill.yaml"])


def database(values: dict) -> dict:
    """The values' `store.postgres` (empty without a database)."""
    pg = values.get("store", {}).get("postgres", {})
    return pg if pg.get("url") else {}


def render_error(values: dict, schema: bool = True) -> str:
    """The error rendering `values` fails with ("" if it renders). Rendering checks the
    values schema first; without `schema`, a copy of the chart without values.schema.json
    is rendered, so that the templates' own `fail` is read (what `helm install
    --skip-schema-validation` meets)."""
    chart_dir = CHART
    if not schema:
        chart_dir = OUT / "chart-without-schema"
        if not chart_dir.exists():
            shutil.copytree(CHART, chart_dir)
            (chart_dir / "values.schema.json").unlink()
    try:
        with helm.Chart.load(str(chart_dir)) as chart:
            chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    except helm.HelmError as exc:
        return str(exc)
    return ""


def schema_error(values: dict) -> str:
    """Why values.schema.json refuses `values`; "" if it accepts them."""
    try:
        with helm.Chart.load(str(CHART)) as chart:
            chart.validate_schema(values)
    except helm.HelmError as exc:
        return str(exc) or "refused"
    return ""


# ---------------------------------------------------------------- RBAC

def rbac_violations(docs: list[dict], allow_exec: bool) -> list[str]:
    """Every grant of the rendered Roles/ClusterRoles beyond the allowed list."""
    problems = []
    wildcard_ns = False
    for doc in docs:
        kind = doc.get("kind")
        if kind not in ("Role", "ClusterRole"):
            continue
        name = doc["metadata"]["name"]
        cluster_role_for_workloads = kind == "ClusterRole" and name.endswith("-drills")
        wildcard_ns |= cluster_role_for_workloads
        allowed = NAMESPACED_ALLOWED if kind == "Role" or cluster_role_for_workloads else CLUSTER_ALLOWED
        if kind == "ClusterRole" and name.endswith("-drain"):
            allowed = DRAIN_ALLOWED
        if doc.get("aggregationRule"):
            problems.append(f"{kind} {name}: aggregationRule")
        for rule in doc.get("rules") or []:
            if rule.get("resourceNames") is None and rule.get("nonResourceURLs"):
                problems.append(f"{kind} {name}: nonResourceURLs {rule['nonResourceURLs']}")
            for group in rule.get("apiGroups", []):
                for resource in rule.get("resources", []):
                    verbs = set(rule.get("verbs", []))
                    key = (group, resource)
                    if key not in allowed:
                        problems.append(f"{kind} {name}: {resource or '?'} in group '{group}' not allowed")
                        continue
                    extra = verbs - allowed[key]
                    if extra:
                        problems.append(f"{kind} {name}: {resource} verbs {sorted(extra)} not allowed")
                    if resource == "pods/exec" and not allow_exec:
                        problems.append(f"{kind} {name}: pods/exec without scenarios.exec")
                    if resource == "leases" and doc["metadata"].get("namespace") != NAMESPACE:
                        problems.append(f"{kind} {name}: leases outside the release namespace")
                    if cluster_role_for_workloads and resource == "leases":
                        problems.append(f"{kind} {name}: leases cluster-wide")
                    if resource == "namespaces" and rule.get("resourceNames") != ["kube-system"]:
                        problems.append(f"{kind} {name}: namespaces beyond kube-system")
    return problems


def granted(docs: list[dict]) -> set[tuple[str, str, str, str]]:
    """(kind, namespace, resource, verb) for every rule rendered."""
    out = set()
    for doc in docs:
        if doc.get("kind") in ("Role", "ClusterRole"):
            for rule in doc.get("rules") or []:
                for resource in rule.get("resources", []):
                    for verb in rule.get("verbs", []):
                        out.add((doc["kind"], doc["metadata"].get("namespace", ""), resource, verb))
    return out


# ---------------------------------------------------------------- dashboard

PROMQL_WORDS = {
    # aggregations, keywords and functions a dashboard may use
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
    "count_values", "group", "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "bool", "offset", "rate", "irate", "increase", "delta", "idelta",
    "changes", "resets", "histogram_quantile", "time", "timestamp", "abs", "clamp_min",
    "clamp_max", "label_replace", "label_join", "max_over_time", "min_over_time",
    "avg_over_time", "sum_over_time", "count_over_time", "last_over_time", "absent",
    "vector", "scalar", "sort", "sort_desc", "round", "ceil", "floor", "e", "inf", "nan",
}


def substitute_grafana_vars(expr: str) -> str:
    """Grafana's variables replaced by what Grafana sends, so promtool can parse the query."""
    return (expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")
                .replace("$__range", "1h").replace("${drill}", ".*").replace("$drill", ".*"))


def unknown_identifiers(expr: str) -> set[str]:
    """Identifiers of a query that are neither allowed metrics nor PromQL words or labels."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)               # string literals
    text = re.sub(r"\{[^}]*\}", "", text)                           # label matchers
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", text)
    text = re.sub(r"\[[^\]]*\]", "", text)                          # range selectors
    idents = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", text))
    return {i for i in idents if i not in METRICS and i.lower() not in PROMQL_WORDS}


def dashboard_targets(dash: dict) -> list[tuple[str, dict, dict]]:
    out = []

    def walk(panels):
        for panel in panels:
            if panel.get("type") == "row":
                walk(panel.get("panels", []))
                continue
            for target in panel.get("targets", []):
                out.append((panel.get("title", "?"), panel, target))

    walk(dash.get("panels", []))
    return out


# ---------------------------------------------------------------- checks

def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    scenarios = sorted((CHART / "ci").glob("*-values.yaml"))
    rendered: dict[str, tuple[list[dict], dict[str, str]]] = {}
    values_by_name: dict[str, dict] = {}

    for path in scenarios:
        name = path.name.removesuffix("-values.yaml")
        values = load_values(path)
        values_by_name[name] = values

        def lint(values=values):
            report = helm.lint(str(CHART), values, strict=True, namespace=NAMESPACE,
                               kube_version=f"v{KUBE_VERSION}")
            problems = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
            problems += report.get("errors") or []
            assert not problems, f"helm lint: {problems}"

        check(f"{name}: helm lint --strict", lint)

        def do_render(name=name, values=values):
            docs, files = render(values)
            rendered[name] = (docs, files)
            core = [d for d in docs if d["kind"] not in CRD_KINDS]
            crds = [d for d in docs if d["kind"] in CRD_KINDS]
            (OUT / f"{name}.yaml").write_text(yaml.safe_dump_all(core, sort_keys=False))
            (OUT / f"{name}.crds.yaml").write_text(yaml.safe_dump_all(crds, sort_keys=False))
            (OUT / f"{name}.NOTES.txt").write_text(notes(files))
            assert core, "nothing rendered"

        check(f"{name}: helm template (schema-validated values)", do_render)
        if name not in rendered:
            continue
        docs, files = rendered[name]

        def kube_validate(name=name):
            # kubernetes-validate knows no CRDs: ServiceMonitor and PrometheusRule are
            # left out here and checked structurally below.
            result = subprocess.run(
                ["kubernetes-validate", "--strict", "--quiet", "-k", KUBE_VERSION, str(OUT / f"{name}.yaml")],
                capture_output=True, text=True)
            assert result.returncode == 0, (result.stdout + result.stderr).strip()[-3000:]

        check(f"{name}: kubernetes-validate --strict -k {KUBE_VERSION}", kube_validate)

        def deployment(docs=docs, values=values):
            dep = one(docs, "Deployment")
            pod = dep["spec"]["template"]["spec"]
            (container,) = pod["containers"]
            assert container["args"][:3] == ["serve", "-c", "/etc/firedrill/firedrill.yaml"], container["args"]
            psc, csc = pod["securityContext"], container["securityContext"]
            assert psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) != 0, psc
            assert csc.get("readOnlyRootFilesystem") is True, csc
            assert csc.get("allowPrivilegeEscalation") is False, csc
            assert csc.get("capabilities", {}).get("drop") == ["ALL"], csc
            assert "add" not in csc.get("capabilities", {}), csc
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            assert ports == {"http": 9477}, ports
            assert dep["spec"]["replicas"] == values.get("replicaCount", 1)
            if not values.get("resources"):
                assert "resources" not in container, "resources must be left to the user"
            mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
            assert mounts["config"] == "/etc/firedrill", mounts
            config = rendered_config(docs)
            assert mounts["data"] == config["storage"]["path"], (mounts, config["storage"])
            volumes = {v["name"]: v for v in pod["volumes"]}
            if values.get("persistence", {}).get("enabled", True) and not database(values):
                assert "persistentVolumeClaim" in volumes["data"], volumes["data"]
            else:
                assert "emptyDir" in volumes["data"], volumes["data"]
            extra = values.get("plugins", {}).get("extraVolume")
            assert ("plugins" in volumes) == bool(extra), "plugins volume iff plugins.extraVolume"

        check(f"{name}: Deployment is non-root, read-only, no privileges, serve -c", deployment)

        def storage(docs=docs, values=values):
            dep = one(docs, "Deployment")
            pod = dep["spec"]["template"]["spec"]
            config = rendered_config(docs)
            pg = database(values)
            persistence = values.get("persistence", {})
            pvcs = by_kind(docs, "PersistentVolumeClaim")
            claims = [v for v in pod["volumes"] if "persistentVolumeClaim" in v and v["name"] != "plugins"]
            election = config.get("leader_election", {})
            strategy = dep["spec"].get("strategy", {}).get("type", "RollingUpdate")
            if pg:
                # The replicas share the database, never a volume.
                assert not pvcs, f"a claim rendered with store.postgres: {[p['metadata']['name'] for p in pvcs]}"
                assert not claims, f"a claim mounted with store.postgres: {claims}"
                assert "emptyDir" in {v["name"]: v for v in pod["volumes"]}["data"]
                wanted = {"url": pg["url"]}
                if pg.get("password") or pg.get("existingSecret"):
                    wanted["password"] = {"env": "FIREDRILL_STORE_PASSWORD"}
                assert config["storage"].get("postgres") == wanted, config["storage"]
                assert election.get("enabled") is True, f"no leader election with a database: {election}"
                assert strategy == "RollingUpdate", strategy
            else:
                assert values.get("replicaCount", 1) <= 1, "several replicas rendered without a database"
                assert "postgres" not in config["storage"], config["storage"]
                assert election.get("enabled") is False, f"leader election without a database: {election}"
                assert strategy == "Recreate", f"strategy {strategy}: two pods could write the SQLite store at once"
                if persistence.get("enabled", True) and not persistence.get("existingClaim"):
                    modes = persistence.get("accessModes", ["ReadWriteOnce"])
                    assert [p["spec"]["accessModes"] for p in pvcs] == [modes], [p["spec"] for p in pvcs]
                    assert [c["persistentVolumeClaim"]["claimName"] for c in claims] == [pvcs[0]["metadata"]["name"]], claims
                else:
                    assert not pvcs, pvcs
            # The affinity is the values' own: the chart adds nothing (no replicas pinned
            # to the node of a shared claim).
            assert pod.get("affinity", {}) == values.get("affinity", {}), pod.get("affinity")

        check(f"{name}: SQLite on one replica's claim, or PostgreSQL and no shared volume", storage)

        def secrets(docs=docs, values=values):
            dep = one(docs, "Deployment")
            env = {e["name"]: e for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
            own = {d["metadata"]["name"]: d for d in by_kind(docs, "Secret")}
            # (variable, values section, key in the chart's Secret, default existingSecretKey)
            for var, section, key, existing_key in (
                    ("FIREDRILL_API_TOKEN", "api", "api-token", "api-token"),
                    ("FIREDRILL_SMTP_PASSWORD", "smtp", "smtp-password", "smtp-password"),
                    ("FIREDRILL_STORE_PASSWORD", "store.postgres", "store-password", "password")):
                cfg = database(values) if section == "store.postgres" else values.get(section, {})
                wanted = section == "api" or cfg.get("password") or cfg.get("existingSecret")
                if not wanted:
                    assert var not in env, f"{var} set without a {section} secret"
                    continue
                ref = env[var]["valueFrom"]["secretKeyRef"]
                if cfg.get("existingSecret"):
                    assert ref == {"name": cfg["existingSecret"], "key": cfg.get("existingSecretKey", existing_key)}, ref
                else:
                    assert ref["name"] in own and key in own[ref["name"]]["data"], (ref, list(own))
                    if cfg.get("token") or cfg.get("password"):
                        assert base64.b64decode(own[ref["name"]]["data"][key]).decode() == (cfg.get("token") or cfg.get("password"))
            if values.get("api", {}).get("existingSecret") and values.get("smtp", {}).get("existingSecret") \
                    and not database(values).get("password"):
                assert not own, f"the chart created Secrets {list(own)} although existing ones are given"
            config_text = json.dumps([d.get("data") for d in by_kind(docs, "ConfigMap")])
            for secret_value in (values.get("api", {}).get("token"), values.get("smtp", {}).get("password"),
                                 database(values).get("password")):
                if secret_value:
                    assert secret_value not in config_text, "a secret leaked into a ConfigMap"

        check(f"{name}: secrets wired from Secrets, never in the ConfigMap", secrets)

        def service(docs=docs):
            svc = one(docs, "Service")
            assert svc["spec"]["ports"] == [{"name": "http", "port": 9477, "targetPort": "http", "protocol": "TCP"}], svc["spec"]["ports"]

        check(f"{name}: Service exposes 9477 as http", service)

        def rbac(docs=docs, values=values):
            exec_on = values.get("scenarios", {}).get("exec", False)
            problems = rbac_violations(docs, exec_on)
            assert not problems, "\n".join(problems)
            cluster_roles = [d["metadata"]["name"] for d in by_kind(docs, "ClusterRole")]
            expected = []
            if values.get("rbac", {}).get("create", True):
                expected.append(f"{RELEASE}-nodes")
                if "*" in values.get("rbac", {}).get("namespaces", []):
                    expected.append(f"{RELEASE}-drills")
                elif values.get("rbac", {}).get("drainNodes"):
                    expected.append(f"{RELEASE}-drain")
            assert sorted(cluster_roles) == sorted(expected), cluster_roles
            g = granted(docs)
            has_exec = any(r == "pods/exec" for _, _, r, _ in g)
            namespaces = values.get("rbac", {}).get("namespaces", [])
            assert has_exec == bool(exec_on and namespaces and values.get("rbac", {}).get("create", True)), \
                f"pods/exec granted={has_exec}, scenarios.exec={exec_on}"
            for ns in namespaces:
                if ns != "*":
                    assert ("Role", ns, "pods", "delete") in g, f"no Role for namespace {ns}"
            for binding in by_kind(docs, "RoleBinding") + by_kind(docs, "ClusterRoleBinding"):
                for subject in binding["subjects"]:
                    assert subject["namespace"] == NAMESPACE and subject["kind"] == "ServiceAccount", subject

        check(f"{name}: RBAC grants nothing beyond the allowed list", rbac)

        def crds(docs=docs, values=values):
            for kind, flag in (("ServiceMonitor", "serviceMonitor"), ("PrometheusRule", "prometheusRule")):
                found = by_kind(docs, kind)
                assert len(found) == (1 if values.get(flag, {}).get("enabled") else 0), f"{kind}: {len(found)}"
                for doc in found:
                    assert doc["apiVersion"] == "monitoring.coreos.com/v1", doc["apiVersion"]
            for sm in by_kind(docs, "ServiceMonitor"):
                assert sm["spec"]["endpoints"][0]["port"] == "http" and sm["spec"]["endpoints"][0]["path"] == "/metrics"
                assert sm["spec"]["selector"]["matchLabels"] == one(docs, "Service")["spec"]["selector"]
            for rule in by_kind(docs, "PrometheusRule"):
                source = yaml.safe_load((CHART / "files/alerts.yaml").read_text())
                assert rule["spec"] == source, "PrometheusRule differs from files/alerts.yaml"
            dashboards = [d for d in by_kind(docs, "ConfigMap") if d["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
            assert len(dashboards) == (1 if values.get("grafanaDashboard", {}).get("enabled") else 0), len(dashboards)
            for cm in dashboards:
                assert json.loads(cm["data"]["firedrill.json"]) == json.loads((CHART / "files/dashboard.json").read_text())

        check(f"{name}: ServiceMonitor, PrometheusRule and dashboard only when enabled", crds)

        def notes_check(files=files, values=values):
            text = notes(files)
            assert "firedrill check" in text, text
            pg = database(values)
            warned = "WARNING: persistence is disabled" in text
            expected = not pg and not values.get("persistence", {}).get("enabled", True)
            assert warned == expected, f"persistence warning={warned}, expected {expected}"
            hinted = "keep the store in PostgreSQL" in text
            assert hinted == (not pg), f"note on two replicas with PostgreSQL={hinted}"
            assert ("sharing the store in PostgreSQL" in text) == bool(pg), text.splitlines()[:3]

        check(f"{name}: NOTES.txt (the store it uses, emptyDir warning iff SQLite without persistence)", notes_check)

        if FIREDRILL:
            def firedrill_check(docs=docs, name=name):
                cm = next(d for d in by_kind(docs, "ConfigMap") if "firedrill.yaml" in d.get("data", {}))
                path = OUT / f"{name}.firedrill.yaml"
                path.write_text(cm["data"]["firedrill.yaml"])
                result = subprocess.run([FIREDRILL, "check", "-c", str(path)], capture_output=True, text=True, timeout=60)
                assert result.returncode == 0, (result.stdout + result.stderr).strip()[-3000:]

            check(f"{name}: firedrill check accepts the rendered configuration", firedrill_check)

    # -- the rendered RBAC applied to a sandbox, every drill run with the ServiceAccount's
    # token, then each rule removed in turn (helm/rbac_drills.py)
    plugins = HERE.parent / "target" / "plugins"
    if FIREDRILL and plugins.is_dir() and any(plugins.glob("*.wasm")) and shutil.which("kubectl"):
        sys.path.insert(0, str(HERE))
        import rbac_drills
        rbac_drills.run(check, rendered, values_by_name, FIREDRILL, plugins)
    else:
        print("     (no firedrill binary, target/plugins/ or kubectl: RBAC not tried against a sandbox)")

    # -- the values schema and the RBAC checker can fail (they are not vacuous)
    def schema_rejects():
        for bad in ({"replicaCount": "two"}, {"rbac": {"namespaces": ["Not_A_Namespace"]}},
                    {"persistance": {"enabled": False}}, {"config": {"version": 2}},
                    {"replicaCount": 2}, {"replicaCount": 2, "store": {"postgres": {"url": ""}}},
                    {"persistence": {"accessModes": ["ReadWriteMany"]}}):
            assert schema_error(bad), f"values.schema.json accepted {bad}"
        for good in ({"replicaCount": 1}, {"replicaCount": 2, "store": {"postgres": {"url": "postgres://firedrill@db:5432/firedrill?sslmode=require"}}},
                     {"store": {"postgres": {"url": "postgresql://db.example/firedrill"}}}):
            assert not schema_error(good), f"values.schema.json refused {good}: {schema_error(good)}"

    check("values.schema.json rejects wrong types, typos, bad namespaces, and several replicas without a database", schema_rejects)

    def loopback_listen_refused():
        values = copy.deepcopy(load_values(CHART / "values.yaml"))
        for listen in ("127.0.0.1:9477", "0.0.0.0:8080"):
            values["config"]["api"]["listen"] = listen
            try:
                render({"config": values["config"]})
            except helm.HelmError as exc:
                assert "config.api.listen" in str(exc), exc
                continue
            raise AssertionError(f"rendered with config.api.listen {listen}")

    check("a config listening on loopback or another port is refused at render", loopback_listen_refused)

    def several_replicas_need_a_database():
        for values in ({"replicaCount": 2}, {"replicaCount": 3, "persistence": {"accessModes": ["ReadWriteOncePod"]}},
                       {"replicaCount": 2, "persistence": {"enabled": False}}):
            # The schema is checked first: either replicaCount at most 1 or a database URL.
            error = render_error(values)
            assert "'/replicaCount': maximum" in error and "'/store/postgres/url': minLength" in error, \
                f"{values}: {error or 'rendered'}"
            # The templates say the same in words when the schema is skipped.
            error = render_error(values, schema=False)
            wanted = f"replicaCount is {values['replicaCount']}, but several replicas need a shared PostgreSQL store"
            assert wanted in error and "store.postgres.url" in error, f"{values}: {error or 'rendered'}"

    check("more than one replica without store.postgres fails to render, saying so", several_replicas_need_a_database)

    def database_and_no_shared_volume():
        url = "postgres://firedrill@db.example:5432/firedrill?sslmode=require"
        for pg, secret, key in (({"existingSecret": "firedrill-db", "existingSecretKey": "pw"}, "firedrill-db", "pw"),
                                ({"password": "not-a-real-store-password"}, f"{RELEASE}", "store-password")):
            values = {"replicaCount": 2, "store": {"postgres": {"url": url, **pg}},
                      "persistence": {"existingClaim": "ignored-with-a-database"}}
            docs, _ = render(values)
            assert not by_kind(docs, "PersistentVolumeClaim"), "a claim rendered"
            pod = one(docs, "Deployment")["spec"]["template"]["spec"]
            shared = [v["name"] for v in pod["volumes"] if set(v) - {"name", "emptyDir", "configMap"}]
            assert not shared, f"volumes beyond emptyDirs and the ConfigMap: {shared}"
            env = {e["name"]: e for e in pod["containers"][0]["env"]}
            assert env["FIREDRILL_STORE_PASSWORD"]["valueFrom"] == {"secretKeyRef": {"name": secret, "key": key}}, env["FIREDRILL_STORE_PASSWORD"]
            if "password" in pg:
                own = one([d for d in by_kind(docs, "Secret") if d["metadata"]["name"] == secret], "Secret")
                assert base64.b64decode(own["data"][key]).decode() == pg["password"]
            config = rendered_config(docs)
            assert config["storage"] == {"path": "/var/lib/firedrill",
                                         "postgres": {"url": url, "password": {"env": "FIREDRILL_STORE_PASSWORD"}}}, config["storage"]
            cm_text = json.dumps([d.get("data") for d in by_kind(docs, "ConfigMap")])
            assert "not-a-real-store-password" not in cm_text, "the password in the ConfigMap"
            assert config["leader_election"]["enabled"] is True, config["leader_election"]

    check("with store.postgres: no claim, no shared volume, the password from a Secret, only the URL in the ConfigMap",
          database_and_no_shared_volume)

    def one_replica_on_a_read_write_once_claim():
        docs, files = render({})
        dep = one(docs, "Deployment")
        assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"] == {"type": "Recreate"}, dep["spec"]
        pvc = one(docs, "PersistentVolumeClaim")
        assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"], pvc["spec"]
        volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
        assert volumes["data"]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"], volumes["data"]
        config = rendered_config(docs)
        assert "postgres" not in config["storage"] and config["leader_election"]["enabled"] is False, config
        env = {e["name"] for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert "FIREDRILL_STORE_PASSWORD" not in env, env
        assert "replicaCount: 2" in notes(files), "NOTES.txt does not say how to run two replicas"

    check("default values: one replica, SQLite on a ReadWriteOnce claim, Recreate", one_replica_on_a_read_write_once_claim)

    def store_mistakes_refused():
        url = "postgres://firedrill@db:5432/firedrill"
        for values, wanted in (
                ({"store": {"postgres": {"url": "postgres://firedrill:secret@db:5432/firedrill"}}}, "store.postgres.url holds a password"),
                ({"store": {"postgres": {"url": "mysql://firedrill@db/firedrill"}}}, "it must be a postgres:// URL"),
                ({"store": {"postgres": {"existingSecret": "firedrill-db"}}}, "without store.postgres.url"),
                ({"store": {"postgres": {"password": "x"}}}, "without store.postgres.url"),
                ({"store": {"postgres": {"url": url}}, "config": {"storage": {"path": "/var/lib/firedrill", "postgres": {"url": url}}}},
                 "config.storage.postgres is set")):
            error = render_error(values)
            assert wanted in error, f"{values}: {error or 'rendered'}"
            assert "secret@" not in error, f"the password is in the message: {error}"

    check("a password in the URL, a password without a URL and config.storage.postgres by hand are refused",
          store_mistakes_refused)

    def rbac_checker_catches():
        docs = copy.deepcopy(rendered["default"][0])
        role = next(d for d in docs if d["kind"] == "ClusterRole")
        role["rules"].append({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]})
        assert rbac_violations(docs, False), "an added secrets rule went unnoticed"
        docs = copy.deepcopy(rendered["exec-scenarios"][0])
        assert rbac_violations(docs, False), "pods/exec without scenarios.exec went unnoticed"

    if "default" in rendered and "exec-scenarios" in rendered:
        check("the RBAC check flags extra grants", rbac_checker_catches)

    def default_rbac_exact():
        g = granted(rendered["default"][0])
        assert g == {("Role", NAMESPACE, "leases", v) for v in ("get", "create", "update")} | \
                    {("ClusterRole", "", "nodes", v) for v in ("get", "list", "patch")} | \
                    {("ClusterRole", "", "namespaces", "get")}, sorted(g)

    if "default" in rendered:
        check("default values: only leases (release namespace), nodes and the kube-system namespace are granted", default_rbac_exact)

    # -- dashboard
    dash = json.loads((CHART / "files/dashboard.json").read_text())
    targets = dashboard_targets(dash)
    # Annotation queries (drill phases as regions on every panel): (name, annotation).
    annotations = [(f"annotation {a.get('name', '?')}", a)
                   for a in dash.get("annotations", {}).get("list", []) if "expr" in a]

    def dash_structure():
        variables = {v["name"]: v for v in dash["templating"]["list"]}
        assert variables.get("datasource", {}).get("type") == "datasource", "no datasource variable"
        assert variables["datasource"].get("query") == "prometheus"
        assert targets, "no panel queries"
        for title, panel, target in targets:
            assert target.get("expr"), f"{title}: target without expr"
            for ds in (panel.get("datasource"), target.get("datasource")):
                assert ds and ds.get("uid") == "${datasource}", f"{title}: datasource {ds}"
        ids = [p["id"] for p in dash["panels"]]
        assert len(ids) == len(set(ids)), "duplicate panel ids"
        assert annotations, "no annotation query (drill phases)"
        for title, annotation in annotations:
            assert annotation["expr"], f"{title}: empty expr"
            assert annotation.get("datasource", {}).get("uid") == "${datasource}", f"{title}: datasource"
            assert annotation.get("useValueForTime") is False, f"{title}: useValueForTime"
            assert annotation.get("titleFormat") and annotation.get("tagKeys"), f"{title}: title, tags"

    check("dashboard: datasource variable, every panel and annotation on it", dash_structure)

    def dash_metrics():
        problems = []
        used = set()
        exprs = [(t, tg["expr"]) for t, _, tg in targets]
        exprs += [(t, a["expr"]) for t, a in annotations]
        for v in dash["templating"]["list"]:
            if v.get("type") == "query":
                exprs.append((f"variable {v['name']}", v["definition"]))
        for title, expr in exprs:
            plain = re.sub(r"label_values\(([^,]+),[^)]*\)", r"\1", substitute_grafana_vars(expr))
            unknown = unknown_identifiers(plain)
            if unknown:
                problems.append(f"{title}: unknown names {sorted(unknown)} in {expr}")
            used |= set(re.findall(r"firedrill_[a-z0-9_]+", plain)) & METRICS
        assert not problems, "\n".join(problems)
        missing = METRICS - used
        assert not missing, f"metrics no panel shows: {sorted(missing)}"

    check("dashboard: queries use only the daemon's metric names", dash_metrics)

    def dash_promql_parses():
        rules = {"groups": [{"name": "dashboard", "rules": [
            {"record": f"dashboard:panel_{i}", "expr": substitute_grafana_vars(tg["expr"])}
            for i, (_, _, tg) in enumerate(targets)] + [
            {"record": f"dashboard:annotation_{i}", "expr": substitute_grafana_vars(a["expr"])}
            for i, (_, a) in enumerate(annotations)]}]}
        path = OUT / "dashboard-queries.rules.yaml"
        path.write_text(yaml.safe_dump(rules, sort_keys=False))
        result = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, (result.stdout + result.stderr).strip()[-3000:]

    check("dashboard: every panel and annotation query parses as PromQL (promtool)", dash_promql_parses)

    def alerts_metrics():
        rules = yaml.safe_load((CHART / "files/alerts.yaml").read_text())["groups"][0]["rules"]
        names = {r["alert"] for r in rules}
        assert names == {"FiredrillDrillOverdue", "FiredrillPhaseRtoMissed", "FiredrillDrillAborted",
                         "FiredrillMailOutboxStuck", "FiredrillPluginErrors",
                         "FiredrillAcknowledgedWritesLost", "FiredrillRunsOwingRollback"}, names
        for rule in rules:
            unknown = unknown_identifiers(rule["expr"])
            assert not unknown, f"{rule['alert']}: {unknown}"
            assert {"summary", "description", "runbook"} <= set(rule["annotations"]), rule["alert"]
        tests = yaml.safe_load((CHART / "files/alerts_test.yaml").read_text())["tests"]
        fired, silent = set(), set()
        for t in tests:
            for case in t.get("alert_rule_test", []):
                (fired if case.get("exp_alerts") else silent).add(case["alertname"])
        assert fired == names and silent == names, f"untested: firing {names - fired}, not firing {names - silent}"

    check("alerts: the seven rules, known metrics, annotations, tests firing and silent for each", alerts_metrics)

    # That every panel query returns data from a real Prometheus scraping a daemon that
    # has run drills is tested end to end in Rust: tests/tests/dashboard.rs
    # (`cargo nextest run -p firedrill-tests --test dashboard`).

    def values_documented():
        lines = (CHART / "values.yaml").read_text().splitlines()
        undocumented = []
        stack: list[tuple[int, str]] = []
        for i, line in enumerate(lines):
            m = re.match(r"^(\s*)([A-Za-z_][\w-]*):(.*)$", line)
            if not m or line.lstrip().startswith("#"):
                continue
            indent, key, rest = len(m.group(1)), m.group(2), m.group(3).strip()
            while stack and stack[-1][0] >= indent:
                stack.pop()
            path = ".".join([k for _, k in stack] + [key])
            stack.append((indent, key))
            if path.startswith(("config.", "podSecurityContext.", "securityContext.", "grafanaDashboard.labels.")):
                continue  # inside a value documented as a whole (the config, a context, a label map)
            is_section = rest == "" and i + 1 < len(lines) and not lines[i + 1].lstrip().startswith("-") \
                and len(lines[i + 1]) - len(lines[i + 1].lstrip()) > indent
            if is_section and path not in ("podSecurityContext", "securityContext", "config"):
                continue
            j = i - 1
            while j >= 0 and lines[j].strip().startswith("#") and not lines[j].strip().startswith("# --"):
                j -= 1
            if j < 0 or not lines[j].strip().startswith("# --"):
                undocumented.append(path)
        assert not undocumented, f"values without a `# --` comment: {undocumented}"

    check("values.yaml: every value documented in place (# --)", values_documented)

    def dockerfile():
        text = (HERE / "Dockerfile").read_text()
        assert re.search(r"^FROM .* AS build$", text, re.M) and text.count("\nFROM ") >= 2, "not multi-stage"
        # The built-in scenarios are compiled into the binary by its build script: the
        # build stage needs the wasm target, and nothing but the binary is copied.
        assert "rustup target add wasm32-wasip2" in text and "cargo build --release" in text, "daemon not built with its plugins"
        copies = re.findall(r"^COPY --from=build (\S+) (\S+)$", text, re.M)
        assert copies == [("/out/bin/firedrill", "/usr/lib/firedrill/bin/firedrill")], f"copies {copies}"
        assert "dir" not in load_values(CHART / "values.yaml")["config"].get("plugins", {}), "plugins.dir set: the image has no plugin directory"
        users = re.findall(r"^USER (\S+)", text, re.M)
        assert users and not users[-1].startswith(("0", "root")), f"runs as {users}"
        uid = load_values(CHART / "values.yaml")["podSecurityContext"]["runAsUser"]
        assert users[-1].split(":")[0] == str(uid), f"image user {users[-1]} is not the chart's runAsUser {uid}"
        assert 'CMD ["serve", "-c", "/etc/firedrill/firedrill.yaml"]' in text
        # helm/image.sh (what CI builds and runs) makes the same layout and user.
        script = (HERE / "image.sh").read_text()
        assert f"--user {uid}:{uid}" in script and "/usr/lib/firedrill/bin/firedrill" in script, "image.sh differs"
        assert "serve -c /etc/firedrill/firedrill.yaml" in script

    check("Dockerfile and image.sh: the binary alone, the chart's non-root user", dockerfile)

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
