#!/usr/bin/env bash
# The firedrill OCI image: built from scratch with buildah (no base image, no registry
# needed) and run with podman. Called by .ci/run; helm/Dockerfile builds the same layout
# for users with Docker.
#
#   bash helm/image.sh build [BINARY]   build the chart's default image (ghcr.io/firedrill/
#                                       firedrill:APPVERSION, local only) from BINARY (default
#                                       target/release/firedrill, else target/debug/firedrill)
#                                       and write target/image/firedrill.oci.tar
#   bash helm/image.sh test             run the image with podman: --version; `demo` inside
#                                       the container; `serve` inside it drilling a sandbox
#                                       outside it, triggered and scraped over HTTP
#
# Layout in the image (the binary carries the built-in scenarios; nothing else is needed):
#   /usr/lib/firedrill/bin/firedrill   the daemon, the entrypoint (also /usr/local/bin/firedrill)
#   /lib/x86_64-linux-gnu/..., /lib64/ the glibc it links, copied from the build machine
#   /etc/ssl/certs/ca-certificates.crt CA roots for TLS to API servers, SMTP, webhooks
#   /etc/passwd, /etc/group            user and group firedrill, 65532 (the image runs as it)
#   /etc/firedrill                     the configuration (the chart mounts a ConfigMap)
#   /var/lib/firedrill                 the run store and working directory (a volume)
#
# Storage: buildah and podman keep their images under target/image/storage (vfs driver;
# rootful, as CI runs), so nothing outside target/ is touched and `rm -rf target/image`
# removes it all. Podman runs with runc and cgroupfs (crun refuses this machine's hybrid
# cgroups; see ../shared/TOOLCHAIN.md).
set -euo pipefail
cd "$(dirname "$0")/.."

# The chart's default image: values.yaml's image.repository, tagged with Chart.yaml's appVersion.
IMAGE=$(sed -n 's/^  repository: *//p' helm/firedrill/values.yaml | head -n 1):$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' helm/firedrill/Chart.yaml)
WORK=$PWD/target/image
STORE=(--root "$WORK/storage" --runroot "$WORK/run" --storage-driver vfs)
log() { printf '\033[1m[image]\033[0m %s\n' "$*" >&2; }

