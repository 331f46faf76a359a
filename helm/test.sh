#!/usr/bin/env bash
# Tests the Helm chart, its alert rules and its Grafana dashboard; called by .ci/run.
#
#   bash helm/test.sh                  install what is missing, then test
#   bash helm/test.sh --install-only   only install what is missing (for .ci/setup)
#
# Installs only what is missing (a cached virtualenv under target/helm-test/ with
# helm-python-sdk and kubernetes-validate; Debian's prometheus package for promtool and
# the end-to-end tests' Prometheus), then: promtool check/test rules; for every helm/firedrill/ci/*-values.yaml, helm lint and
# an offline render (Helm 4 as a library), kubernetes-validate --strict against the oldest
# Kubernetes version firedrill supports, checks of the Deployment, the store (SQLite on one
# replica's claim, or PostgreSQL and no shared volume), Secrets, RBAC (least privilege),
# monitoring objects and NOTES, and `firedrill check` of the rendered
# configuration when a built binary is there; dashboard queries against the daemon's
# metric names and promtool's PromQL parser. Ends with `N passed, N failed`; exits 1 on
# any failure.
#
# With a built target/debug/firedrill and target/plugins/ (and kubectl on PATH), the RBAC
# is also tried for real (helm/rbac_drills.py, about 1.5 minutes): for every example with
# rbac.create, a sandbox (127.0.0.1 only) gets the rendered ServiceAccount, Roles,
# ClusterRoles and bindings through `kubectl apply -f`, a token from `kubectl create
# token`, and every drill of the rendered configuration (or a generated set for examples
# without drills) runs with a kubeconfig holding only that token and must pass, as must
# `firedrill serve` taking the leader-election Lease; then each verb of each rule is
# removed in turn and a drill must fail with a Forbidden naming the verb, resource and
# namespace. It prints `rbac drills: N examples, N drills passed, N rules removed, ...`.
#
# Whether every dashboard query returns data is not checked here but end to end, against a
# real Prometheus (the `prometheus` binary installed below) scraping `firedrill serve` after
# drills: tests/tests/dashboard.rs (`cargo nextest run -p firedrill-tests --test dashboard`).
set -uo pipefail
cd "$(dirname "$0")/.."

# The oldest Kubernetes firedrill supports: k8s-openapi's `v1_33` feature (Cargo.toml).
KUBE_VERSION=1.33.0
WORK=target/helm-test
VENV=$WORK/venv
CHART=helm/firedrill
log() { printf '\033[1m[helm/test]\033[0m %s\n' "$*" >&2; }
SECONDS=0

mkdir -p "$WORK"
if ! "$VENV/bin/python" -c 'import helm_python, kubernetes_validate' 2>/dev/null; then
  log "creating $VENV (helm-python-sdk, kubernetes-validate)"
  python3 -m venv "$VENV" || exit 1
  "$VENV/bin/pip" install --quiet --disable-pip-version-check helm-python-sdk kubernetes-validate || exit 1
fi
if ! command -v promtool >/dev/null; then
  log "apt-get install prometheus (promtool; prometheus for the end-to-end tests)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null || exit 1
fi

[ "${1:-}" = "--install-only" ] && { log "tools ready (${SECONDS}s)"; exit 0; }

passed=0 failed=0
run() {  # run NAME COMMAND...: one counted check
  local name=$1; shift
  local out
  if out=$("$@" 2>&1); then
    passed=$((passed + 1)); echo "ok   $name"
  else
    failed=$((failed + 1)); echo "FAIL $name"; printf '%s\n' "$out" | tail -40 | sed 's/^/     /'
  fi
}

run "promtool check rules files/alerts.yaml" promtool check rules "$CHART/files/alerts.yaml"
run "promtool test rules files/alerts_test.yaml" promtool test rules "$CHART/files/alerts_test.yaml"

# The checks of chart_checks.py; it prints its own `N passed, N failed` line, folded in here.
firedrill_bin=""
[ -x target/debug/firedrill ] && firedrill_bin=target/debug/firedrill
[ -z "$firedrill_bin" ] && log "no target/debug/firedrill: rendered configurations are not checked with \`firedrill check\`"
rm -rf "$WORK/rendered"
out=$(PATH="$PWD/$VENV/bin:$PATH" "$VENV/bin/python" helm/chart_checks.py "$WORK/rendered" "$KUBE_VERSION" "$firedrill_bin" 2>&1)
status=$?
printf '%s\n' "$out" | sed '$d'
summary=$(printf '%s\n' "$out" | tail -1)
if [[ $summary =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
  passed=$((passed + BASH_REMATCH[1])); failed=$((failed + BASH_REMATCH[2]))
  [ "$status" -ne 0 ] && [ "${BASH_REMATCH[2]}" -eq 0 ] && failed=$((failed + 1))
else
  echo "FAIL helm/chart_checks.py did not finish"; echo "$summary"; failed=$((failed + 1))
fi

log "rendered manifests in $WORK/rendered/ (${SECONDS}s)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
