//! Starting and stopping a sandbox: seeds the store, runs the API server and the
//! controllers until shutdown, and hands back a handle for URLs, kubeconfig and ground
//! truth.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::auth::{self, ADMIN_TOKEN, Tokens};
use crate::config::SandboxConfig;
use crate::controllers::Controllers;
use crate::controllers::processes::{KillOnDrop, Processes};
use crate::error::SandboxError;
use crate::ground_truth::{GroundTruth, Recorder};
use crate::http::{self, AppState};
use crate::platform;
use crate::rbac;
use crate::resources;
use crate::store::Store;

/// The name of the cluster, context and user in the kubeconfig the sandbox writes.
pub const KUBECONFIG_NAME: &str = "firedrill-sandbox";

/// The entry point: `Sandbox::start` runs a sandbox on a listener.
#[derive(Debug)]
pub struct Sandbox;

/// A running sandbox. Dropping it does not stop it: resolve the `shutdown` future given
/// to [`Sandbox::start`] or call [`SandboxHandle::stop`], then [`SandboxHandle::join`].
/// Dropping it does kill the processes of its process pods (a platform file's
/// `process:`), which a stop ends gracefully.
#[derive(Debug)]
pub struct SandboxHandle {
    address: SocketAddr,
    /// Set when the sandbox serves https.
    tls: Option<crate::tls::Tls>,
    store: Arc<Store>,
    recorder: Recorder,
    tokens: Arc<Tokens>,
    stop: watch::Sender<bool>,
    server: JoinHandle<Result<(), std::io::Error>>,
    controllers: JoinHandle<()>,
    /// The process pods' processes, killed if the handle goes without a stop.
    processes: KillOnDrop,
}

impl Sandbox {
    /// Seeds the platform, then serves the Kubernetes API on `listener` and runs the
    /// controllers until `shutdown` resolves. The listener must be on a loopback address:
    /// the sandbox has no authentication.
    pub async fn start(
        listener: TcpListener,
        config: SandboxConfig,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<SandboxHandle, SandboxError> {
        let address = listener
            .local_addr()
            .map_err(SandboxError::ListenerAddress)?;
        if !address.ip().is_loopback() {
            return Err(SandboxError::NotLoopback { address });
        }
        let store = Arc::new(Store::new(config.history_capacity));
        {
            let mut state = store.lock();
            let bootstrap = rbac::bootstrap_objects();
            for (plural, object) in platform::objects(&config.platform)
                .into_iter()
                .chain(bootstrap)
            {
                let resource = resources::by_plural(plural)
                    .ok_or_else(|| SandboxError::Seed(format!("unknown resource {plural}")))?;
                state
                    .create(resource, object)
                    .map_err(|e| SandboxError::Seed(format!("{e:?}")))?;
            }
        }
        let recorder = Recorder::default();
        let tokens = Arc::new(Tokens::default());
        let processes = Processes::new(&config.platform);
        let mut controllers =
            Controllers::new(Arc::clone(&store), config.timing.clone(), recorder.clone())
                .with_processes(processes.clone());
        if config.warm_start {
            controllers.warm_up();
        }
        let (stop, stopped) = watch::channel(false);
        {
            let stop = stop.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = shutdown => { let _ = stop.send(true); }
                    () = stop.closed() => {}
                }
            });
        }
        let app = AppState {
            store: Arc::clone(&store),
            timing: config.timing.clone(),
            recorder: recorder.clone(),
            shutdown: stopped.clone(),
            address,
            proxy_counter: Arc::new(AtomicU64::new(0)),
            platform: Arc::new(config.platform.clone()),
            kafka_logs: Arc::default(),
            tokens: Arc::clone(&tokens),
            processes: processes.clone(),
        };
        let router = http::router(app);
        let tls = if config.tls {
            Some(crate::tls::Tls::self_signed()?)
        } else {
            None
        };
        let server = match tls.clone() {
            None => tokio::spawn(
                axum::serve(listener, router)
                    .with_graceful_shutdown(stopped_signal(stopped.clone()))
                    .into_future(),
            ),
            Some(tls) => tokio::spawn(
                axum::serve(crate::tls::TlsListener { listener, tls }, router)
                    .with_graceful_shutdown(stopped_signal(stopped.clone()))
                    .into_future(),
            ),
        };
        let controllers = tokio::spawn(controllers.run(stopped_signal(stopped)));
        tracing::info!(%address, "Sandbox Kubernetes API listening");
        Ok(SandboxHandle {
            address,
            tls,
            store,
            recorder,
            tokens,
            stop,
            server,
            controllers,
            processes: KillOnDrop(processes),
        })
    }
}

/// Refuses any address but loopback: the sandbox has no authentication.
pub fn ensure_loopback(address: SocketAddr) -> Result<(), SandboxError> {
    if address.ip().is_loopback() {
        Ok(())
    } else {
        Err(SandboxError::NotLoopback { address })
    }
}

async fn stopped_signal(mut stopped: watch::Receiver<bool>) {
    // Either the flag flips or every sender is gone; both mean stop.
    let _ = stopped.wait_for(|stop| *stop).await;
}

