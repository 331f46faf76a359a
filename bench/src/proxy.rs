//! `CountingProxy`: a reverse proxy in front of a sandbox that records every request (when,
//! and what kind: `list pods`, `watch pods`, `evict pods`, ...), so firedrill and Chaos
//! Toolkit are counted the same way, on the wire, without touching the sandbox.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::task::JoinHandle;

type Body = BoxBody<Bytes, hyper::Error>;

/// One request that went through the proxy.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: DateTime<Utc>,
    /// `list pods`, `get deployments`, `watch pods`, `evict pods`, `probe`, `discovery`...
    pub class: String,
    /// Until the response's head arrived (for a watch: until the stream started).
    pub latency: Duration,
}

/// A reverse proxy to one upstream, counting requests; stops when dropped.
#[derive(Debug)]
pub struct CountingProxy {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CountingProxy {
    /// Listens on a free loopback port and forwards to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> Result<Self> {
        Self::start_inner(upstream, None).await
    }

    /// Like [`Self::start`], but holds each `list pods` request (a scenario's own read,
    /// not a watch's initial list) back for a random time, uniform in `[0, jitter)`,
    /// before forwarding it: a phase's plan reads pods before its fault, so the fault
    /// lands at a random offset to the sandbox's controller tick.
    pub async fn start_with_list_jitter(upstream: &str, jitter: Duration) -> Result<Self> {
        Self::start_inner(upstream, Some(jitter)).await
    }

    async fn start_inner(upstream: &str, list_jitter: Option<Duration>) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let client: Client<HttpConnector, Incoming> =
            Client::builder(TokioExecutor::new()).build_http();
        let upstream: Arc<str> = upstream.trim_end_matches('/').into();
        let task = {
            let seen = seen.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let (seen, client, upstream) = (seen.clone(), client.clone(), upstream.clone());
                    tokio::spawn(async move {
                        let service = service_fn(move |request| {
                            forward(
                                request,
                                client.clone(),
                                upstream.clone(),
                                seen.clone(),
                                list_jitter,
                            )
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            })
        };
        Ok(Self { url, seen, task })
    }

    /// Every request so far, oldest first.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Forgets the requests so far.
    pub fn reset(&self) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.clear();
        }
    }
}

/// Requests per class, and the total.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub by_class: BTreeMap<String, u64>,
    /// Total and largest latency per class.
    pub latency: BTreeMap<String, (Duration, Duration)>,
}

impl Tally {
    /// The requests in `[from, to)`.
    pub fn between(seen: &[Seen], from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        Self::of(seen.iter().filter(|s| s.at >= from && s.at < to))
    }

    pub fn of<'a>(seen: impl IntoIterator<Item = &'a Seen>) -> Self {
        let mut tally = Self::default();
        for s in seen {
            *tally.by_class.entry(s.class.clone()).or_insert(0) += 1;
            let (total, max) = tally.latency.entry(s.class.clone()).or_default();
            *total += s.latency;
            *max = (*max).max(s.latency);
        }
        tally
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Tally) {
        for (class, n) in &other.by_class {
            *self.by_class.entry(class.clone()).or_insert(0) += n;
        }
        for (class, (total, max)) in &other.latency {
            let (t, m) = self.latency.entry(class.clone()).or_default();
            *t += *total;
            *m = (*m).max(*max);
        }
    }

    pub fn total(&self) -> u64 {
        self.by_class.values().sum()
    }

    /// `12 (list pods 10, delete pods 2)`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .by_class
            .iter()
            .map(|(class, n)| format!("{class} {n}"))
            .collect();
        format!("{} ({})", self.total(), parts.join(", "))
    }

    /// One line per class: count, mean and largest latency, and the time spent in total.
    pub fn latency_lines(&self) -> Vec<String> {
        self.by_class
            .iter()
            .map(|(class, n)| {
                let (total, max) = self.latency.get(class).copied().unwrap_or_default();
                format!(
                    "{class:<24} {n:>6}  mean {:>8.2} ms  max {:>8.2} ms  total {:>7.2} s",
                    total.as_secs_f64() * 1e3 / (*n).max(1) as f64,
                    max.as_secs_f64() * 1e3,
                    total.as_secs_f64()
                )
            })
            .collect()
    }
}

