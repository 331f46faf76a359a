//! HTTPS for the sandbox: a self-signed certificate made at start, and the listener that terminates TLS.
//!
//! Clients built on client-go (kubectl, and the tools that embed it) send a kubeconfig's
//! bearer token only over https, as the real API server is only reached over https: over
//! plain http they send no credential, and the sandbox would take them for the admin. With
//! TLS on, a ServiceAccount's token reaches the sandbox and RBAC applies to it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::error::SandboxError;

/// The sandbox's certificate (its own CA) and the acceptor serving it.
#[derive(Clone)]
pub struct Tls {
    /// PEM of the certificate, for kubeconfigs' `certificate-authority-data`.
    pub certificate_pem: String,
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

impl Tls {
    /// A fresh self-signed certificate for `127.0.0.1`, `::1` and `localhost`.
    pub fn self_signed() -> Result<Self, SandboxError> {
        let names = vec!["127.0.0.1".to_string(), "::1".into(), "localhost".into()];
        let certified = rcgen::generate_simple_self_signed(names)
            .map_err(|err| SandboxError::Tls(format!("cannot make a certificate: {err}")))?;
        let certificate_pem = certified.cert.pem();
        let chain = vec![certified.cert.der().clone()];
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(
            rustls::pki_types::PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()),
        );
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|err| SandboxError::Tls(err.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|err| SandboxError::Tls(err.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            certificate_pem,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }
}

/// A TCP listener whose connections are TLS: what `axum::serve` serves when TLS is on.
pub struct TlsListener {
    pub(crate) listener: TcpListener,
    pub(crate) tls: Tls,
}

/// How long a client may take over its TLS handshake before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, peer) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::debug!(error = %err, "Sandbox accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.tls.acceptor.accept(stream)).await {
                Ok(Ok(tls)) => return (tls, peer),
                Ok(Err(err)) => tracing::debug!(%peer, error = %err, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}
