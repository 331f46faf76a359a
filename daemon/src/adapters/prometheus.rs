//! `PrometheusApi`: the Prometheus HTTP API the configuration names — instant queries for
//! PromQL checks (the engine's `MetricsSource`), firing alerts for abort conditions (its
//! `AlertSource`) — with its credentials, extra CA certificates and timeout.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use firedrill_core::check::Sample;
use firedrill_core::config::{Prometheus, PrometheusAuth};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;

use crate::engine::ports::{AlertSource, MetricsSource, ScenarioError};

type Https = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

/// Why a Prometheus connection could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    #[error("prometheus credentials: {0}")]
    Secret(String),
    #[error("prometheus.ca_file {path}: {message}")]
    CaFile { path: PathBuf, message: String },
    #[error("cannot load the system's TLS roots for Prometheus: {0}")]
    Roots(String),
}

/// One Prometheus HTTP API.
#[derive(Clone)]
pub struct PrometheusApi {
    base: String,
    http: HttpClient<Https, Full<Bytes>>,
    /// The `Authorization` header value, when the connection has credentials.
    authorization: Option<String>,
    timeout: Duration,
}

impl std::fmt::Debug for PrometheusApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusApi")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl PrometheusApi {
    /// Reads the credentials and CA file now, so a missing secret is found when the
    /// session opens, not in the middle of a drill.
    pub fn new(connection: &Prometheus) -> Result<Self, PrometheusError> {
        let secret = |secret| {
            firedrill_notify::resolve_secret(secret)
                .map_err(|err| PrometheusError::Secret(err.to_string()))
        };
        let authorization = match &connection.auth {
            PrometheusAuth::None => None,
            PrometheusAuth::Bearer(token) => Some(format!("Bearer {}", secret(token)?.trim())),
            PrometheusAuth::Basic { username, password } => {
                let pair = format!("{username}:{}", secret(password)?.trim_end_matches('\n'));
                Some(format!("Basic {}", STANDARD.encode(pair.as_bytes())))
            }
        };
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            // A system root rustls cannot parse is skipped, as browsers do.
            let _ = roots.add(cert);
        }
        if let Some(path) = &connection.ca_file {
            use rustls::pki_types::CertificateDer;
            use rustls::pki_types::pem::PemObject;
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect())
                .map_err(|err| PrometheusError::CaFile {
                    path: path.clone(),
                    message: err.to_string(),
                })?;
            if certs.is_empty() {
                return Err(PrometheusError::CaFile {
                    path: path.clone(),
                    message: "no PEM certificate in it".into(),
                });
            }
            for cert in certs {
                roots.add(cert).map_err(|err| PrometheusError::CaFile {
                    path: path.clone(),
                    message: err.to_string(),
                })?;
            }
        }
        if roots.is_empty() && connection.url.starts_with("https://") {
            return Err(PrometheusError::Roots(
                "no system CA certificates and no prometheus.ca_file".into(),
            ));
        }
        let tls = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            base: connection.url.trim_end_matches('/').to_string(),
            http: HttpClient::builder(TokioExecutor::new()).build(https),
            authorization,
            timeout: connection.timeout,
        })
    }

    /// Sends one request and returns the body of a 2xx answer, or says what went wrong
    /// (with Prometheus's own `error` when it gives one).
    async fn send(&self, path: &str, form: Option<String>) -> Result<Bytes, String> {
        let url = format!("{}{path}", self.base);
        let mut request = http::Request::builder().uri(&url);
        request = match &form {
            Some(_) => request
                .method(http::Method::POST)
                .header("content-type", "application/x-www-form-urlencoded"),
            None => request.method(http::Method::GET),
        };
        if let Some(value) = &self.authorization {
            request = request.header("authorization", value);
        }
        let request = request
            .body(Full::new(Bytes::from(form.unwrap_or_default())))
            .map_err(|err| format!("bad Prometheus URL {url}: {err}"))?;
        let response = tokio::time::timeout(self.timeout, self.http.request(request))
            .await
            .map_err(|_| {
                format!(
                    "{url} did not answer within {}",
                    humantime::format_duration(self.timeout)
                )
            })?
            .map_err(|err| format!("{url}: {}", crate::exit::error_chain(&err)))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|err| format!("{url}: {err}"))?
            .to_bytes();
        if !status.is_success() {
            let why = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or_else(|| {
                    String::from_utf8_lossy(&body)
                        .lines()
                        .next()
                        .unwrap_or("")
                        .to_string()
                });
            return Err(if why.is_empty() {
                format!("{url} answered {status}")
            } else {
                format!("{url} answered {status}: {why}")
            });
        }
        Ok(body)
    }
}

#[async_trait]
impl MetricsSource for PrometheusApi {
    async fn query(&self, promql: &str, at: DateTime<Utc>) -> Result<Vec<Sample>, ScenarioError> {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("query", promql)
            .append_pair(
                "time",
                &format!("{:.3}", at.timestamp_millis() as f64 / 1000.0),
            )
            .finish();
        let body = self
            .send("/api/v1/query", Some(form))
            .await
            .map_err(ScenarioError)?;
        instant_samples(&body).map_err(|err| ScenarioError(format!("{}: {err}", self.base)))
    }
}

