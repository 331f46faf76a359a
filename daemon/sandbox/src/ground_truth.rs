//! Ground truth: the instant each pod became Ready, recorded by the simulated kubelet so
//! tests can compare firedrill's measured recovery times with what really happened.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One pod becoming Ready.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodReady {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub pod: String,
    /// The pod's uid (names of statefulset pods repeat).
    pub uid: String,
    /// `Deployment` or `StatefulSet` (or empty for a bare pod).
    pub workload_kind: String,
    /// The deployment or statefulset name.
    pub workload: String,
    /// The node it runs on.
    pub node: String,
    /// The node's zone.
    pub zone: String,
    /// The pod's IP when it became Ready.
    pub pod_ip: String,
    /// When the pod object was created.
    pub created_at: DateTime<Utc>,
    /// When its Ready condition turned True.
    pub ready_at: DateTime<Utc>,
}

/// One Ready pod going out of service (deleted, terminating, or its node not Ready),
/// as the kubelet saw it on its next pass (within one controller tick).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodLost {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub pod: String,
    /// The pod's uid.
    pub uid: String,
    /// `Deployment` or `StatefulSet` (or empty for a bare pod).
    pub workload_kind: String,
    /// The deployment or statefulset name.
    pub workload: String,
    /// The node it ran on.
    pub node: String,
    /// `Deleted`, `Terminating` or `NotReady`.
    pub reason: String,
    /// When the kubelet noticed.
    pub lost_at: DateTime<Utc>,
}

/// Every readiness transition so far, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroundTruth {
    /// Pods that became Ready, in the order they did.
    pub pods_ready: Vec<PodReady>,
    /// Ready pods that went out of service, in the order they did.
    pub pods_lost: Vec<PodLost>,
}

impl GroundTruth {
    /// The first pod of a workload that became Ready at or after `since`: the moment a
    /// replacement restored capacity after a fault injected at `since`.
    pub fn first_ready_after(
        &self,
        namespace: &str,
        workload: &str,
        since: DateTime<Utc>,
    ) -> Option<&PodReady> {
        self.pods_ready
            .iter()
            .find(|p| p.namespace == namespace && p.workload == workload && p.ready_at >= since)
    }
}

/// The shared, append-only recorder the kubelet writes and the API reads.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    inner: Arc<Mutex<GroundTruth>>,
}

impl Recorder {
    /// Appends one readiness transition.
    pub fn record(&self, ready: PodReady) {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pods_ready
            .push(ready);
    }

    /// Appends one loss of readiness.
    pub fn record_lost(&self, lost: PodLost) {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pods_lost
            .push(lost);
    }

    /// A copy of everything recorded so far.
    pub fn snapshot(&self) -> GroundTruth {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}
