//! The traffic switch (`traffic`): an HTTP request to a DNS provider or webhook, or
//! annotations on an object of this cluster; and its undo, or the follow-up when there
//! is none.

use super::*;

/// What a traffic switch changed, for its rollback.
#[derive(Serialize, Deserialize)]
pub(crate) enum Switched {
    Http {
        sent: HttpCall,
        rollback: Option<HttpCall>,
    },
    Annotated {
        api_version: String,
        kind: String,
        namespace: String,
        name: String,
        /// Each annotation's value before (none: it was not set).
        previous: BTreeMap<String, Option<String>>,
    },
}

pub(crate) fn send(call: &HttpCall, field: &str) -> Result<u16, Error> {
    let mut headers: Vec<(String, String)> = call
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let body = match &call.body {
        None => None,
        Some(Value::String(text)) => Some(text.clone().into_bytes()),
        Some(json) => {
            if !call
                .headers
                .keys()
                .any(|k| k.eq_ignore_ascii_case("content-type"))
            {
                headers.push(("Content-Type".into(), "application/json".into()));
            }
            Some(json.to_string().into_bytes())
        }
    };
    let response = http::send(&http::Request {
        method: call.method.to_ascii_uppercase(),
        url: call.url.clone(),
        headers,
        body,
        timeout_ms: HTTP_TIMEOUT_MS,
    })?;
    if !(200..300).contains(&response.status) {
        let body = String::from_utf8_lossy(&response.body);
        let excerpt: String = body.chars().take(200).collect();
        return Err(Error::failed(format!(
            "`{field}`: {} answered {}: {}",
            call.shown(),
            response.status,
            excerpt.trim()
        )));
    }
    Ok(response.status)
}

pub(crate) fn annotate_target(a: &Annotate) -> String {
    format!(
        "{}/{} in namespace {}",
        a.kind.to_ascii_lowercase(),
        a.name,
        a.namespace
    )
}

pub(crate) fn traffic_plan(traffic: &Traffic) -> Result<Vec<Action>, Error> {
    let mut actions = Vec::new();
    if let Some(http) = &traffic.http {
        actions.push(Action::new(
            "traffic-switch",
            http.call().shown(),
            format!(
                "switch traffic to this cluster (DNS provider or webhook); rollback: {}",
                http.rollback.as_ref().map_or_else(
                    || "none configured, so switching back is a follow-up for the operator".into(),
                    HttpCall::shown
                )
            ),
        ));
    }
    if let Some(a) = &traffic.annotate {
        let object = get_json(
            &annotate_api_version(a)?,
            &a.kind,
            Some(&a.namespace),
            &a.name,
        )
        .map_err(|err| {
            Error::failed(format!(
                "`traffic.annotate`: {}: {err:?}",
                annotate_target(a)
            ))
        })?;
        let changes: Vec<String> = a
            .annotations
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}={} (now: {})",
                    v.text(),
                    annotation(&object, k).unwrap_or_else(|| "unset".into())
                )
            })
            .collect();
        actions.push(Action::new(
            "annotate",
            annotate_target(a),
            format!(
                "switch traffic: set {}; restored on rollback",
                changes.join(", ")
            ),
        ));
    }
    Ok(actions)
}

pub(crate) fn switch_traffic(traffic: &Traffic, steps: &mut Vec<Done>) -> Result<(), Error> {
    if let Some(http) = &traffic.http {
        let call = http.call();
        // Recorded first: a rollback after a crash mid-request still switches back.
        state::set_json(
            TRAFFIC_KEY,
            &Switched::Http {
                sent: call.clone(),
                rollback: http.rollback.clone(),
            },
        )?;
        let status = send(&call, "traffic.http")?;
        done(
            steps,
            format!("switched traffic: {} answered {status}", call.shown()),
        );
    }
    if let Some(a) = &traffic.annotate {
        let api_version = annotate_api_version(a)?;
        let object = get_json(&api_version, &a.kind, Some(&a.namespace), &a.name)?;
        // An earlier attempt of this phase saw the values before any change.
        let previous = match state::get_json::<Switched>(TRAFFIC_KEY) {
            Some(Switched::Annotated { previous, .. }) => previous,
            _ => a
                .annotations
                .keys()
                .map(|k| (k.clone(), annotation(&object, k)))
                .collect(),
        };
        state::set_json(
            TRAFFIC_KEY,
            &Switched::Annotated {
                api_version: api_version.clone(),
                kind: a.kind.clone(),
                namespace: a.namespace.clone(),
                name: a.name.clone(),
                previous: previous.clone(),
            },
        )?;
        let values: serde_json::Map<String, Value> = a
            .annotations
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.text())))
            .collect();
        patch(
            &api_version,
            &a.kind,
            Some(&a.namespace),
            &a.name,
            &json!({ "metadata": { "annotations": values } }),
        )?;
        let shown: Vec<String> = a
            .annotations
            .iter()
            .map(|(k, v)| {
                let before = previous.get(k).cloned().flatten();
                format!(
                    "{k}={} (was: {})",
                    v.text(),
                    before.unwrap_or_else(|| "unset".into())
                )
            })
            .collect();
        done(
            steps,
            format!(
                "switched traffic: annotated {}: {}",
                annotate_target(a),
                shown.join(", ")
            ),
        );
    }
    Ok(())
}

/// Undoes this phase's traffic switch. An HTTP switch without a rollback request is a
/// manual step: it goes to `follow-ups`.
pub(crate) fn revert_traffic(follow_ups: &mut Vec<String>) -> Result<(), Error> {
    let Some(switched) = state::get_json::<Switched>(TRAFFIC_KEY) else {
        return Ok(());
    };
    match switched {
        Switched::Http {
            rollback: Some(call),
            sent,
        } => {
            let status = send(&call, "traffic.http.rollback")?;
            log::info(&format!(
                "switched traffic back: {} answered {status} (undoing {})",
                call.shown(),
                sent.shown()
            ));
        }
        Switched::Http { sent, rollback: None } => follow_ups.push(format!(
            "Switch traffic back by hand: the drill sent {} (traffic.http) and has no traffic.http.rollback request to undo it.",
            sent.shown()
        )),
        Switched::Annotated {
            api_version,
            kind,
            namespace,
            name,
            previous,
        } => {
            let values: serde_json::Map<String, Value> = previous
                .into_iter()
                .map(|(k, v)| (k, v.map_or(Value::Null, Value::String)))
                .collect();
            match patch(
                &api_version,
                &kind,
                Some(&namespace),
                &name,
                &json!({ "metadata": { "annotations": values } }),
            ) {
                Ok(()) | Err(Error::NotFound(_)) => {}
                Err(err) => return Err(err),
            }
            log::info(&format!(
                "restored the annotations of {}/{name} in namespace {namespace}",
                kind.to_ascii_lowercase()
            ));
        }
    }
    state::remove(TRAFFIC_KEY);
    Ok(())
}

/// Attaches `follow-up.txt` when there are manual steps, as the other scenarios do.
pub(crate) fn attach_follow_ups(follow_ups: &[String]) -> Result<(), Error> {
    if follow_ups.is_empty() {
        return Ok(());
    }
    let mut text = follow_ups.join("\n");
    text.push('\n');
    evidence::text("follow-up.txt", &text)
}
