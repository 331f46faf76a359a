//! `nodetool status` on Cassandra pods: Cassandra 4's layout, one datacenter `dc1`.

use std::fmt::Write as _;

use super::{MemberState, Output, Ring, stable_hash, stable_uuid};

/// The replication factor `Owns (effective)` assumes (the runbook's keyspaces use 3).
const CASSANDRA_REPLICATION: usize = 3;
/// Cassandra 4's default `num_tokens`.
const CASSANDRA_TOKENS: u32 = 16;

pub(super) fn nodetool(args: &[String], ring: &Ring) -> Output {
    let mut rest = args.iter();
    let mut positional = Vec::new();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "-h" | "--host" | "-p" | "--port" | "-u" | "--username" | "-pw" | "--password"
            | "-pwf" | "--password-file" => {
                rest.next();
            }
            "-r" | "--resolve-ip" | "-pp" | "--print-port" => {}
            flag if flag.starts_with("--") && flag.contains('=') => {}
            _ => positional.push(arg.as_str()),
        }
    }
    match positional.as_slice() {
        ["status"] | ["status", _] => Output::ok(nodetool_status(ring)),
        [] => Output::fail(
            "sandbox: nodetool needs a command; the sandbox simulates `nodetool status`\n"
                .to_owned(),
            1,
        ),
        [command, ..] => Output::fail(
            format!(
                "sandbox: nodetool {command} is not simulated; the sandbox simulates `nodetool status`\n"
            ),
            1,
        ),
    }
}

/// `nodetool status` of one datacenter, `dc1`, in Cassandra 4's layout.
pub fn nodetool_status(ring: &Ring) -> String {
    let nodes = ring.members.len().max(1);
    let owns = 100.0 * CASSANDRA_REPLICATION.min(nodes) as f64 / nodes as f64;
    let mut rows: Vec<[String; 7]> = vec![[
        "--".to_owned(),
        "Address".to_owned(),
        "Load".to_owned(),
        "Tokens".to_owned(),
        "Owns (effective)".to_owned(),
        "Host ID".to_owned(),
        "Rack".to_owned(),
    ]];
    for member in &ring.members {
        let status = match member.state {
            MemberState::Ready => "UN",
            MemberState::Starting => "UJ",
            MemberState::Missing
            | MemberState::Pending
            | MemberState::Terminating
            | MemberState::Unreachable => "DN",
        };
        let identity = format!("{}/{}", ring.namespace, member.pod);
        let load_mib = 200 + stable_hash(3, &identity) % 800;
        rows.push([
            status.to_owned(),
            member.address.clone(),
            format!("{load_mib}.{:02} MiB", stable_hash(4, &identity) % 100),
            CASSANDRA_TOKENS.to_string(),
            format!("{owns:.1}%"),
            stable_uuid(&identity),
            member.rack.clone(),
        ]);
    }
    let mut widths = [0usize; 7];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let datacenter = "Datacenter: dc1";
    let mut out = format!(
        "{datacenter}\n{}\nStatus=Up/Down\n|/ State=Normal/Leaving/Joining/Moving\n",
        "=".repeat(datacenter.len())
    );
    for row in &rows {
        let mut line = String::new();
        for (index, cell) in row.iter().enumerate() {
            if index + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[index]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::{UP, command, kafka};
    use super::super::{Logs, MemberState, Software, run};

    #[test]
    fn nodetool_status_lays_out_columns_like_cassandra_4() {
        let mut context = kafka(&[
            UP,
            (MemberState::Missing, false),
            (MemberState::Starting, false),
        ]);
        context.software = Software::Cassandra;
        context.ring.workload = "cassandra".to_owned();
        for member in &mut context.ring.members {
            member.pod = member.pod.replace("kafka", "cassandra");
        }
        let output = run(
            &command("nodetool -h localhost status"),
            &context,
            &mut Logs::default(),
        );
        assert_eq!(output.exit_code, 0, "{output:?}");
        let lines: Vec<&str> = output.stdout.lines().collect();
        assert_eq!(lines[0], "Datacenter: dc1");
        assert_eq!(lines[1], "===============");
        assert_eq!(lines[2], "Status=Up/Down");
        assert_eq!(lines[3], "|/ State=Normal/Leaving/Joining/Moving");
        assert!(
            lines[4].starts_with("--  Address     Load        Tokens  Owns (effective)  Host ID"),
            "{}",
            lines[4]
        );
        assert!(lines[4].ends_with("  Rack"), "{}", lines[4]);
        assert!(lines[5].starts_with("UN  10.244.0.1  "), "{}", lines[5]);
        assert!(lines[6].starts_with("DN  10.244.0.2  "), "{}", lines[6]);
        assert!(lines[7].starts_with("UJ  10.244.0.3  "), "{}", lines[7]);
        assert!(
            lines[5].contains("  16      100.0%            "),
            "{}",
            lines[5]
        );
        assert!(lines[5].ends_with("  zone-a"), "{}", lines[5]);
        // Every column starts where its header does.
        let rack = lines[4].find("Rack");
        assert_eq!(lines[6].find("zone-b"), rack);
    }
}
