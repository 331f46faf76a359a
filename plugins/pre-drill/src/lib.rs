//! Built-in scenario `pre-drill` (the runbook's phase 0): record the baseline (pods and
//! nodes) as evidence, check every service is healthy, and optionally silence warning
//! alerts in Alertmanager (API v2) with an expiry, so the silence lifts itself if firedrill
//! dies; rollback removes the silence.

use firedrill_sdk::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Params {
    /// Alertmanager base URL, e.g. `http://alertmanager.monitoring:9093`. None: no silence.
    alertmanager: Option<String>,
    /// Alerts matching these label=value pairs are silenced.
    silence_matchers: Vec<(String, String)>,
    /// The silence expires by itself after this many minutes.
    silence_minutes: u32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            alertmanager: None,
            silence_matchers: vec![("severity".into(), "warning".into())],
            silence_minutes: 240,
        }
    }
}

struct PreDrill;

fn baseline() -> Result<String, Error> {
    let mut lines = vec!["NODE ZONE READY SCHEDULABLE".to_owned()];
    for node in cluster::list_nodes("")? {
        lines.push(format!(
            "{} {} {} {}",
            node.name,
            node.zone.unwrap_or_else(|| "-".into()),
            node.ready,
            !node.unschedulable
        ));
    }
    lines.push(String::new());
    lines.push("NAMESPACE POD PHASE READY NODE".to_owned());
    let mut pods = cluster::list_pods("", "")?;
    pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    for pod in pods {
        lines.push(format!(
            "{} {} {} {} {}",
            pod.namespace,
            pod.name,
            pod.phase,
            pod.ready,
            pod.node.unwrap_or_else(|| "-".into())
        ));
    }
    Ok(lines.join("\n"))
}

fn unhealthy(phase: &Phase<Params>) -> Result<Vec<String>, Error> {
    let mut problems = Vec::new();
    for service in &phase.services {
        let ready = cluster::list_pods(&service.namespace, &service.selector)?
            .iter()
            .filter(|p| p.ready && !p.terminating)
            .count();
        if ready == 0 || ready < service.replicas as usize {
            problems.push(format!(
                "{}: {ready}/{} pods Ready",
                service.name, service.replicas
            ));
        }
    }
    Ok(problems)
}

impl Scenario for PreDrill {
    type Params = Params;

    fn describe() -> Description {
        Description::new(
            "pre-drill",
            "0.1.0",
            "Records the baseline, checks every service is healthy and silences warning alerts for the drill.",
        )
        .params_schema(serde_json::json!({
            "type": "object",
            "properties": {
                "alertmanager": { "type": "string" },
                "silence_matchers": { "type": "array", "items": { "type": "array", "items": { "type": "string" }, "minItems": 2, "maxItems": 2 } },
                "silence_minutes": { "type": "integer", "minimum": 1, "default": 240 }
            },
            "additionalProperties": false
        }))
        .needs(Capability::cluster(&[Verb::List], &["*", ":cluster"]))
    }

    fn plan(phase: &Phase<Params>) -> Result<Vec<Action>, Error> {
        let mut actions = vec![
            Action::new(
                ActionKind::Snapshot,
                "pods and nodes",
                "record the baseline as evidence",
            ),
            Action::new(
                ActionKind::HealthCheck,
                format!("{} services", phase.services.len()),
                "every service has its replicas Ready",
            ),
        ];
        if let Some(url) = &phase.params.alertmanager {
            actions.push(Action::new(
                ActionKind::Silence,
                url.clone(),
                format!(
                    "silence alerts matching {:?} for {} minutes",
                    phase.params.silence_matchers, phase.params.silence_minutes
                ),
            ));
        }
        Ok(actions)
    }

