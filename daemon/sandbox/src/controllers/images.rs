//! Image pulls as the kubelet meets them: an image whose registry cannot be resolved
//! never pulls, and its pod stays `Pending` with the container waiting in `ErrImagePull`,
//! then `ImagePullBackOff`, retried on the kubelet's back-off, never Ready.
//!
//! The sandbox pulls nothing. The one registry it knows cannot answer is one under the
//! `.invalid` top-level domain, which RFC 2606 reserves so that it can never resolve: a
//! drill can break a workload on purpose with such an image and a real cluster fails the
//! same way (DNS lookup of the registry: no such host).

use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::{Controllers, emit_event, write_if_changed};
use crate::object::{self, str_at};
use crate::resources::PODS;
use crate::store::State;

/// The kubelet's image pull back-off: 10 s after the first failure, doubling up to five
/// minutes (`kubelet.go`: `backOffPeriod`, `MaxContainerBackOff`).
const FIRST_BACK_OFF: Duration = Duration::from_secs(10);
const MAX_BACK_OFF: Duration = Duration::from_secs(300);

/// The registry host of an image reference as the container runtime resolves it (the
/// Docker reference grammar): the first path component when it looks like a host (has a
/// `.` or a `:`, or is `localhost`), else Docker Hub. The port is left out.
pub fn registry_host(image: &str) -> &str {
    let Some((first, _)) = image.split_once('/') else {
        return "docker.io";
    };
    if !(first.contains('.') || first.contains(':') || first == "localhost") {
        return "docker.io";
    }
    if let Some(bracketed) = first.strip_prefix('[') {
        // An IPv6 literal, `[::1]:5000`.
        return bracketed.split(']').next().unwrap_or(bracketed);
    }
    first.split(':').next().unwrap_or(first)
}

/// Why pulling `image` fails, as containerd says it, or `None` when it pulls: only a
/// registry under `.invalid` cannot (RFC 2606: it never resolves).
pub fn pull_error(image: &str) -> Option<String> {
    let host = registry_host(image).to_ascii_lowercase();
    if host != "invalid" && !host.ends_with(".invalid") {
        return None;
    }
    let (_, path) = image.split_once('/').unwrap_or(("", image));
    let (repository, reference) = match path.split_once('@') {
        Some((repository, digest)) => (repository, digest),
        None => match path.rsplit_once(':') {
            Some((repository, tag)) => (repository, tag),
            None => (path, "latest"),
        },
    };
    Some(format!(
        "failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": failed to do request: Head \"https://{host}/v2/{repository}/manifests/{reference}\": dial tcp: lookup {host}: no such host"
    ))
}

/// Where the kubelet is in its pull attempts `elapsed` after the first one: failing an
/// attempt (`ErrImagePull`, for one sync of `sync` length) or backing off before the next
/// (`ImagePullBackOff`), and when that changes.
fn pull_phase(elapsed: Duration, sync: Duration) -> (&'static str, Duration) {
    let mut attempt_at = Duration::ZERO;
    let mut back_off = FIRST_BACK_OFF;
    loop {
        let failed_until = attempt_at + sync;
        if elapsed < failed_until {
            return ("ErrImagePull", failed_until);
        }
        let next_attempt = failed_until + back_off;
        if elapsed < next_attempt {
            return ("ImagePullBackOff", next_attempt);
        }
        attempt_at = next_attempt;
        back_off = (back_off * 2).min(MAX_BACK_OFF);
    }
}

