//! `HttpProber`: availability probes through the Kubernetes service proxy or to a plain URL.

use std::time::Duration;

use async_trait::async_trait;
use firedrill_core::config::Probe;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use kube::Client;
use tokio::time::Instant;

use crate::engine::ports::{ProbeOutcome, ProbeTarget, Prober};

type Https = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

/// Sends probes: `service_proxy` ones through the API server (the same path on the
/// sandbox and on a real cluster), `url` ones directly over HTTP(S).
#[derive(Clone)]
pub struct HttpProber {
    kube: Client,
    http: HttpClient<Https, Empty<bytes::Bytes>>,
}

impl std::fmt::Debug for HttpProber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpProber").finish_non_exhaustive()
    }
}

impl HttpProber {
    pub fn new(kube: Client) -> Result<Self, std::io::Error> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            kube,
            http: HttpClient::builder(TokioExecutor::new()).build(https),
        })
    }

    async fn send(&self, probe: &Probe) -> bool {
        match probe {
            Probe::ServiceProxy {
                namespace,
                service,
                port,
                path,
            } => {
                let target = match port {
                    Some(port) => format!("{service}:{port}"),
                    None => service.clone(),
                };
                let url = format!("/api/v1/namespaces/{namespace}/services/{target}/proxy{path}");
                let Ok(request) = http::Request::get(url).body(Vec::new()) else {
                    return false;
                };
                match self.kube.send(request.map(kube::client::Body::from)).await {
                    Ok(response) => {
                        let ok = response.status().is_success();
                        // Read the body so the connection is reused.
                        let _ = response.into_body().collect().await;
                        ok
                    }
                    Err(_) => false,
                }
            }
            Probe::Url(url) => {
                let Ok(uri) = url.parse::<http::Uri>() else {
                    return false;
                };
                match self.http.get(uri).await {
                    Ok(response) => {
                        let ok = response.status().is_success();
                        let _ = response.into_body().collect().await;
                        ok
                    }
                    Err(_) => false,
                }
            }
        }
    }
}

#[async_trait]
impl Prober for HttpProber {
    async fn probe(&self, target: &ProbeTarget, timeout: Duration) -> ProbeOutcome {
        let start = Instant::now();
        match tokio::time::timeout(timeout, self.send(&target.probe)).await {
            Ok(ok) => ProbeOutcome {
                ok,
                latency: start.elapsed(),
            },
            Err(_) => ProbeOutcome {
                ok: false,
                latency: timeout,
            },
        }
    }
}