    fn inject(phase: &Phase<Params>) -> Result<(), Error> {
        evidence::text("baseline.txt", &baseline()?)?;
        let Some(url) = &phase.params.alertmanager else {
            return Ok(());
        };
        let now_ms = clock::now_ms();
        let ends_ms = now_ms + u64::from(phase.params.silence_minutes) * 60_000;
        let matchers: Vec<serde_json::Value> = phase
            .params
            .silence_matchers
            .iter()
            .map(|(name, value)| serde_json::json!({ "name": name, "value": value, "isRegex": false, "isEqual": true }))
            .collect();
        let body = serde_json::json!({
            "matchers": matchers,
            "startsAt": rfc3339(now_ms),
            "endsAt": rfc3339(ends_ms),
            "createdBy": "firedrill",
            "comment": comment(phase),
        });
        let response = http::send(&http::Request {
            method: "POST".into(),
            url: format!("{}/api/v2/silences", url.trim_end_matches('/')),
            headers: vec![("content-type".into(), "application/json".into())],
            body: Some(body.to_string().into_bytes()),
            timeout_ms: 10_000,
        })?;
        if response.status / 100 != 2 {
            return Err(Error::failed(format!(
                "Alertmanager refused the silence: HTTP {}",
                response.status
            )));
        }
        let id = serde_json::from_slice::<serde_json::Value>(&response.body)
            .ok()
            .and_then(|v| {
                v.get("silenceID")
                    .and_then(|id| id.as_str())
                    .map(str::to_owned)
            })
            .ok_or_else(|| Error::failed("Alertmanager's answer has no silenceID"))?;
        log::info(&format!(
            "silenced {:?} until {} (silence {id})",
            phase.params.silence_matchers,
            rfc3339(ends_ms)
        ));
        state::set_json("silence", &id)
    }

    fn verify(phase: &Phase<Params>) -> Result<Verdict, Error> {
        let problems = unhealthy(phase)?;
        if problems.is_empty() {
            Ok(Verdict::Recovered)
        } else {
            Ok(Verdict::Recovering(format!(
                "not healthy yet: {}",
                problems.join("; ")
            )))
        }
    }

    fn rollback(phase: &Phase<Params>) -> Result<(), Error> {
        let Some(url) = &phase.params.alertmanager else {
            return Ok(());
        };
        let url = url.trim_end_matches('/');
        // A process killed between creating the silence and saving its id leaves no id:
        // find the run's silences by their comment instead.
        let ids = match state::get_json::<String>("silence") {
            Some(id) => vec![id],
            None => silences_of(url, &comment(phase))?,
        };
        for id in ids {
            let response = http::send(&http::Request {
                method: "DELETE".into(),
                url: format!("{url}/api/v2/silence/{id}"),
                headers: vec![],
                body: None,
                timeout_ms: 10_000,
            })?;
            if response.status / 100 != 2 && response.status != 404 {
                return Err(Error::failed(format!(
                    "Alertmanager did not remove silence {id}: HTTP {}",
                    response.status
                )));
            }
            log::info(&format!("removed silence {id}"));
        }
        state::remove("silence");
        Ok(())
    }
}

/// The comment that marks a silence as this phase's of this run.
fn comment(phase: &Phase<Params>) -> String {
    format!("DR drill run {} ({})", phase.run_id, phase.name)
}

/// Ids of the silences firedrill created with `comment` that are still active or pending.
fn silences_of(url: &str, comment: &str) -> Result<Vec<String>, Error> {
    let response = http::send(&http::Request {
        method: "GET".into(),
        url: format!("{url}/api/v2/silences"),
        headers: vec![],
        body: None,
        timeout_ms: 10_000,
    })?;
    if response.status / 100 != 2 {
        return Err(Error::failed(format!(
            "Alertmanager did not list its silences: HTTP {}",
            response.status
        )));
    }
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&response.body)
        .map_err(|err| Error::failed(format!("Alertmanager's silences are not JSON: {err}")))?;
    Ok(listed
        .iter()
        .filter(|s| s["createdBy"] == "firedrill" && s["comment"] == comment)
        .filter(|s| matches!(s["status"]["state"].as_str(), Some("active" | "pending")))
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .collect())
}

/// Milliseconds since the epoch as RFC 3339 UTC (no date library in the guest).
fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (hour, minute, second) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

export_scenario!(PreDrill);
