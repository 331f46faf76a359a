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
//! - `pods/exec` (`GET`/`POST .../pods/{name}/exec?command=..&container=..&stdout=true`)
//!   over WebSocket, subprotocol `v5.channel.k8s.io` (kubectl) or `v4.channel.k8s.io`:
//!   binary frames whose first byte is the channel (1 stdout, 2 stderr, 3 the exit
//!   `Status`: `Success`, or `Failure` with reason `NonZeroExitCode` and the code as the
//!   `ExitCode` cause), then a normal close. A missing pod is a 404, a pod not Running
//!   (Pending, terminating) or an unknown container a 400, before the upgrade; SPDY is not
//!   spoken. Commands are simulated from the pods' state (see [Exec](#exec)).
//! - `GET /sandbox/v1/ground-truth`: when each pod became Ready ([`GroundTruth`]).
//! - Anything else: a Kubernetes `Status` error (404, 405, 409, 415, 422...).
//!
//! # Controllers
//!
//! Deployments (with ReplicaSets, rolling updates respecting maxSurge/maxUnavailable, or
//! `Recreate`: every old pod gone, terminating ones included, before a new one; a template
//! brought back by a rollback makes its old ReplicaSet the newest revision again),
//! statefulsets (ordered or parallel; rolling updates from the highest ordinal down, each
//! replacement Ready before the next pod goes, `partition` and `OnDelete` respected,
//! `status.currentRevision` left behind `updateRevision` until every pod runs the new
//! one), a scheduler that spreads pods over
//! `topology.kubernetes.io/zone` and never uses a cordoned node, a kubelet that moves
//! pods Pending -> Running -> Ready after [`Timing::start_delay`] (or the workload's
//! `sandbox.firedrill.dev/start-delay` template annotation) plus [`Timing::ready_delay`]
//! with jitter (except a pod whose image is from a registry under `.invalid`, which never
//! pulls: it stays Pending with the container waiting in `ErrImagePull`, then
//! `ImagePullBackOff`), graceful deletion, endpoints, disruption budget status and garbage
//! collection.
//!
//! # Exec
//!
//! By default nothing runs: the sandbox answers, from the simulated pods' state
//! ([`simulated`]), the commands the Cassandra and Kafka scenarios use, alone or
//! as a plain `sh -c "..."` script:
//!
//! - `nodetool [-h host] [-p port] status` on Cassandra pods (label `app=cassandra` or an
//!   image containing `cassandra`): Cassandra 4's layout, one datacenter `dc1`, one line
//!   per statefulset ordinal: `UN` when its pod is Ready, `UJ` while it runs but is not
//!   Ready yet, `DN` when it is missing, Pending, terminating or on a NotReady node.
//!   Address is the pod's IP (for a missing pod, the last IP it had when Ready), Host ID a
//!   UUID derived from the pod name (stable across replacements), Rack its node's zone:
//!
//!   ```text
//!   Datacenter: dc1
//!   ===============
//!   Status=Up/Down
//!   |/ State=Normal/Leaving/Joining/Moving
//!   --  Address      Load        Tokens  Owns (effective)  Host ID                               Rack
//!   UN  10.244.0.4   773.42 MiB  16      100.0%            a503cbfa-b051-4164-b26a-65dea48d6014  zone-a
//!   DN  10.244.0.25  570.53 MiB  16      100.0%            028d9531-9eb2-43cc-8252-99560f6b9c9e  zone-b
//!   UJ  10.244.0.36  650.49 MiB  16      100.0%            6d88df5c-b2cc-4095-86d0-d728d347c004  zone-c
//!   ```
//!
//! - `kafka-topics.sh` (or `kafka-topics`, or any path ending so) `--describe` and
//!   `--list`, with `--bootstrap-server`, `--topic`, `--under-replicated-partitions` and
//!   `--unavailable-partitions`, on Kafka pods (label `app=kafka` or an image containing
//!   `kafka`), in Kafka 3's format. The broker id is the pod's ordinal; partition `p` of a
//!   topic with replication factor `rf` (capped at the brokers) lives on brokers
//!   `(p + i) % n`, `i` in `0..rf`; a replica is in the ISR while its pod is Ready, except
//!   that a broker whose pod became Ready *again* rejoins only after a catch-up delay
//!   ([`Timing::isr_catch_up`], 2 s by default, or the workload's `catchUpDelay`); the
//!   leader is the first in-sync replica in replica order, `none` when there is none.
//!   Topics are the workload's `topics`, or `firedrill-canary` (3 partitions) and
//!   `orders` (6), replication factor 3, `min.insync.replicas=2` (fields are separated by
//!   tabs, shown as spaces here; partition lines start with a tab; broker 1 is down):
//!
//!   ```text
//!   Topic: orders    TopicId: Yzbrrkxlm0VItJFXctp75A    PartitionCount: 6    ReplicationFactor: 3    Configs: min.insync.replicas=2
//!       Topic: orders    Partition: 0    Leader: 0    Replicas: 0,1,2    Isr: 0,2
//!       Topic: orders    Partition: 1    Leader: 2    Replicas: 1,2,0    Isr: 2,0
//!   ```
//!
//! - `kafka-verifiable-producer.sh --bootstrap-server .. --topic .. --max-messages n
//!   [--acks -1|1|0] [--value-prefix p] [--repeating-keys k]` on Kafka pods: sends values
//!   `p.i` (or `i`) round-robin over the topic's partitions and prints one JSON line per
//!   event as Kafka's `VerifiableProducer` does (`startup_complete`,
//!   `producer_send_success` with partition and offset, `producer_send_error` with
//!   exception and message, `shutdown_complete`, `tool_data`). With `--acks -1` (the
//!   default) a message is acknowledged when its partition has a leader and at least
//!   `min.insync.replicas` (the topic's config, default 1) in-sync replicas, otherwise
//!   refused with `NotEnoughReplicasException` (`NotLeaderOrFollowerException` without a
//!   leader). Acknowledged messages are kept, in memory, for the sandbox's lifetime.
//!   `--max-messages` is required (the simulation does not produce forever).
//!
//!   ```text
//!   {"timestamp":1700000000001,"name":"producer_send_success","key":null,"value":"7.0","topic":"firedrill-canary","partition":0,"offset":0}
//!   {"timestamp":1700000000002,"name":"producer_send_error","key":null,"value":"7.1","topic":"firedrill-canary","exception":"class org.apache.kafka.common.errors.NotEnoughReplicasException","message":"Messages are rejected since there are fewer in-sync replicas than required."}
//!   ```
//!
//! - `kafka-console-consumer.sh --bootstrap-server .. --topic .. --from-beginning
//!   [--timeout-ms ms] [--max-messages n] [--partition p]` on Kafka pods: prints every
//!   kept value of the topic, partition by partition in offset order (partitions without
//!   a leader deliver nothing), then `Processed a total of N messages` on stderr. Without
//!   `--from-beginning` a new consumer starts at the end and prints nothing. It answers at
//!   once: nothing is produced concurrently. Nothing acknowledged is ever lost (no unclean
//!   leader election).
//!
//! - `kafka-topics.sh --create --topic T [--partitions n] [--replication-factor r]
//!   [--config k=v] [--if-not-exists]` and `--delete --topic T [--if-exists]`: a created
//!   topic is empty (offsets from 0; broker defaults 1 partition, factor 1) with a new
//!   topic id, its replicas placed round-robin over the brokers up at creation (and kept
//!   there); a replication factor above the brokers whose pods are Ready is refused
//!   (`InvalidReplicationFactorException`), as is an existing name; a deleted topic loses
//!   its messages and every group's committed offsets on it. Exact names only (no regex).
//! - `kafka-consumer-groups.sh --bootstrap-server .. --list`, `--describe --group G` (per
//!   partition CURRENT-OFFSET, LOG-END-OFFSET, LAG in Kafka 3's columns; the simulated
//!   groups never have active members), `--reset-offsets --group G (--topic T[:p,..] |
//!   --all-topics) (--to-datetime YYYY-MM-DDTHH:mm:SS.sss[Z|±HH:MM] | --to-offset n |
//!   --to-earliest | --to-latest | --to-current) (--dry-run | --execute)` (a time without a
//!   zone is UTC; each partition moves to the earliest offset whose message timestamp is
//!   at or after it, the log end when there is none; `--to-offset` is clamped to the log;
//!   without `--execute` nothing is committed) and `--delete-offsets --group G --topic
//!   T[:p,..]`. `kafka-console-consumer.sh --group G` reads each partition from the
//!   group's committed offset (else the beginning with `--from-beginning`, else the end)
//!   and commits where it stopped, so a reset's replay is observable. Committed offsets
//!   are kept between execs like the messages. A topic's `messages` are preloaded when
//!   the workload's state is first read, the newest stamped then and each earlier one
//!   `messageInterval` before; a `consumerGroups` entry commits `lag` behind each
//!   partition's end.
//! - On Cassandra pods, for a restore from a backup set the platform declares
//!   (`backups`): `ls` and `cat` of the set's files (`PATH/schema.cql`,
//!   `PATH/KEYSPACE/TABLE/{manifest.json,schema.cql,nb-1-big-*.db}`; the manifest's
//!   `created_at` is `age` before the workload's state was first read; SSTable bytes are
//!   not simulated); `cqlsh [host] (-e STATEMENTS | -f FILE)` with CREATE KEYSPACE, CREATE
//!   TABLE, DROP KEYSPACE, USE, DESCRIBE KEYSPACES and SELECT COUNT(*) (errors as
//!   `<stdin>:LINE:...`, exit 2); `sstableloader -d HOSTS [--target-keyspace KS]
//!   PATH/KEYSPACE/TABLE`, which loads the backup table's rows into the existing table (the
//!   same keys each time: loading twice does not double them) and fails while a node is
//!   down; `nodetool repair [KEYSPACE]`, which also needs every node up. The backup's
//!   keyspace is live from the start with the backup's rows (the production data).
//! - `--version` of `kafka-topics.sh`, `kafka-consumer-groups.sh` and `cqlsh` prints the
//!   version followed by `(simulated by the firedrill sandbox)`: how a scenario, or a
//!   person, tells the simulation from the real tools.
//! - Anything else exits with 127 and `sandbox: <cmd>: command not found (...)` on stderr.
//!
//! **Local exec** is off unless the platform file says `exec: local` on a workload: exec
//! on its pods then runs the command as a child process of the sandbox, on this machine,
//! as the sandbox's user (no shell unless the command is one), with the workload's `env`
//! added to the sandbox's environment; stdout and stderr are streamed, stdin is passed on
//! when requested, and the child is killed when the client disconnects or the sandbox
//! stops. Anyone who can reach the API can then run commands, which is why it is opt-in
//! and why the sandbox listens on loopback only. It exists for integration tests against
//! real local servers.
//!
//! # Limits
//!
//! - Bodies are JSON only: typed clients that send protobuf (`kubectl create namespace`,
//!   `kubectl create deployment`) get `415`; `kubectl apply -f` / `create -f` work.
//! - No server-side apply (`415`), no `attach`/`port-forward`, no EndpointSlices,
//!   no pagination (`limit` is ignored and every item is returned at once).
//! - Authentication: requests without credentials or with [`ADMIN_TOKEN`] (what the
//!   written kubeconfig carries) are the admin and skip RBAC (hence loopback only);
//!   bearer tokens minted for ServiceAccounts (`kubectl create token`,
//!   [`SandboxHandle::create_token`]) are authorized with RBAC (Role, ClusterRole and
//!   their bindings, deny by default); unknown or expired tokens get 401.
//! - Exec speaks WebSocket only (kubectl 1.30+ and kube's `ws` feature), not SPDY; it
//!   simulates a few commands (see [Exec](#exec)); `tty` is accepted but no terminal is
//!   allocated.
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
//!     backups:                # backup sets the pods can read (simulated files)
//!       - path: /tmp/cassandra-backup
//!         keyspace: butterfly
//!         replication: "{'class': 'NetworkTopologyStrategy', 'dc1': '3'}"   # the default
//!         age: 45m            # the snapshot's created_at before first use; default 1h
//!         tables: [{name: events, rows: 5000, columns: "id uuid PRIMARY KEY, payload text"}]
//!   - name: kafka
//!     image: apache/kafka:3.7.0
//!     topics:                 # kafka-topics.sh --describe; default orders + firedrill-canary
//!       - name: orders
//!         partitions: 6       # default 1
//!         replicationFactor: 3   # default 3, capped at the replicas
//!         configs: {min.insync.replicas: 2}
//!         messages: 120       # preloaded per partition; default 0
//!         messageInterval: 1m # between preloaded messages; default 1m
//!     consumerGroups:         # committed offsets `lag` behind each partition's end
//!       - {name: perception, topic: orders, lag: 0}
//!     catchUpDelay: 2s        # Ready again -> back in the ISRs; default Timing::isr_catch_up
//!   - name: local-redis
//!     exec: local             # exec runs commands on this machine; default simulated
//!     env: {REDISCLI_AUTH: secret}   # added to the sandbox's environment; exec: local only
//!   - name: redis             # its pod's container is a local process (tests only)
//!     replicas: 1             # at most 1 (one command, one port); no topics or catchUpDelay
//!     port: 6391
//!     process:
//!       command: [redis-server, --port, "6391", --dir, /tmp/redis]   # no shell
//!       env: {TZ: UTC}        # added to the sandbox's environment
//!       ready: {tcp: 6391}    # Ready while 127.0.0.1:6391 accepts; default: while it runs
//! ```
//!
//! A **process pod**'s container is a process on this machine
//! ([`controllers::processes`]): started when the pod starts running, in its own process
//! group, its output the pod's log; Ready while its `ready` port accepts; restarted with
//! the kubelet's back-off (at once, then 10 s doubling to 5 minutes; `restartCount`,
//! `CrashLoopBackOff`) when it exits while the pod lives; SIGTERM when the pod is
//! deleted, SIGKILL after the grace period, and only then is the pod removed. Every such
//! process is stopped when the sandbox stops and killed when its handle is dropped (not
//! when the sandbox's own process is killed with SIGKILL).
//!
//! # Layout
//!
//! - [`sandbox`]: `Sandbox::start`, `SandboxHandle` (URLs, kubeconfig, ground truth, stop).
//! - [`config`]: `SandboxConfig` and controller `Timing`.
//! - [`platform`]: the seed platform and the platform file, turned into objects.
//! - [`store`]: objects as JSON, resourceVersions, change history and broadcast.
//! - [`resources`]: the table of served kinds that drives routing and discovery.
//! - [`http`]: the HTTP API, one way on top of the rest: routing ([`http`]'s `mod.rs`),
//!   [`http::common`] (state, `Status` errors, request decoding), [`http::verbs`],
//!   [`http::subresources`] (scale, eviction, log), [`http::watch`] (watch streams),
//!   [`http::proxy`] (the service proxy), [`http::auth`] (the 401/403 gate, TokenRequest,
//!   access reviews), [`http::exec`] (`pods/exec` over WebSocket: the output of
//!   [`simulated`], or a local process).
//! - [`auth`]: ServiceAccount tokens and identities, the admin, token lifetimes.
//! - [`rbac`]: request attributes and RBAC rule matching (pure).
//! - [`protobuf`]: the protobuf bodies of `create serviceaccount`, `create token`, `auth can-i`,
//!   `create role`, `create clusterrole`, `create rolebinding`, `create clusterrolebinding`.
//! - [`discovery`]: discovery documents.
//! - [`table`]: server-side printing for `kubectl get`.
//! - [`selector`]: label and field selectors.
//! - [`patch`]: merge, strategic merge and JSON patches.
//! - [`simulated`]: `nodetool status` ([`simulated::nodetool`]), `kafka-topics.sh`
//!   ([`simulated::kafka_topics`]), the Kafka canary tools (verifiable producer, console
//!   consumer: [`simulated::kafka_clients`]), `kafka-consumer-groups.sh`
//!   ([`simulated::kafka_groups`]) and the Cassandra restore tools (`cqlsh`,
//!   `sstableloader`, `nodetool repair`, backup files: [`simulated::cassandra`]) from the
//!   pods' state ([`simulated::pods`]) and each workload's kept state (topics, messages,
//!   committed offsets, keyspaces).
//! - [`controllers`]: the simulated controllers, one module each ([`controllers::gc`],
//!   [`controllers::deployments`], [`controllers::replicasets`],
//!   [`controllers::statefulsets`], [`controllers::scheduler`], [`controllers::kubelet`],
//!   [`controllers::endpoints`], [`controllers::budgets`], [`controllers::processes`])
//!   around one reconcile loop.
//! - [`ground_truth`]: the record of when pods became Ready.
//! - [`object`]: accessors over JSON objects.
//! - [`names`]: generated names and template hashes.
//! - [`error`]: the `SandboxError` type.

pub mod auth;
pub mod config;
pub mod controllers;
pub mod discovery;
pub mod error;
pub mod ground_truth;
pub mod http;
pub mod names;
pub mod object;
pub mod patch;
pub mod platform;
pub mod protobuf;
pub mod rbac;
pub mod resources;
pub mod sandbox;
pub mod selector;
pub mod simulated;
pub mod store;
pub mod table;
pub mod tls;

pub use auth::ADMIN_TOKEN;
pub use config::{SandboxConfig, Timing};
pub use error::SandboxError;
pub use ground_truth::{GroundTruth, PodLost, PodReady};
pub use platform::{ExecMode, Platform, Topic, Workload, WorkloadKind};
pub use sandbox::{KUBECONFIG_NAME, Sandbox, SandboxHandle, kubeconfig, kubeconfig_with_token};