#[async_trait]
impl AlertSource for PrometheusApi {
    async fn firing(&self) -> Result<Vec<String>, ScenarioError> {
        let body = self
            .send("/api/v1/alerts", None)
            .await
            .map_err(ScenarioError)?;
        firing_alerts(&body).map_err(|err| ScenarioError(format!("{}: {err}", self.base)))
    }
}

/// The series of an instant query's answer (`resultType` vector or scalar).
pub fn instant_samples(body: &[u8]) -> Result<Vec<Sample>, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|err| format!("the answer is not JSON: {err}"))?;
    if value["status"] != "success" {
        return Err(format!(
            "the query failed: {}",
            value["error"].as_str().unwrap_or("no error given")
        ));
    }
    let data = &value["data"];
    let number = |pair: &serde_json::Value| -> Result<f64, String> {
        let text = pair
            .get(1)
            .and_then(serde_json::Value::as_str)
            .ok_or("a sample without a value")?;
        // Prometheus writes NaN, +Inf and -Inf as these strings.
        match text {
            "NaN" => Ok(f64::NAN),
            "+Inf" => Ok(f64::INFINITY),
            "-Inf" => Ok(f64::NEG_INFINITY),
            _ => text
                .parse()
                .map_err(|_| format!("`{text}` is not a sample value")),
        }
    };
    match data["resultType"].as_str() {
        Some("vector") => data["result"]
            .as_array()
            .ok_or("no data.result in the answer")?
            .iter()
            .map(|series| {
                let labels: BTreeMap<String, String> = series["metric"]
                    .as_object()
                    .map(|metric| {
                        metric
                            .iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(Sample {
                    labels,
                    value: number(&series["value"])?,
                })
            })
            .collect(),
        Some("scalar") => Ok(vec![Sample {
            labels: BTreeMap::new(),
            value: number(&data["result"])?,
        }]),
        Some(other) => Err(format!(
            "the query returned a {other}; a check needs an instant vector or a scalar"
        )),
        None => Err("no data.resultType in the answer".into()),
    }
}

/// The names of the alerts in state `firing` in an `/api/v1/alerts` answer.
pub fn firing_alerts(body: &[u8]) -> Result<Vec<String>, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|err| format!("not JSON: {err}"))?;
    let alerts = value
        .pointer("/data/alerts")
        .and_then(serde_json::Value::as_array)
        .ok_or("no data.alerts in the answer")?;
    Ok(alerts
        .iter()
        .filter(|a| a["state"] == "firing")
        .filter_map(|a| a.pointer("/labels/alertname")?.as_str().map(str::to_string))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_firing_alerts_are_read_from_the_prometheus_answer() {
        let body = br#"{"status":"success","data":{"alerts":[
            {"labels":{"alertname":"KubeAPIDown","severity":"critical"},"state":"firing"},
            {"labels":{"alertname":"DiskFilling"},"state":"pending"},
            {"labels":{"alertname":"Watchdog"},"state":"firing"}]}}"#;
        assert_eq!(firing_alerts(body).unwrap(), ["KubeAPIDown", "Watchdog"]);
        assert!(firing_alerts(b"<html>").is_err());
        assert!(firing_alerts(br#"{"status":"error"}"#).is_err());
    }

    #[test]
    fn instant_answers_become_samples_nan_and_all() {
        let vector = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"job":"web","status":"500"},"value":[1733500000.123,"0.031"]},
            {"metric":{},"value":[1733500000.123,"NaN"]}]}}"#;
        let samples = instant_samples(vector).unwrap();
        assert_eq!(samples.len(), 2);
        assert_eq!(samples[0].series(), r#"{job="web",status="500"}"#);
        assert_eq!(samples[0].value, 0.031);
        assert!(samples[1].value.is_nan());
        let scalar =
            br#"{"status":"success","data":{"resultType":"scalar","result":[1733500000,"2"]}}"#;
        assert_eq!(instant_samples(scalar).unwrap()[0].value, 2.0);
        let matrix = br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert!(instant_samples(matrix).unwrap_err().contains("matrix"));
        let failed = br#"{"status":"error","errorType":"bad_data","error":"parse error"}"#;
        assert!(instant_samples(failed).unwrap_err().contains("parse error"));
    }

    #[test]
    fn basic_credentials_are_sent_as_rfc_7617_says_from_a_secret_file() {
        let dir = tempfile::tempdir().unwrap();
        let password = dir.path().join("password");
        // A mounted Secret often ends in a newline: it is not part of the password.
        std::fs::write(&password, "open sesame\n").unwrap();
        let api = PrometheusApi::new(&Prometheus {
            auth: PrometheusAuth::Basic {
                username: "Aladdin".into(),
                password: firedrill_core::config::Secret::File(password),
            },
            ..Prometheus::plain("http://127.0.0.1:9")
        })
        .unwrap();
        assert_eq!(
            api.authorization.as_deref(),
            Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
        );
    }
}
