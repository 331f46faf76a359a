//! [`HttpPusher`]: pushes sent over HTTP(S) with hyper (rustls on ring, the platform's
//! roots), each bounded in time, any 2xx accepted.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::NotifyError;
use crate::push::{PushRequest, Pusher};

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// How long one push may take, connect to last byte: a hung receiver must not stall the
/// outbox (the email waits behind it in `serve`'s loop).
const TIMEOUT: Duration = Duration::from_secs(30);

/// How much of a refusal's body is kept for the error (Slack says `invalid_payload`,
/// Grafana a JSON message).
const ERROR_BODY_CHARS: usize = 200;

/// POSTs JSON over HTTP or HTTPS.
#[derive(Clone)]
pub struct HttpPusher {
    client: Client<Https, Full<Bytes>>,
    timeout: Duration,
}

impl std::fmt::Debug for HttpPusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpPusher").finish_non_exhaustive()
    }
}

impl HttpPusher {
    /// A client trusting the platform's root certificates.
    pub fn new() -> Result<HttpPusher, NotifyError> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .map_err(NotifyError::TlsRoots)?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(HttpPusher {
            client: Client::builder(TokioExecutor::new()).build(https),
            timeout: TIMEOUT,
        })
    }

    async fn send(&self, request: &PushRequest) -> Result<(), String> {
        let uri = request
            .url
            .parse::<http::Uri>()
            .map_err(|_| "the URL is not valid".to_string())?;
        let mut builder = http::Request::post(uri)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(
                http::header::USER_AGENT,
                concat!("firedrill/", env!("CARGO_PKG_VERSION")),
            );
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        // The builder's error would quote nothing secret, but says little: name the cause.
        let http_request = builder
            .body(Full::new(Bytes::from(request.body.clone())))
            .map_err(|_| "a header name or value is not valid in HTTP".to_string())?;
        let response = self
            .client
            .request(http_request)
            .await
            .map_err(|err| crate::outbox::error_chain(&err))?;
        let status = response.status();
        if status.is_success() {
            // Read the answer so the connection can be reused; its content does not matter.
            let _ = Limited::new(response.into_body(), 64 * 1024)
                .collect()
                .await;
            return Ok(());
        }
        let body = Limited::new(response.into_body(), 64 * 1024)
            .collect()
            .await
            .map(|collected| String::from_utf8_lossy(&collected.to_bytes()).into_owned())
            .unwrap_or_default();
        let excerpt: String = body.trim().chars().take(ERROR_BODY_CHARS).collect();
        if excerpt.is_empty() {
            Err(format!("HTTP {status}"))
        } else {
            Err(format!("HTTP {status}: {excerpt}"))
        }
    }
}

impl Pusher for HttpPusher {
    async fn post(&self, request: &PushRequest) -> Result<(), NotifyError> {
        let mut problem = match tokio::time::timeout(self.timeout, self.send(request)).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(problem)) => problem,
            Err(_) => format!("no answer within {} s", self.timeout.as_secs()),
        };
        // A receiver may echo what it was sent: never let a secret into the message.
        for secret in request.secrets() {
            problem = problem.replace(secret, "[redacted]");
        }
        Err(NotifyError::Push {
            target: request.target.clone(),
            problem,
        })
    }
}