impl Controllers {
    /// For a pod on a Ready node whose containers are due to start: when an image cannot
    /// be pulled, writes the pod as the kubelet leaves it (still `Pending`, that container
    /// waiting with the pull error, the others running but the pod never Ready), emits
    /// the kubelet's events on each change and returns true; false when every image
    /// pulls and the pod starts as usual.
    pub(super) fn hold_for_image_pull(
        &mut self,
        state: &mut State,
        pod: &Value,
        first_attempt: Instant,
        now: Instant,
        host_ip: &str,
        stamp: &str,
    ) -> bool {
        let containers: Vec<&Value> = object::at(pod, "/spec/containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .collect();
        let failures: Vec<(String, String, String)> = containers
            .iter()
            .filter_map(|c| {
                let image = str_at(c, "/image");
                pull_error(image)
                    .map(|error| (str_at(c, "/name").to_owned(), image.to_owned(), error))
            })
            .collect();
        if failures.is_empty() {
            return false;
        }
        let sync = self.timing.ready_delay.max(self.timing.tick);
        let (reason, changes_after) =
            pull_phase(now.saturating_duration_since(first_attempt), sync);
        let at = first_attempt + changes_after;
        self.next_due = Some(self.next_due.map_or(at, |due| due.min(at)));
        let uid = object::uid(pod).replace('-', "");
        let statuses: Vec<Value> = containers
            .iter()
            .map(|c| {
                let name = str_at(c, "/name");
                let image = str_at(c, "/image");
                match failures.iter().find(|(failed, _, _)| failed == name) {
                    Some((_, _, error)) => json!({
                        "name": name,
                        "image": image,
                        "imageID": "",
                        "ready": false,
                        "started": false,
                        "restartCount": 0,
                        "state": {"waiting": {
                            "reason": reason,
                            "message": if reason == "ErrImagePull" {
                                error.clone()
                            } else {
                                format!("Back-off pulling image \"{image}\": ErrImagePull: {error}")
                            },
                        }},
                        "lastState": {},
                    }),
                    // The kubelet starts the containers it could pull.
                    None => json!({
                        "name": name,
                        "image": image,
                        "imageID": format!("{image}@sha256:{}", "0".repeat(64)),
                        "containerID": format!("containerd://{uid}{name}"),
                        "ready": false,
                        "started": true,
                        "restartCount": 0,
                        "state": {"running": {"startedAt": stamp}},
                        "lastState": {},
                    }),
                }
            })
            .collect();
        // Events only when the kubelet's state of the pulls changes, not on every pass.
        let previous = object::at(pod, "/status/containerStatuses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find_map(|s| object::at(s, "/state/waiting/reason").and_then(Value::as_str));
        let changed = previous != Some(reason);
        let mut updated = pod.clone();
        if str_at(pod, "/status/startTime").is_empty() {
            updated["status"]["startTime"] = json!(stamp);
            updated["status"]["hostIP"] = json!(host_ip);
            updated["status"]["hostIPs"] = json!([{"ip": host_ip}]);
        }
        updated["status"]["phase"] = json!("Pending");
        updated["status"]["containerStatuses"] = Value::Array(statuses);
        object::set_condition(&mut updated, "PodReadyToStartContainers", true, None, stamp);
        object::set_condition(&mut updated, "Initialized", true, None, stamp);
        object::set_condition(
            &mut updated,
            "Ready",
            false,
            Some("ContainersNotReady"),
            stamp,
        );
        object::set_condition(
            &mut updated,
            "ContainersReady",
            false,
            Some("ContainersNotReady"),
            stamp,
        );
        write_if_changed(state, &PODS, pod, updated);
        if changed {
            for (_, image, error) in &failures {
                if reason == "ErrImagePull" {
                    let pulling = format!("Pulling image \"{image}\"");
                    emit_event(state, pod, "Normal", "Pulling", &pulling, "kubelet");
                    let failed = format!("Failed to pull image \"{image}\": {error}");
                    emit_event(state, pod, "Warning", "Failed", &failed, "kubelet");
                } else {
                    let back_off = format!("Back-off pulling image \"{image}\"");
                    emit_event(state, pod, "Normal", "BackOff", &back_off, "kubelet");
                }
                let error = format!("Error: {reason}");
                emit_event(state, pod, "Warning", "Failed", &error, "kubelet");
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_host_is_the_first_component_only_when_it_looks_like_a_host() {
        assert_eq!(registry_host("nginx"), "docker.io");
        assert_eq!(registry_host("library/nginx:1.27"), "docker.io");
        assert_eq!(
            registry_host("registry.example.com/butterfly/api:1.0.0"),
            "registry.example.com"
        );
        assert_eq!(registry_host("localhost/app"), "localhost");
        assert_eq!(
            registry_host("firedrill.invalid:5000/app:1"),
            "firedrill.invalid"
        );
        assert_eq!(registry_host("[::1]:5000/app"), "::1");
    }

    #[test]
    fn only_an_image_from_an_invalid_registry_fails_to_pull() {
        assert_eq!(pull_error("registry.example.com/butterfly/api:1.0.0"), None);
        assert_eq!(pull_error("cassandra:4.1"), None);
        // `invalid` with no dot is a Docker Hub user name, which resolves.
        assert_eq!(pull_error("invalid/app:1"), None);
        let error = pull_error("firedrill.invalid/never-ready:0").expect("fails");
        assert!(
            error.ends_with(
                "Head \"https://firedrill.invalid/v2/never-ready/manifests/0\": dial tcp: lookup firedrill.invalid: no such host"
            ),
            "{error}"
        );
        assert!(pull_error("Mirror.INVALID/app").is_some());
        assert!(
            pull_error("x.invalid/app@sha256:abc")
                .expect("fails")
                .contains("/v2/app/manifests/sha256:abc")
        );
    }

    #[test]
    fn pulls_fail_then_back_off_ten_seconds_doubling_to_five_minutes() {
        let sync = Duration::from_secs(1);
        let s = Duration::from_secs;
        assert_eq!(pull_phase(s(0), sync), ("ErrImagePull", s(1)));
        assert_eq!(pull_phase(s(1), sync), ("ImagePullBackOff", s(11)));
        assert_eq!(pull_phase(s(11), sync), ("ErrImagePull", s(12)));
        assert_eq!(pull_phase(s(12), sync), ("ImagePullBackOff", s(32)));
        // Back-offs of 10, 20, 40, 80, 160, then 300 s: attempts at 0, 11, 32, 73, 154,
        // 315 and 616 s.
        assert_eq!(pull_phase(s(616), sync), ("ErrImagePull", s(617)));
        assert_eq!(pull_phase(s(617), sync), ("ImagePullBackOff", s(917)));
    }
}
