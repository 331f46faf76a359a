//! `replication`: Cassandra's `nodetool describecluster` (schema agreement) and a
//! PostgreSQL replica's replay lag, checked while the DR region is activated.

use super::*;

/// What the replication checks found, for verify and findings.
#[derive(Serialize, Deserialize, Default)]
pub(crate) struct ReplicationSeen {
    pub(crate) lag: Option<LagSeen>,
    pub(crate) follow_ups: Vec<String>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct LagSeen {
    pub(crate) connection: String,
    pub(crate) max_lag: String,
    pub(crate) max_seconds: f64,
    /// The replay lag in seconds; none when no transaction was replayed yet or the
    /// server is no replica.
    pub(crate) seconds: Option<f64>,
    /// Why the lag could not be read.
    pub(crate) error: Option<String>,
}

/// `nodetool describecluster`'s schema versions: (version, hosts) of the reachable
/// nodes, and the unreachable hosts.
pub(crate) fn schema_versions(output: &str) -> (Vec<(String, Vec<String>)>, Vec<String>) {
    let mut versions = Vec::new();
    let mut unreachable = Vec::new();
    let mut lines = output
        .lines()
        .skip_while(|l| l.trim() != "Schema versions:");
    lines.next();
    for line in lines {
        if line.trim().is_empty() {
            continue;
        }
        // The section ends at the next unindented heading (`Stats for all nodes:`).
        if !line.starts_with(char::is_whitespace) {
            break;
        }
        let Some((version, hosts)) = line.trim().split_once(": ") else {
            continue;
        };
        let hosts: Vec<String> = hosts
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split(',')
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .collect();
        if version == "UNREACHABLE" {
            unreachable.extend(hosts);
        } else {
            versions.push((version.to_owned(), hosts));
        }
    }
    (versions, unreachable)
}

/// Runs the replication checks; what they found is also `replication.txt`, so that it is
/// in the record even when the phase does not recover.
pub(crate) fn check_replication(
    replication: &Replication,
    steps: &mut Vec<Done>,
) -> Result<(), Error> {
    let first = steps.len();
    check_replication_steps(replication, steps)?;
    evidence::text("replication.txt", &steps_text(&steps[first..]))
}

pub(crate) fn check_replication_steps(
    replication: &Replication,
    steps: &mut Vec<Done>,
) -> Result<(), Error> {
    let mut seen = ReplicationSeen::default();
    if let Some(c) = &replication.cassandra {
        let command = vec!["nodetool".to_owned(), "describecluster".to_owned()];
        let where_ = format!("{}/{}", c.namespace, c.pod);
        match cluster::exec(
            &c.namespace,
            &c.pod,
            c.container.as_deref(),
            &command,
            EXEC_TIMEOUT_MS,
        ) {
            Ok(out) if out.exit_code == 0 => {
                evidence::text("cassandra-describecluster.txt", &out.stdout)?;
                let (versions, unreachable) = schema_versions(&out.stdout);
                let reachable: usize = versions.iter().map(|(_, hosts)| hosts.len()).sum();
                let finding = if versions.len() == 1 && unreachable.is_empty() {
                    format!(
                        "Cassandra schema versions agree: one version ({}) on all {reachable} node(s), seen from {where_}",
                        versions[0].0
                    )
                } else if versions.is_empty() {
                    format!(
                        "Cassandra: nodetool describecluster in {where_} listed no schema version"
                    )
                } else {
                    format!(
                        "Cassandra schema versions disagree or nodes are down, seen from {where_}: {} version(s) on {reachable} reachable node(s), unreachable: {}",
                        versions.len(),
                        if unreachable.is_empty() {
                            "none".into()
                        } else {
                            unreachable.join(", ")
                        }
                    )
                };
                if !finding.starts_with("Cassandra schema versions agree") {
                    seen.follow_ups.push(format!(
                        "{finding}. Check the DR region's Cassandra replication (nodetool describecluster, nodetool status) before relying on its data."
                    ));
                }
                done(steps, finding);
            }
            Ok(out) => {
                let why = format!(
                    "nodetool describecluster in {where_} exited with {}: {}",
                    out.exit_code,
                    out.stderr.trim()
                );
                seen.follow_ups.push(format!(
                    "Cassandra replication was not checked ({why}): check it by hand."
                ));
                done(steps, why);
            }
            Err(err) => {
                let why = format!("nodetool describecluster in {where_} failed: {err:?}");
                seen.follow_ups.push(format!(
                    "Cassandra replication was not checked ({why}): check it by hand."
                ));
                done(steps, why);
            }
        }
    }
    if let Some(pg) = &replication.postgres {
        let mut lag = LagSeen {
            connection: pg.connection.clone(),
            max_lag: pg.max_lag().to_owned(),
            max_seconds: pg.max_lag_seconds()?,
            seconds: None,
            error: None,
        };
        let statement = "SELECT pg_is_in_recovery(), EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())";
        match postgres::query(&pg.connection, statement, &[]) {
            Ok(rows) => {
                let row = rows.rows.into_iter().next().unwrap_or_default();
                let in_recovery = matches!(row.first(), Some(postgres::Value::Boolean(true)));
                let seconds = match row.get(1) {
                    Some(postgres::Value::Float(x)) => Some(*x),
                    Some(postgres::Value::Int(n)) => Some(*n as f64),
                    // `numeric` comes back as text.
                    Some(postgres::Value::Text(t)) => t.trim().parse().ok(),
                    _ => None,
                };
                if !in_recovery {
                    seen.follow_ups.push(format!(
                        "PostgreSQL {} is not in recovery (pg_is_in_recovery() is false): it is no replica of the primary, so its replay lag says nothing; check which server the DR region uses.",
                        pg.connection
                    ));
                    done(
                        steps,
                        format!("PostgreSQL {}: not in recovery (no replica)", pg.connection),
                    );
                } else if let Some(seconds) = seconds {
                    lag.seconds = Some(seconds);
                    done(
                        steps,
                        format!(
                            "PostgreSQL {}: replay lag {seconds:.1} s (max_lag {})",
                            pg.connection, lag.max_lag
                        ),
                    );
                } else {
                    seen.follow_ups.push(format!(
                        "PostgreSQL {} has replayed no transaction since it started (pg_last_xact_replay_timestamp() is NULL): its replay lag is unknown; check pg_stat_wal_receiver.",
                        pg.connection
                    ));
                    done(
                        steps,
                        format!(
                            "PostgreSQL {}: replay lag unknown (no transaction replayed yet)",
                            pg.connection
                        ),
                    );
                }
            }
            Err(err) => {
                let why = format!("{err:?}");
                done(
                    steps,
                    format!("PostgreSQL {}: replay lag not read: {why}", pg.connection),
                );
                lag.error = Some(why);
            }
        }
        seen.lag = Some(lag);
    }
    state::set_json(REPLICATION_KEY, &seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_versions_are_read_from_describecluster() {
        let output = "Cluster Information:\n\tName: Test Cluster\n\tSnitch: org.apache.cassandra.locator.GossipingPropertyFileSnitch\n\tDynamicEndPointSnitch: enabled\n\tPartitioner: org.apache.cassandra.dht.Murmur3Partitioner\n\tSchema versions:\n\t\t65e78f0e-e81e-30d8-a631-a65dff93bf82: [10.0.0.1, 10.0.0.2]\n\n\t\tUNREACHABLE: [10.0.0.3]\n\nStats for all nodes:\n\tLive: 2\n";
        let (versions, unreachable) = schema_versions(output);
        assert_eq!(
            versions,
            [(
                "65e78f0e-e81e-30d8-a631-a65dff93bf82".to_owned(),
                vec!["10.0.0.1".to_owned(), "10.0.0.2".to_owned()]
            )]
        );
        assert_eq!(unreachable, ["10.0.0.3"]);
        assert_eq!(
            schema_versions("error: connection refused\n"),
            (vec![], vec![])
        );
    }
}
