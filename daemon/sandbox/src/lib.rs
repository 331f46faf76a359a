//! The sandbox: a simulated Kubernetes API server with controllers, served over HTTP.
//!
//! firedrill talks to clusters only through the Kubernetes API. The sandbox serves the
//! part of that API drills use, on `127.0.0.1` only, backed by simulated controllers, so
//! the `kube` client and real `kubectl` work against it unchanged. It is firedrill's
//! embedded default target and what the end-to-end tests run against.
//!
//! ```no_run
//! # async fn demo() -> Result<(), firedrill_sandbox::SandboxError> {
//! use firedrill_sandbox::{Sandbox, SandboxConfig};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(firedrill_sandbox::SandboxError::Serve)?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let sandbox = Sandbox::start(listener, SandboxConfig::default(), async { let _ = stopped.await; }).await?;
//! sandbox.write_kubeconfig(std::path::Path::new("kubeconfig"))?;
//! println!("{}", sandbox.base_url());
//! let _ = stop.send(());
//! sandbox.join().await
//! # }
//! ```
//!
//! # What it serves
//!
//! - Discovery: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/{group}[/{version}]`.
//! - Namespaces, nodes, pods, services, endpoints, events, configmaps (core/v1),
//!   deployments, replicasets, statefulsets (apps/v1), poddisruptionbudgets (policy/v1),
//!   leases (coordination.k8s.io/v1): list, get, create, update, patch (merge, strategic
//!   merge, JSON patch), delete, deletecollection, `watch=true` with resourceVersion
//!   resumption, bookmarks and `410 Gone`; label selectors (equality and set based) and
//!   field selectors; Table output for `kubectl get`.
//! - Subresources: `status`, `scale`, `pods/eviction` (429 when a PodDisruptionBudget
//!   would be violated), `pods/log`, and the service proxy
//!   `/api/v1/namespaces/{ns}/services/{name}[:{port}]/proxy/{path}` that answers 200
//!   while the Service has Ready endpoints and 503 while it has none.
//! - `GET /sandbox/v1/ground-truth`: when each pod became Ready ([`GroundTruth`]).
//! - Anything else: a Kubernetes `Status` error (404, 405, 409, 415, 422...).
//!
//! # Controllers
//!
//! Deployments (with ReplicaSets, rolling updates respecting maxSurge/maxUnavailable),
//! statefulsets (ordered or parallel, rolling restart), a scheduler that spreads pods over
//! `topology.kubernetes.io/zone` and never uses a cordoned node, a kubelet that moves
//! pods Pending -> Running -> Ready after [`Timing::start_delay`] (or the workload's
//! `sandbox.firedrill.dev/start-delay` template annotation) plus [`Timing::ready_delay`]
//! with jitter, graceful deletion, endpoints, disruption budget status and garbage
//! collection.
//!
//! # Limits
//!
//! - Bodies are JSON only: typed clients that send protobuf (`kubectl create namespace`,
//!   `kubectl create deployment`) get `415`; `kubectl apply -f` / `create -f` work.
//! - No server-side apply (`415`), no `exec`/`attach`/`port-forward`, no EndpointSlices,
//!   no pagination (`limit` is ignored and every item is returned at once), no
//!   authentication (hence loopback only).
//! - The OpenAPI document is empty: kubectl's client-side validation checks nothing.
//! - kube's default client retries 429 and 503 on its own; a probe or eviction that must
//!   see those answers needs `Config::default_retry = false`.
//!
//! # Platform file
//!
//! [`Platform::seed`] is the default. [`Platform::from_file`] reads YAML of this shape;
//! every field is optional except workload names, unknown fields are errors:
//!
//! ```yaml
//! namespace: butterfly        # default namespace of the workloads
//! zones: [zone-a, zone-b, zone-c]
//! nodesPerZone: 3             # nodes are named <zone>-node-<n>
//! deployments:
//!   - name: perception
//!     replicas: 3             # default 3
//!     labels: {app.kubernetes.io/name: perception}   # the default for deployments
//!     image: registry.example.com/butterfly/perception:1.0.0
//!     port: 8080              # container and Service port, named http; default 8080
//!     service: true           # a Service of the same name; default true
//!     pdb: {maxUnavailable: 1}   # or {minAvailable: n}; default none
//!     startDelay: 3s          # scheduled -> Running; default Timing::start_delay
//!     namespace: butterfly    # overrides the top-level namespace
//! statefulsets:
//!   - name: cassandra         # labels default to {app: cassandra}
//!     replicas: 3
//!     port: 9042
//! ```
//!
//! # Layout
//!
//! - [`sandbox`]: `Sandbox::start`, `SandboxHandle` (URLs, kubeconfig, ground truth, stop).
//! - [`config`]: `SandboxConfig` and controller `Timing`.
//! - [`platform`]: the seed platform and the platform file, turned into objects.
//! - [`store`]: objects as JSON, resourceVersions, change history and broadcast.
//! - [`resources`]: the table of served kinds that drives routing and discovery.
//! - [`api`]: HTTP routing and the verbs and subresources.
//! - [`watch`]: watch streams.
//! - [`discovery`]: discovery documents.
//! - [`table`]: server-side printing for `kubectl get`.
//! - [`selector`]: label and field selectors.
//! - [`patch`]: merge, strategic merge and JSON patches.
//! - [`controllers`]: the simulated controllers, scheduler and kubelet.
//! - [`ground_truth`]: the record of when pods became Ready.
//! - [`object`]: accessors over JSON objects.
//! - [`names`]: generated names and template hashes.
//! - [`error`]: the `SandboxError` type.

pub mod api;
pub mod config;
pub mod controllers;
pub mod discovery;
pub mod error;
pub mod ground_truth;
pub mod names;
pub mod object;
pub mod patch;
pub mod platform;
pub mod resources;
pub mod sandbox;
pub mod selector;
pub mod store;
pub mod table;
pub mod watch;

pub use config::{SandboxConfig, Timing};
pub use error::SandboxError;
pub use ground_truth::{GroundTruth, PodLost, PodReady};
pub use platform::{Platform, Workload, WorkloadKind};
pub use sandbox::{KUBECONFIG_NAME, Sandbox, SandboxHandle, kubeconfig};