install_tools() {
  local missing=()
  for pkg in buildah podman runc uidmap fuse-overlayfs slirp4netns ca-certificates curl binutils; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# podman's configuration for this machine: runc, cgroupfs, no default ulimits.
containers_conf() {
  mkdir -p "$WORK"
  printf '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\nruntime = "runc"\nevents_logger = "file"\n' \
    >"$WORK/containers.conf"
  export CONTAINERS_CONF=$WORK/containers.conf
}

build() {
  local binary=${1:-}
  if [ -z "$binary" ]; then
    for candidate in target/release/firedrill target/debug/firedrill; do
      [ -x "$candidate" ] && { binary=$candidate; break; }
    done
  fi
  [ -n "$binary" ] && [ -x "$binary" ] || { echo "no firedrill binary: build one with cargo build -p firedrill" >&2; exit 2; }
  install_tools
  containers_conf
  SECONDS=0
  local root=$WORK/rootfs
  rm -rf "$root"
  mkdir -p "$root"/{usr/lib/firedrill/bin,usr/local/bin,etc/firedrill,etc/ssl/certs,var/lib/firedrill,tmp}
  # The binary without its symbol tables and line tables: smaller, same code.
  objcopy --strip-all "$binary" "$root/usr/lib/firedrill/bin/firedrill"
  ln -s ../../lib/firedrill/bin/firedrill "$root/usr/local/bin/firedrill"
  # The shared libraries it links (glibc, libgcc_s), at the paths the loader looks in.
  local lib
  for lib in $(ldd "$binary" | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nfiredrill:x:65532:65532:firedrill:/var/lib/firedrill:/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\nfiredrill:x:65532:\n' >"$root/etc/group"
  chmod 1777 "$root/tmp"
  chown 65532:65532 "$root/var/lib/firedrill"

  local version ctr
  version=$("$binary" --version | awk '{print $2}')
  ctr=$(buildah "${STORE[@]}" from scratch)
  buildah "${STORE[@]}" copy --quiet "$ctr" "$root" / >/dev/null
  buildah "${STORE[@]}" config \
    --entrypoint '["/usr/lib/firedrill/bin/firedrill"]' \
    --cmd 'serve -c /etc/firedrill/firedrill.yaml' \
    --user 65532:65532 --workingdir /var/lib/firedrill \
    --env HOME=/var/lib/firedrill --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    --port 9477 \
    --label org.opencontainers.image.title=firedrill \
    --label "org.opencontainers.image.version=$version" \
    --label org.opencontainers.image.licenses=Apache-2.0 \
    "$ctr"
  buildah "${STORE[@]}" commit --quiet --rm "$ctr" "$IMAGE" >/dev/null
  rm -f "$WORK/firedrill.oci.tar"
  buildah "${STORE[@]}" push --quiet "$IMAGE" "oci-archive:$WORK/firedrill.oci.tar:$IMAGE" >/dev/null
  rm -rf "$root"
  local size
  size=$(podman "${STORE[@]}" image inspect --format '{{.Size}}' "$IMAGE")
  log "built $IMAGE from $binary in ${SECONDS}s: image size $((size / 1024 / 1024)) MiB ($size bytes; target <= 60 MiB), archive $(du -h "$WORK/firedrill.oci.tar" | cut -f1) at ${WORK#$PWD/}/firedrill.oci.tar"
}

# podman run with this machine's settings, as uid 65532 (the image's user).
run_image() {
  podman "${STORE[@]}" run --rm --network host "$@"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

test_image() {
  install_tools
  containers_conf
  SECONDS=0
  local passed=0 failed=0
  tmp=$(mktemp -d "$WORK/test.XXXXXX")
  chmod 0777 "$tmp"
  pids=()
  cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    podman "${STORE[@]}" rm -f -t 2 firedrill-serve-test >/dev/null 2>&1 || true
    rm -rf "$tmp"
  }
  trap cleanup EXIT
  check() {  # check NAME COMMAND...: one counted check
    local name=$1; shift
    if "$@" >"$tmp/check.out" 2>&1; then
      passed=$((passed + 1)); echo "ok   $name"; sed 's/^/     /' "$tmp/check.out"
    else
      failed=$((failed + 1)); echo "FAIL $name"; tail -n 30 "$tmp/check.out" | sed 's/^/     /'
    fi
  }

  # 1. The image answers --version, as its user, with nothing mounted.
  version() {
    local out
    out=$(run_image "$IMAGE" --version) && echo "$out" && echo "$out" | grep -q '^firedrill ' || return 1
    podman "${STORE[@]}" image inspect --format '{{.Config.User}}' "$IMAGE" | grep -qx 65532:65532
  }
  check "image: firedrill --version, run as uid 65532" version

  # 2. The demo inside the container: its embedded sandbox, the seed's zone drill, a
  #    report written into the mounted directory.
  mkdir -p "$tmp/demo" && chmod 0777 "$tmp/demo"
  demo() {
    run_image -v "$tmp/demo:/var/lib/firedrill:Z" "$IMAGE" demo >"$tmp/demo.out" 2>&1 || { cat "$tmp/demo.out"; return 1; }
    grep -i "passed" "$tmp/demo.out" | head -n 3
    local report
    report=$(ls "$tmp"/demo/firedrill-demo/*/reports/*/report.md 2>/dev/null | head -n 1)
    [ -n "$report" ] || { ls -R "$tmp/demo"; return 1; }
    # Written by the image's user, not root.
    [ "$(stat -c %u "$report")" = 65532 ] || { stat "$report"; return 1; }
  }
  check "image: firedrill demo inside the container passes and writes its report" demo

  # 3. serve inside the container, drilling a sandbox outside it (on the host's
  #    loopback), a drill triggered through the API and the figures scraped from /metrics.
  local api sandbox
  api=$(free_port)
  sandbox=$(free_port)
  mkdir -p "$tmp/etc" "$tmp/state" && chmod 0777 "$tmp/state"
  target/debug/firedrill sandbox up --listen "127.0.0.1:$sandbox" --kubeconfig "$tmp/etc/kubeconfig" \
    >"$tmp/sandbox.log" 2>&1 &
  pids+=($!)
  local i
  for i in $(seq 1 100); do [ -s "$tmp/etc/kubeconfig" ] && break; sleep 0.1; done
  cat >"$tmp/etc/firedrill.yaml" <<EOF
version: 1
storage: { path: /var/lib/firedrill }
targets:
  outside: { kind: kubeconfig, kubeconfig: /etc/firedrill/kubeconfig }
default_target: outside
api: { listen: "127.0.0.1:$api", token: { env: FIREDRILL_API_TOKEN } }
services:
  perception:
    namespace: butterfly
    selector: app.kubernetes.io/name=perception
    probes: [{ service_proxy: { service: perception, port: http, path: /actuator/health } }]
drills:
  single-pod:
    phases:
      - { name: pod-failure, scenario: pod-failure, services: [perception], objectives: { rto: 2m } }
plugins:
  grants:
    pod-failure:
      kubernetes: [{ verbs: [list, delete], namespaces: [butterfly] }]
EOF
  chmod -R a+rX "$tmp/etc"
  serve() {
    podman "${STORE[@]}" run -d --name firedrill-serve-test --network host \
      -e FIREDRILL_API_TOKEN=image-test \
      -v "$tmp/etc:/etc/firedrill:ro,Z" -v "$tmp/state:/var/lib/firedrill:Z" "$IMAGE" >/dev/null
    local base=http://127.0.0.1:$api
    for i in $(seq 1 150); do curl -fsS "$base/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
    curl -fsS -X POST -H 'Authorization: Bearer image-test' "$base/api/v1/drills/single-pod/run" || return 1
    echo
    for i in $(seq 1 300); do
      curl -fsS "$base/metrics" >"$tmp/metrics.txt" 2>/dev/null &&
        grep -q '^firedrill_drill_runs_total{drill="single-pod",result="passed"} 1' "$tmp/metrics.txt" && break
      sleep 0.5
    done
    grep '^firedrill_drill_runs_total' "$tmp/metrics.txt" || true
    grep -q '^firedrill_drill_runs_total{drill="single-pod",result="passed"} 1' "$tmp/metrics.txt" || {
      podman "${STORE[@]}" logs firedrill-serve-test 2>&1 | tail -n 40; return 1; }
    grep '^firedrill_phase_recovery_seconds.*phase="pod-failure"' "$tmp/metrics.txt" || {
      grep '^firedrill_phase' "$tmp/metrics.txt" | head; return 1; }
    # The run is recorded in the store on the mounted volume, by the image's user.
    curl -fsS "$base/api/v1/runs" | grep -o '"outcome":"[a-z]*"' | head -n 1 | grep -qx '"outcome":"passed"' || {
      curl -fsS "$base/api/v1/runs"; return 1; }
    [ "$(stat -c %u "$tmp/state/firedrill.db")" = 65532 ] || { ls -ln "$tmp/state"; return 1; }
  }
  check "image: serve inside the container drills a sandbox outside it; /metrics scraped" serve
  podman "${STORE[@]}" rm -f -t 5 firedrill-serve-test >/dev/null 2>&1 || true

  echo "image: $passed passed, $failed failed (${SECONDS}s)"
  [ "$failed" -eq 0 ]
}

case "${1:-}" in
  build) shift; build "$@" ;;
  test) test_image ;;
  *) sed -n '2,24p' "$0" >&2; exit 2 ;;
esac
