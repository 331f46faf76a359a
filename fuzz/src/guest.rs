//! The WIT target: what a guest may return (descriptions, plans, evidence) through the
//! host's checks (`check_description`, `check_actions`, `check_artefact`) and
//! what the host computes from it (`Granter::uncovered`).

use firedrill_host::capabilities::evidence::{MAX_ARTEFACT_BYTES, check_artefact};
use firedrill_host::host::{check_actions, check_description};
use firedrill_host::{
    Action, Capability, ClusterAccess, ClusterGrant, Description, Granter, Grants, Verb,
};
use proptest::prelude::*;
use proptest::sample::select;

use crate::harness::{Outcome, unclear_short};

/// Longest rejection worth reading: the host must not echo a huge guest string whole.
const MAX_MESSAGE_BYTES: usize = 1024;

/// Strings a guest may send: valid-looking, control characters, unicode, huge.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z0-9-]{0,70}",
        2 => any::<String>(),
        1 => "[\\x00-\\x1f\\x7f]{0,8}",
        1 => "[a-z]{1,4}[\u{0}-\u{1f}\u{202e}\u{feff}][a-z]{0,4}",
        1 => (1usize..5_000).prop_map(|n| "a".repeat(n)),
        1 => (1usize..1_000).prop_map(|n| "\u{1f600}".repeat(n)),
        // Rarely, as large as a guest's memory allows an answer to be in practice.
        1 => select(&[100_000usize, 1_000_000][..]).prop_map(|n| "b".repeat(n)),
    ]
}

fn version() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[0-9]{1,4}\\.[0-9]{1,4}\\.[0-9]{1,4}(-[a-z0-9.]{1,8})?(\\+[a-z0-9.]{1,8})?",
        2 => "v?[0-9]{0,3}(\\.[0-9]{0,3}){0,4}[-+]?",
        1 => "[0-9.\u{660}-\u{669}]{1,8}",
        2 => text(),
    ]
}

/// JSON documents of every type, broken JSON, deep nesting.
fn schema() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        any::<String>().prop_map(serde_json::Value::from),
    ];
    let value = leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::from),
            prop::collection::vec(("[a-z$]{1,8}", inner), 0..5)
                .prop_map(|entries| serde_json::Value::Object(entries.into_iter().collect())),
        ]
    });
    prop_oneof![
        6 => value.prop_map(|v| v.to_string()),
        1 => (1usize..5000).prop_map(|n| format!("{}{}", "[".repeat(n), "]".repeat(n))),
        1 => (1usize..5000).prop_map(|n| "{\"a\":".repeat(n)),
        1 => select(&["", "{", "{}", "{\"type\": \"object\"", "null", "[]", "{}{}", "{} x", "\u{feff}{}"][..])
            .prop_map(str::to_string),
        1 => text(),
    ]
}

fn verb() -> impl Strategy<Value = Verb> {
    select(
        &[
            Verb::Get,
            Verb::List,
            Verb::Watch,
            Verb::Patch,
            Verb::Delete,
            Verb::Evict,
        ][..],
    )
}

fn names() -> impl Strategy<Value = Vec<String>> {
    let one = prop_oneof![
        4 => select(&["*", ":cluster", "web", "kube-system", "*.example.com", "db:5432", ""][..])
            .prop_map(str::to_string),
        2 => text(),
    ];
    prop::collection::vec(one, 0..4)
}

fn capability() -> impl Strategy<Value = Capability> {
    prop_oneof![
        (prop::collection::vec(verb(), 0..4), names()).prop_map(|(verbs, namespaces)| {
            Capability::Cluster(ClusterAccess { verbs, namespaces })
        }),
        names().prop_map(Capability::Exec),
        names().prop_map(Capability::Http),
        text().prop_map(Capability::Postgres),
        text().prop_map(Capability::Redis),
    ]
}

fn description() -> impl Strategy<Value = Description> {
    (
        text(),
        version(),
        text(),
        schema(),
        prop::collection::vec(capability(), 0..4),
    )
        .prop_map(
            |(name, version, summary, params_schema, capabilities)| Description {
                name,
                version,
                summary,
                params_schema,
                capabilities,
            },
        )
}

fn action() -> impl Strategy<Value = Action> {
    let kind = prop_oneof![
        3 => select(&["delete-pod", "cordon", "sql", "", " ", "\t\n"][..]).prop_map(str::to_string),
        2 => text(),
    ];
    (kind, text(), text()).prop_map(|(kind, target, detail)| Action {
        kind,
        target,
        detail,
    })
}

/// One answer a guest gives through WIT.
#[derive(Debug, Clone)]
pub enum Answer {
    Describe(Description),
    Plan(Vec<Action>),
    /// An `evidence.attach` call: the name and the content's size in bytes.
    Attach(String, usize),
}

pub fn strategy() -> impl Strategy<Value = Answer> {
    let size = prop_oneof![
        4 => 0usize..10_000,
        1 => (MAX_ARTEFACT_BYTES - 2)..(MAX_ARTEFACT_BYTES + 2),
        1 => Just(usize::MAX),
    ];
    prop_oneof![
        4 => description().prop_map(Answer::Describe),
        2 => prop::collection::vec(action(), 0..6).prop_map(Answer::Plan),
        2 => (text(), size).prop_map(|(name, size)| Answer::Attach(name, size)),
    ]
}

fn judged(result: Result<(), String>, input: impl FnOnce() -> String) -> Result<Outcome, String> {
    match result {
        Ok(()) => Ok(Outcome::Accepted),
        Err(message) => match unclear_short(&message, input, MAX_MESSAGE_BYTES) {
            Some(reason) => Err(reason),
            None => Ok(Outcome::Rejected),
        },
    }
}

/// The grants a drill might give: enough to cover some declared capabilities and not others.
fn grants() -> Grants {
    Grants {
        cluster: vec![ClusterGrant {
            verbs: vec!["get".into(), "list".into(), "delete".into()],
            namespaces: vec!["web".into(), "*".into()],
        }],
        exec: vec!["web".into()],
        http: vec!["*.example.com".into()],
        postgres: vec!["primary".into()],
        redis: vec![],
    }
}

/// Runs the host's checks on one answer: no panic, every rejection short and clear.
pub fn check(answer: &Answer) -> Result<Outcome, String> {
    match answer {
        Answer::Describe(description) => {
            let granter = Granter::new("fuzz", grants());
            for missing in granter.uncovered(&description.capabilities) {
                let declared = || format!("{:?}", description.capabilities);
                if let Some(reason) = unclear_short(&missing, declared, MAX_MESSAGE_BYTES) {
                    return Err(format!("uncovered capability: {reason}"));
                }
            }
            // Guest strings are echoed only through `{:?}`: the rendered input is the
            // escaped form, which is what a message may quote.
            judged(check_description(description), || {
                format!("{description:?}")
            })
        }
        Answer::Plan(actions) => judged(check_actions(actions), || format!("{actions:?}")),
        Answer::Attach(name, size) => judged(check_artefact(name, *size), || format!("{name:?}")),
    }
}

pub fn show(answer: &Answer) -> String {
    let text = format!("{answer:?}");
    if text.len() > 4000 {
        format!(
            "{}... ({} bytes in all)",
            &text[..text.floor_char_boundary(4000)],
            text.len()
        )
    } else {
        text
    }
}