impl SandboxHandle {
    /// The address the API listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://127.0.0.1:PORT`, the API server URL.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.address)
    }

    /// The PEM of the sandbox's self-signed certificate when it serves https.
    pub fn certificate_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|tls| tls.certificate_pem.as_str())
    }

    /// The URL the seed's probes use for a service: the Kubernetes service proxy path,
    /// which works unchanged on a real cluster.
    pub fn probe_url(&self, namespace: &str, service: &str, path: &str) -> String {
        format!(
            "{}/api/v1/namespaces/{namespace}/services/{service}/proxy/{}",
            self.base_url(),
            path.trim_start_matches('/')
        )
    }

    /// Every pod-became-Ready instant so far.
    pub fn ground_truth(&self) -> GroundTruth {
        self.recorder.snapshot()
    }

    /// The store, for in-process inspection by tests.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The kubeconfig text pointing at this sandbox with the admin's token (and, over
    /// https, the sandbox's certificate as the cluster's certificate authority).
    pub fn kubeconfig(&self) -> String {
        self.kubeconfig_with_token(ADMIN_TOKEN)
    }

    /// Mints a bearer token for the ServiceAccount `namespace/name`, as `kubectl create
    /// token` (the TokenRequest API) does, valid for `lifetime` (the API's default is an
    /// hour, [`auth::DEFAULT_TOKEN_LIFETIME`]; any lifetime is accepted here, unlike the
    /// API's ten-minute minimum). Requests bearing it are
    /// `system:serviceaccount:NAMESPACE:NAME` and authorized with RBAC. Deleting the
    /// ServiceAccount invalidates it.
    pub fn create_token(
        &self,
        namespace: &str,
        name: &str,
        lifetime: Duration,
    ) -> Result<String, SandboxError> {
        let state = self.store.lock();
        auth::mint(&self.tokens, &state, namespace, name, lifetime)
            .map(|(token, _)| token)
            .map_err(SandboxError::Token)
    }

    /// A kubeconfig for this sandbox that authenticates with `token` (for instance one
    /// from [`SandboxHandle::create_token`]).
    pub fn kubeconfig_with_token(&self, token: &str) -> String {
        let text = kubeconfig_with_token(&self.base_url(), token);
        match self.certificate_pem() {
            None => text,
            Some(pem) => text.replacen(
                "    server: ",
                &format!(
                    "    certificate-authority-data: {}\n    server: ",
                    base64(pem.as_bytes())
                ),
                1,
            ),
        }
    }

    /// Writes [`SandboxHandle::kubeconfig`] to `path`.
    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), SandboxError> {
        std::fs::write(path, self.kubeconfig()).map_err(|source| SandboxError::WriteKubeconfig {
            path: path.to_owned(),
            source,
        })
    }

    /// Asks the sandbox to stop (like resolving the shutdown future).
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Waits for the server and controllers to finish after a stop.
    pub async fn join(self) -> Result<(), SandboxError> {
        let Self {
            server,
            controllers,
            stop,
            processes,
            ..
        } = self;
        let served = server.await.map_err(SandboxError::Task)?;
        // The controllers stop the processes gracefully before they end; whatever is left
        // (the task failed) is killed when `processes` drops, after them.
        let controlled = controllers.await.map_err(SandboxError::Task);
        drop(processes);
        controlled?;
        drop(stop);
        served.map_err(SandboxError::Serve)
    }

    /// Stops the sandbox and waits for it.
    pub async fn shutdown(self) -> Result<(), SandboxError> {
        self.stop();
        self.join().await
    }
}

/// A kubeconfig for a server URL with cluster, context and user all named
/// `firedrill-sandbox` and the `butterfly` namespace as default; the user is the admin
/// ([`ADMIN_TOKEN`]).
pub fn kubeconfig(server: &str) -> String {
    kubeconfig_with_token(server, ADMIN_TOKEN)
}

/// [`kubeconfig`] with another bearer token: a ServiceAccount's, to act as it.
pub fn kubeconfig_with_token(server: &str, token: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {KUBECONFIG_NAME}
  cluster:
    server: {server}
contexts:
- name: {KUBECONFIG_NAME}
  context:
    cluster: {KUBECONFIG_NAME}
    user: {KUBECONFIG_NAME}
    namespace: butterfly
current-context: {KUBECONFIG_NAME}
users:
- name: {KUBECONFIG_NAME}
  user:
    token: {token}
preferences: {{}}
"
    )
}

/// Standard base64 with padding (RFC 4648), for kubeconfig `*-data` fields.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_are_accepted() {
        let accepted = |text: &str| text.parse().is_ok_and(|a| ensure_loopback(a).is_ok());
        assert!(accepted("127.0.0.1:8080"));
        assert!(accepted("[::1]:8080"));
        assert!(!accepted("0.0.0.0:8080"));
        assert!(!accepted("192.168.1.10:8080"));
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(super::base64(plain.as_bytes()), encoded);
        }
    }
}
