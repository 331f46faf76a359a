//! The phase parameters as the configuration spells them, and their checks: which
//! parameters apply to which step, each refusal naming the parameter.

use super::*;

/// Which part of the runbook this phase runs.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Step {
    Outage,
    Activate,
    Failback,
}

impl Step {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Step::Outage => "outage",
            Step::Activate => "activate",
            Step::Failback => "failback",
        }
    }
}

/// How `outage` takes the region out.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Default, Debug)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TakeOut {
    #[default]
    Scale,
    Drain,
    Both,
}

impl TakeOut {
    pub(crate) fn scales(self) -> bool {
        matches!(self, TakeOut::Scale | TakeOut::Both)
    }
    pub(crate) fn drains(self) -> bool {
        matches!(self, TakeOut::Drain | TakeOut::Both)
    }
    pub(crate) fn name(self) -> &'static str {
        match self {
            TakeOut::Scale => "scale",
            TakeOut::Drain => "drain",
            TakeOut::Both => "both",
        }
    }
}

/// A YAML scalar taken as text (`3`, `true` and `"3"` all give a string): environment
/// variables and annotations are strings, and a YAML author rarely quotes them.
#[derive(Deserialize, Clone, Debug)]
#[serde(untagged)]
pub(crate) enum Scalar {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    pub(crate) fn text(&self) -> String {
        match self {
            Scalar::Text(text) => text.clone(),
            Scalar::Int(n) => n.to_string(),
            Scalar::Float(x) => x.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Params {
    /// `outage`, `activate` or `failback`.
    pub(crate) step: Step,
    /// outage: `scale` (default), `drain` or `both`.
    #[serde(default)]
    pub(crate) take_out: Option<TakeOut>,
    /// outage with drain: label selector of the nodes to cordon and drain (default: all).
    #[serde(default)]
    pub(crate) nodes: Option<String>,
    /// outage with drain: how long each drain retries evictions blocked by a budget.
    #[serde(default)]
    pub(crate) drain_timeout_seconds: Option<u32>,
    /// activate: the replica count of each phase service's workload.
    #[serde(default)]
    pub(crate) replicas: Option<u32>,
    /// activate: variables set on every container of each workload's pod template.
    #[serde(default)]
    pub(crate) env: Option<BTreeMap<String, Scalar>>,
    /// activate, failback: how traffic is switched to this cluster.
    #[serde(default)]
    pub(crate) traffic: Option<Traffic>,
    /// activate: replication checks of the DR region's data.
    #[serde(default)]
    pub(crate) replication: Option<Replication>,
    /// failback with traffic: how long to wait for the primary's pods before switching.
    #[serde(default)]
    pub(crate) ready_timeout_seconds: Option<u32>,
    /// Service name → `deployment/NAME` or `statefulset/NAME`, for services whose
    /// workload cannot be found from their pods or names.
    #[serde(default)]
    pub(crate) workloads: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Traffic {
    #[serde(default)]
    pub(crate) http: Option<HttpSwitch>,
    #[serde(default)]
    pub(crate) annotate: Option<Annotate>,
}

/// A traffic switch through the `http` capability, with its optional undo.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpSwitch {
    pub(crate) method: String,
    pub(crate) url: String,
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) body: Option<Value>,
    #[serde(default)]
    pub(crate) rollback: Option<HttpCall>,
}

/// One HTTP request, as the parameters spell it.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpCall {
    pub(crate) method: String,
    pub(crate) url: String,
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, String>,
    /// A string is sent as it is; anything else as JSON.
    #[serde(default)]
    pub(crate) body: Option<Value>,
}

impl HttpSwitch {
    pub(crate) fn call(&self) -> HttpCall {
        HttpCall {
            method: self.method.clone(),
            url: self.url.clone(),
            headers: self.headers.clone(),
            body: self.body.clone(),
        }
    }
}

impl HttpCall {
    pub(crate) fn shown(&self) -> String {
        format!("{} {}", self.method.to_ascii_uppercase(), self.url)
    }
}

/// A traffic switch as annotations on an object of this cluster (external-dns reads
/// `external-dns.alpha.kubernetes.io/hostname` on Services and Ingresses).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Annotate {
    #[serde(default)]
    pub(crate) api_version: Option<String>,
    pub(crate) kind: String,
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) annotations: BTreeMap<String, Scalar>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Replication {
    #[serde(default)]
    pub(crate) cassandra: Option<CassandraCheck>,
    #[serde(default)]
    pub(crate) postgres: Option<PostgresCheck>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CassandraCheck {
    pub(crate) namespace: String,
    pub(crate) pod: String,
    #[serde(default)]
    pub(crate) container: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PostgresCheck {
    /// The DR replica's connection.
    pub(crate) connection: String,
    /// The replay lag above which verify fails, e.g. `5m`.
    #[serde(default)]
    pub(crate) max_lag: Option<String>,
}

impl PostgresCheck {
    pub(crate) fn max_lag(&self) -> &str {
        self.max_lag.as_deref().unwrap_or(DEFAULT_MAX_LAG)
    }

    pub(crate) fn max_lag_seconds(&self) -> Result<f64, Error> {
        parse_duration(self.max_lag()).ok_or_else(|| {
            invalid(format!(
                "`replication.postgres.max_lag`: {:?} is not a duration such as 30s, 5m or 1h",
                self.max_lag()
            ))
        })
    }
}

pub(crate) fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidParams(message.into())
}

/// Checks what serde cannot: which parameters apply to which step, and their values.
/// Every message names the parameter.
pub(crate) fn validate(phase: &Phase<Params>) -> Result<(), Error> {
    let p = &phase.params;
    let step = p.step;
    let only = |given: bool, name: &str, steps: &str| {
        if given {
            Err(invalid(format!(
                "`{name}` does not apply to step: {} (only to {steps})",
                step.name()
            )))
        } else {
            Ok(())
        }
    };
    if step != Step::Outage {
        only(p.take_out.is_some(), "take_out", "outage")?;
        only(p.nodes.is_some(), "nodes", "outage")?;
        only(
            p.drain_timeout_seconds.is_some(),
            "drain_timeout_seconds",
            "outage",
        )?;
    }
    if step != Step::Activate {
        only(p.replicas.is_some(), "replicas", "activate")?;
        only(p.env.is_some(), "env", "activate")?;
        only(p.replication.is_some(), "replication", "activate")?;
    }
    if step != Step::Failback {
        only(
            p.ready_timeout_seconds.is_some(),
            "ready_timeout_seconds",
            "failback",
        )?;
    }
    if step == Step::Outage {
        only(p.traffic.is_some(), "traffic", "activate and failback")?;
        let take_out = p.take_out.unwrap_or_default();
        if !take_out.drains() && (p.nodes.is_some() || p.drain_timeout_seconds.is_some()) {
            return Err(invalid(
                "`nodes` and `drain_timeout_seconds` apply only with take_out: drain or both",
            ));
        }
        if take_out.scales() && phase.services.is_empty() {
            return Err(invalid(format!(
                "step: outage with take_out: {} scales the phase's services, and the phase names none (`services`)",
                take_out.name()
            )));
        }
    }
    if p.drain_timeout_seconds == Some(0) {
        return Err(invalid("`drain_timeout_seconds` must be at least 1"));
    }
    if p.ready_timeout_seconds == Some(0) {
        return Err(invalid("`ready_timeout_seconds` must be at least 1"));
    }
    if p.replicas == Some(0) {
        return Err(invalid(
            "`replicas` must be at least 1: the DR region is to serve",
        ));
    }
    if (p.replicas.is_some() || p.env.is_some()) && phase.services.is_empty() {
        return Err(invalid(
            "`replicas` and `env` act on the phase's services, and the phase names none (`services`)",
        ));
    }
    if let Some(env) = &p.env {
        if env.is_empty() {
            return Err(invalid("`env` names no variable"));
        }
        if let Some(bad) = env.keys().find(|name| !is_env_name(name)) {
            return Err(invalid(format!(
                "`env.{bad}` is not a valid environment variable name (letters, digits, `_`, `-` and `.`, not starting with a digit)"
            )));
        }
    }
    if let Some(traffic) = &p.traffic {
        validate_traffic(traffic)?;
    }
    if let Some(replication) = &p.replication {
        if replication.cassandra.is_none() && replication.postgres.is_none() {
            return Err(invalid(
                "`replication` needs `cassandra`, `postgres` or both",
            ));
        }
        if let Some(c) = &replication.cassandra
            && (c.namespace.is_empty() || c.pod.is_empty())
        {
            return Err(invalid(
                "`replication.cassandra` needs a `namespace` and a `pod`",
            ));
        }
        if let Some(pg) = &replication.postgres {
            if pg.connection.is_empty() {
                return Err(invalid("`replication.postgres.connection` is empty"));
            }
            pg.max_lag_seconds()?;
        }
    }
    for (service, spec) in &p.workloads {
        if !phase.services.iter().any(|s| s.name == *service) {
            return Err(invalid(format!(
                "`workloads.{service}`: the phase has no service {service}"
            )));
        }
        parse_workload_spec(spec)
            .map_err(|why| invalid(format!("`workloads.{service}`: {why}")))?;
    }
    Ok(())
}

pub(crate) fn validate_traffic(traffic: &Traffic) -> Result<(), Error> {
    match (&traffic.http, &traffic.annotate) {
        (Some(http), None) => {
            validate_call("traffic.http", &http.call())?;
            if let Some(rollback) = &http.rollback {
                validate_call("traffic.http.rollback", rollback)?;
            }
            Ok(())
        }
        (None, Some(annotate)) => {
            for (field, value) in [
                ("kind", &annotate.kind),
                ("namespace", &annotate.namespace),
                ("name", &annotate.name),
            ] {
                if value.is_empty() {
                    return Err(invalid(format!("`traffic.annotate.{field}` is empty")));
                }
            }
            if annotate.annotations.is_empty() {
                return Err(invalid(
                    "`traffic.annotate.annotations` names no annotation",
                ));
            }
            annotate_api_version(annotate)?;
            Ok(())
        }
        _ => Err(invalid(
            "`traffic` needs exactly one of `http` and `annotate`",
        )),
    }
}

pub(crate) fn validate_call(field: &str, call: &HttpCall) -> Result<(), Error> {
    if call.method.is_empty() || !call.method.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(invalid(format!(
            "`{field}.method` {:?} is not an HTTP method",
            call.method
        )));
    }
    if !(call.url.starts_with("http://") || call.url.starts_with("https://")) {
        return Err(invalid(format!(
            "`{field}.url` {:?} must be an absolute http:// or https:// URL",
            call.url
        )));
    }
    Ok(())
}