async fn forward(
    request: Request<Incoming>,
    client: Client<HttpConnector, Incoming>,
    upstream: Arc<str>,
    seen: Arc<Mutex<Vec<Seen>>>,
    list_jitter: Option<Duration>,
) -> Result<Response<Body>, Infallible> {
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let class = classify(
        request.method().as_str(),
        request.uri().path(),
        request.uri().query().unwrap_or(""),
    );
    if let Some(jitter) = list_jitter.filter(|_| class == "list pods") {
        tokio::time::sleep(jitter.mul_f64(uniform())).await;
    }
    let at = Utc::now();
    let started = Instant::now();
    let (mut parts, body) = request.into_parts();
    let Ok(uri) = format!("{upstream}{path_and_query}").parse() else {
        return Ok(error(StatusCode::BAD_REQUEST, "bad path"));
    };
    parts.uri = uri;
    let response = match client.request(Request::from_parts(parts, body)).await {
        Ok(response) => response.map(BodyExt::boxed),
        Err(err) => error(StatusCode::BAD_GATEWAY, &err.to_string()),
    };
    if let Ok(mut seen) = seen.lock() {
        seen.push(Seen {
            at,
            class,
            latency: started.elapsed(),
        });
    }
    Ok(response)
}

/// A pseudo-random number in `[0, 1)` (std's randomly keyed hasher; no dependency).
fn uniform() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    let mut response = Response::new(
        Full::new(Bytes::from(message.to_string()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    response
}

/// What a Kubernetes API request is: `list pods`, `watch nodes`, `evict pods`, ...
pub fn classify(method: &str, path: &str, query: &str) -> String {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let rest: &[&str] = match segments.first() {
        Some(&"api") if segments.len() >= 2 => &segments[2..],
        Some(&"apis") if segments.len() >= 3 => &segments[3..],
        Some(&"api" | &"apis") => &[],
        _ => return format!("{method} {path}"),
    };
    let rest = if rest.len() >= 3 && rest[0] == "namespaces" {
        &rest[2..]
    } else {
        rest
    };
    let Some(kind) = rest.first() else {
        return "discovery".into();
    };
    let name = rest.get(1);
    let sub = rest.get(2);
    // As the API server reads it (Go's ParseBool): the Python client sends `watch=True`.
    let watching = query.split('&').any(|pair| {
        matches!(
            pair.strip_prefix("watch="),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True")
        )
    });
    if watching {
        return format!("watch {kind}");
    }
    match (method, sub.copied()) {
        (_, Some("proxy")) => "probe (service proxy)".into(),
        ("POST", Some("eviction")) => format!("evict {kind}"),
        (_, Some(sub)) => format!("{} {kind}/{sub}", method.to_lowercase()),
        // A reflector starts its watch with a list in pages of 500 (kube-runtime's and
        // client-go's default page size); a scenario's own read asks for no pages.
        ("GET", None) if name.is_none() && query.split('&').any(|p| p == "limit=500") => {
            format!("list {kind} (a watch's initial list)")
        }
        ("GET", None) if name.is_none() => format!("list {kind}"),
        ("GET", None) => format!("get {kind}"),
        ("POST", None) => format!("create {kind}"),
        ("PUT", None) => format!("update {kind}"),
        (method, None) => format!("{} {kind}", method.to_lowercase()),
    }
}

#[cfg(test)]
mod tests {
    use super::classify;

    #[test]
    fn requests_are_classified_by_verb_and_kind() {
        assert_eq!(
            classify("GET", "/api/v1/namespaces/shop/pods", "labelSelector=a"),
            "list pods"
        );
        assert_eq!(classify("GET", "/api/v1/pods", "watch=true"), "watch pods");
        // The Python client's spelling, which the API server accepts.
        assert_eq!(
            classify(
                "GET",
                "/api/v1/namespaces/shop/pods",
                "labelSelector=a&watch=True"
            ),
            "watch pods"
        );
        assert_eq!(
            classify(
                "GET",
                "/api/v1/namespaces/shop/pods",
                "limit=500&labelSelector=a"
            ),
            "list pods (a watch's initial list)"
        );
        assert_eq!(
            classify("DELETE", "/api/v1/namespaces/shop/pods/web-1", ""),
            "delete pods"
        );
        assert_eq!(
            classify("POST", "/api/v1/namespaces/shop/pods/web-1/eviction", ""),
            "evict pods"
        );
        assert_eq!(classify("PATCH", "/api/v1/nodes/n1", ""), "patch nodes");
        assert_eq!(
            classify(
                "GET",
                "/api/v1/namespaces/shop/services/web:http/proxy/healthz",
                ""
            ),
            "probe (service proxy)"
        );
        assert_eq!(
            classify(
                "GET",
                "/apis/apps/v1/namespaces/shop/deployments",
                "watch=1"
            ),
            "watch deployments"
        );
        assert_eq!(classify("GET", "/api/v1", ""), "discovery");
        assert_eq!(classify("GET", "/version", ""), "GET /version");
    }
}
