//! Built-in scenario `redis-sentinel-failover` (the DR runbook's Redis Sentinel failover):
//! force a failover with `SENTINEL FAILOVER` (or stop the master); recovered when Sentinel
//! names a new master and it accepts writes.

use firedrill_sdk::prelude::*;
use firedrill_sdk::redis::{Reply, ReplyItem};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// The data connection (a `connections` entry with `sentinel`, so it follows the master).
    connection: String,
    /// A connection to one Sentinel (e.g. `redis://redis-0.redis:26379`).
    sentinel: String,
    /// The monitored master's name.
    #[serde(default = "default_master")]
    master: String,
    /// `failover` (`SENTINEL FAILOVER`) or `shutdown` (`SHUTDOWN NOSAVE` on the master, so
    /// Sentinel must detect the loss itself).
    #[serde(default)]
    method: Method,
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum Method {
    #[default]
    Failover,
    Shutdown,
}

fn default_master() -> String {
    "mymaster".into()
}

struct RedisSentinelFailover;

fn text(item: &ReplyItem) -> String {
    match item {
        ReplyItem::Nil => "(nil)".into(),
        ReplyItem::Status(s) => s.clone(),
        ReplyItem::Int(i) => i.to_string(),
        ReplyItem::Data(d) => String::from_utf8_lossy(d).into_owned(),
    }
}

/// The master's `ip:port` as Sentinel reports it.
fn master_address(p: &Params) -> Result<String, Error> {
    match redis::run(
        &p.sentinel,
        &["SENTINEL", "get-master-addr-by-name", &p.master],
    )? {
        Reply::Array(items) if items.len() == 2 => {
            Ok(format!("{}:{}", text(&items[0]), text(&items[1])))
        }
        Reply::Nil => Err(Error::NotFound(format!(
            "Sentinel {} does not monitor a master named {}",
            p.sentinel, p.master
        ))),
        other => Err(Error::failed(format!(
            "SENTINEL get-master-addr-by-name answered {other:?}"
        ))),
    }
}

fn sentinel_view(p: &Params) -> String {
    let mut out = String::new();
    for args in [
        vec!["SENTINEL", "get-master-addr-by-name", p.master.as_str()],
        vec!["SENTINEL", "replicas", p.master.as_str()],
    ] {
        out.push_str(&format!("> {}\n", args.join(" ")));
        match redis::run(&p.sentinel, &args) {
            Ok(Reply::Array(items)) => {
                for item in items {
                    out.push_str(&text(&item));
                    out.push('\n');
                }
            }
            Ok(other) => out.push_str(&format!("{other:?}\n")),
            Err(err) => out.push_str(&format!("error: {err:?}\n")),
        }
    }
    out
}

impl Scenario for RedisSentinelFailover {
    type Params = Params;

    fn describe() -> Description {
        Description::new(
            "redis-sentinel-failover",
            "0.1.0",
            "Forces a Redis Sentinel failover (SENTINEL FAILOVER, or SHUTDOWN NOSAVE on the master); recovered when Sentinel names a new master that accepts writes.",
        )
        .params_schema(serde_json::json!({
            "type": "object",
            "properties": {
                "connection": { "type": "string", "description": "data connection (with sentinel)" },
                "sentinel": { "type": "string", "description": "connection to one Sentinel" },
                "master": { "type": "string", "default": "mymaster" },
                "method": { "enum": ["failover", "shutdown"], "default": "failover" }
            },
            "required": ["connection", "sentinel"],
            "additionalProperties": false
        }))
        .needs(Capability::Redis("params.connection".into()))
        .needs(Capability::Redis("params.sentinel".into()))
    }

    fn plan(phase: &Phase<Params>) -> Result<Vec<Action>, Error> {
        let p = &phase.params;
        Ok(vec![match p.method {
            Method::Failover => Action::new(
                ActionKind::Redis,
                format!("connection {}", p.sentinel),
                format!("SENTINEL FAILOVER {}", p.master),
            ),
            Method::Shutdown => Action::new(
                ActionKind::Redis,
                format!("connection {} (the master of {})", p.connection, p.master),
                "SHUTDOWN NOSAVE",
            ),
        }])
    }

    fn inject(phase: &Phase<Params>) -> Result<(), Error> {
        let p = &phase.params;
        let before = master_address(p)?;
        state::set("old-master", &before)?;
        evidence::text("sentinel-before.txt", &sentinel_view(p))?;
        match p.method {
            Method::Failover => {
                match redis::run(&p.sentinel, &["SENTINEL", "FAILOVER", &p.master])? {
                    Reply::Status(s) if s == "OK" => {}
                    other => {
                        return Err(Error::failed(format!(
                            "SENTINEL FAILOVER answered {other:?}"
                        )));
                    }
                }
            }
            Method::Shutdown => {
                // The master closes the connection instead of answering.
                match redis::run(&p.connection, &["SHUTDOWN", "NOSAVE"]) {
                    Ok(_) | Err(Error::Unavailable(_)) | Err(Error::Timeout(_)) => {}
                    Err(err) => return Err(err),
                }
            }
        }
        log::info(&format!(
            "failover of {} started; master was {before}",
            p.master
        ));
        Ok(())
    }

    fn verify(phase: &Phase<Params>) -> Result<Verdict, Error> {
        let p = &phase.params;
        let old = state::get("old-master").unwrap_or_default();
        let now = match master_address(p) {
            Ok(now) => now,
            Err(Error::Unavailable(e) | Error::Timeout(e)) => {
                return Ok(Verdict::Recovering(format!("Sentinel unreachable: {e}")));
            }
            Err(err) => return Err(err),
        };
        if now == old {
            return Ok(Verdict::Recovering(format!(
                "Sentinel still names {old} as master"
            )));
        }
        let key = format!("firedrill:failover-check:{}", phase.run_id);
        match redis::run(&p.connection, &["SET", &key, "1", "EX", "60"]) {
            Ok(Reply::Status(s)) if s == "OK" => {}
            Ok(other) => return Ok(Verdict::Recovering(format!("write answered {other:?}"))),
            Err(Error::Refused(e) | Error::Unavailable(e) | Error::Timeout(e)) => {
                return Ok(Verdict::Recovering(format!(
                    "new master {now} does not accept writes yet: {e}"
                )));
            }
            Err(err) => return Err(err),
        }
        evidence::text("sentinel-after.txt", &sentinel_view(p))?;
        log::info(&format!("{} failed over from {old} to {now}", p.master));
        Ok(Verdict::Recovered)
    }

    fn rollback(phase: &Phase<Params>) -> Result<(), Error> {
        // Sentinel reconfigures the old master as a replica when it is back; nothing to
        // undo. A master that was shut down is restarted by its controller.
        if phase.params.method == Method::Shutdown && state::get("old-master").is_some() {
            evidence::text(
                "follow-up.txt",
                &format!(
                    "Check that the old Redis master {} came back and replicates from the new master.\n",
                    state::get("old-master").unwrap_or_default()
                ),
            )?;
        }
        state::remove("old-master");
        Ok(())
    }
}

export_scenario!(RedisSentinelFailover);