/// The API version of the object `traffic.annotate` names: given, or known for the kinds
/// a traffic switch usually annotates.
pub(crate) fn annotate_api_version(annotate: &Annotate) -> Result<String, Error> {
    if let Some(version) = annotate.api_version.as_ref().filter(|v| !v.is_empty()) {
        return Ok(version.clone());
    }
    let known = match annotate.kind.as_str() {
        "Service" | "ConfigMap" | "Endpoints" => "v1",
        "Ingress" => "networking.k8s.io/v1",
        "Gateway" | "HTTPRoute" => "gateway.networking.k8s.io/v1",
        "DNSEndpoint" => "externaldns.k8s.io/v1alpha1",
        other => {
            return Err(invalid(format!(
                "`traffic.annotate.api_version` is needed for kind {other}"
            )));
        }
    };
    Ok(known.to_owned())
}

/// What `kubectl set env` accepts as a variable name.
pub(crate) fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '_' | '-' | '.'))
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(params: Value) -> Result<Phase<Params>, String> {
        let params: Params = serde_json::from_value(params).map_err(|e| e.to_string())?;
        Ok(Phase {
            run_id: "run".into(),
            name: "phase".into(),
            params,
            services: vec![Service {
                name: "api".into(),
                namespace: "butterfly".into(),
                selector: "app=api".into(),
                replicas: 2,
            }],
            trigger: None,
        })
    }

    /// The message a refusal gives, or `ok`.
    fn check(params: Value) -> String {
        match phase(params) {
            Err(decoding) => decoding,
            Ok(phase) => match validate(&phase) {
                Ok(()) => "ok".into(),
                Err(Error::InvalidParams(message)) => message,
                Err(other) => format!("{other:?}"),
            },
        }
    }

    #[test]
    fn each_step_takes_its_own_parameters() {
        assert_eq!(check(json!({ "step": "outage" })), "ok");
        assert_eq!(
            check(json!({ "step": "outage", "take_out": "both", "nodes": "zone=a" })),
            "ok"
        );
        assert_eq!(
            check(
                json!({ "step": "activate", "replicas": 3, "env": { "REGION": "dr" },
                          "traffic": { "annotate": { "kind": "Service", "namespace": "b", "name": "api",
                                                     "annotations": { "a/b": "c" } } },
                          "replication": { "postgres": { "connection": "dr", "max_lag": "5m" } } })
            ),
            "ok"
        );
        assert_eq!(
            check(
                json!({ "step": "failback", "traffic": { "http": { "method": "POST", "url": "https://dns.example/switch" } } })
            ),
            "ok"
        );
        assert_eq!(
            check(json!({ "step": "outage", "replicas": 3 })),
            "`replicas` does not apply to step: outage (only to activate)"
        );
        assert_eq!(
            check(json!({ "step": "failback", "take_out": "drain" })),
            "`take_out` does not apply to step: failback (only to outage)"
        );
        assert_eq!(
            check(
                json!({ "step": "outage", "traffic": { "http": { "method": "POST", "url": "https://x" } } })
            ),
            "`traffic` does not apply to step: outage (only to activate and failback)"
        );
        assert_eq!(
            check(json!({ "step": "outage", "nodes": "zone=a" })),
            "`nodes` and `drain_timeout_seconds` apply only with take_out: drain or both"
        );
    }

    #[test]
    fn bad_values_are_refused_naming_the_parameter() {
        let refused = |params: Value, needle: &str| {
            let message = check(params);
            assert!(message.contains(needle), "{needle:?} in {message:?}");
        };
        refused(json!({ "step": "restore" }), "unknown variant `restore`");
        refused(json!({}), "missing field `step`");
        refused(
            json!({ "step": "outage", "take_out": "nuke" }),
            "unknown variant `nuke`",
        );
        refused(
            json!({ "step": "activate", "replicas": 0 }),
            "`replicas` must be at least 1",
        );
        refused(
            json!({ "step": "activate", "env": { "1X": "y" } }),
            "`env.1X`",
        );
        refused(
            json!({ "step": "activate", "traffic": {} }),
            "`traffic` needs exactly one of `http` and `annotate`",
        );
        refused(
            json!({ "step": "activate", "traffic": { "http": { "method": "POST", "url": "dns.example" } } }),
            "`traffic.http.url`",
        );
        refused(
            json!({ "step": "activate", "traffic": { "annotate": { "kind": "Widget", "namespace": "b",
                                                                   "name": "w", "annotations": { "a": "b" } } } }),
            "`traffic.annotate.api_version` is needed for kind Widget",
        );
        refused(
            json!({ "step": "activate", "replication": { "postgres": { "connection": "dr", "max_lag": "soon" } } }),
            "`replication.postgres.max_lag`",
        );
        refused(
            json!({ "step": "activate", "replication": {} }),
            "`replication` needs",
        );
        refused(
            json!({ "step": "failback", "workloads": { "web": "deployment/web" } }),
            "`workloads.web`: the phase has no service web",
        );
        refused(
            json!({ "step": "failback", "workloads": { "api": "daemonset/api" } }),
            "`workloads.api`: \"daemonset/api\" is not deployment/NAME or statefulset/NAME",
        );
    }
}
