//! The `http` capability: outbound requests to granted hosts, with a real hyper client.

use std::time::Duration;

use async_trait::async_trait;
use http_body_util::{BodyExt, Full, Limited};

use super::BackendError;
use super::View;
use crate::bindings::http::Host;
pub use crate::bindings::http::{Request as HttpRequest, Response as HttpResponse};
use crate::bindings::types::Error as WitError;
use crate::grants::Request;

/// Largest response body handed to a plugin.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Outbound HTTP (the port).
#[async_trait]
pub trait Http: Send + Sync {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, BackendError>;
}

type HyperClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<bytes::Bytes>,
>;

/// HTTP/1.1 over plain TCP or rustls (ring provider, the platform's root certificates).
pub struct HyperHttp {
    /// The client, or why it could not be built (then every request is unavailable,
    /// rather than the host failing to start over a missing certificate store).
    client: Result<HyperClient, String>,
}

impl std::fmt::Debug for HyperHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HyperHttp").finish_non_exhaustive()
    }
}

impl HyperHttp {
    /// A client with the platform's root certificates.
    pub fn new() -> Self {
        Self {
            client: build_client(),
        }
    }
}

impl Default for HyperHttp {
    fn default() -> Self {
        Self::new()
    }
}

fn build_client() -> Result<HyperClient, String> {
    // kube uses ring too: one crypto provider in the binary, chosen explicitly rather
    // than through rustls' process-wide default.
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(provider)
        .map_err(|e| format!("cannot load the platform's TLS root certificates: {e}"))?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(connector),
    )
}

#[async_trait]
impl Http for HyperHttp {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, BackendError> {
        let mut builder = http::Request::builder()
            .method(request.method.as_str())
            .uri(request.url.as_str());
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let body = Full::new(bytes::Bytes::from(request.body.unwrap_or_default()));
        let outgoing = builder
            .body(body)
            .map_err(|e| BackendError::Refused(format!("invalid request: {e}")))?;
        let timeout = Duration::from_millis(u64::from(request.timeout_ms.max(1)));
        let client = self
            .client
            .as_ref()
            .map_err(|e| BackendError::Unavailable(e.clone()))?;
        let exchange = async {
            let response = client
                .request(outgoing)
                .await
                .map_err(|e| BackendError::Unavailable(format!("{}: {e}", request.url)))?;
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| BackendError::Unavailable(format!("reading {}: {e}", request.url)))?
                .to_bytes()
                .to_vec();
            Ok(HttpResponse {
                status,
                headers,
                body,
            })
        };
        tokio::time::timeout(timeout, exchange).await.map_err(|_| {
            BackendError::Timeout(format!("{} after {} ms", request.url, timeout.as_millis()))
        })?
    }
}

/// Host and port of an absolute `http`/`https` URL, or why it is not one.
pub fn host_and_port(url: &str) -> Result<(String, u16), String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("invalid url {url}: {e}"))?;
    let default_port = match uri.scheme_str() {
        Some("http") => 80,
        Some("https") => 443,
        _ => return Err(format!("url {url} must start with http:// or https://")),
    };
    let host = uri.host().ok_or_else(|| format!("url {url} has no host"))?;
    Ok((
        host.trim_matches(['[', ']']).to_ascii_lowercase(),
        uri.port_u16().unwrap_or(default_port),
    ))
}

impl Host for View<'_, dyn Http> {
    async fn send(
        &mut self,
        request: HttpRequest,
    ) -> wasmtime::Result<Result<HttpResponse, WitError>> {
        let (host, port) = match host_and_port(&request.url) {
            Ok(target) => target,
            Err(reason) => return Ok(Err(WitError::Refused(reason))),
        };
        self.guard.check(&Request::Http { host: &host, port })?;
        self.guard.outside_cluster();
        let client = self.backend.clone();
        Ok(client.send(request).await.map_err(WitError::from))
    }
}

#[cfg(test)]
mod tests {
    use super::host_and_port;

    #[test]
    fn urls_resolve_to_host_and_default_or_explicit_port() {
        assert_eq!(
            host_and_port("http://Web.svc:8080/x"),
            Ok(("web.svc".into(), 8080))
        );
        assert_eq!(
            host_and_port("https://example.com/"),
            Ok(("example.com".into(), 443))
        );
        assert_eq!(
            host_and_port("http://127.0.0.1/"),
            Ok(("127.0.0.1".into(), 80))
        );
        assert!(host_and_port("ftp://example.com/").is_err());
        assert!(host_and_port("/relative").is_err());
    }
}
