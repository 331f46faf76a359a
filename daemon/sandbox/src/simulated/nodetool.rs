//! `nodetool status` and `nodetool describecluster` on Cassandra pods: Cassandra 4's
//! layouts, one datacenter `dc1`.

use std::fmt::Write as _;

use super::{Member, MemberState, Output, Ring, stable_hash, stable_uuid};

/// The replication factor `Owns (effective)` assumes (the runbook's keyspaces use 3).
const CASSANDRA_REPLICATION: usize = 3;
/// Cassandra 4's default `num_tokens`.
const CASSANDRA_TOKENS: u32 = 16;
/// The release the simulated nodes report (the seed platform runs `cassandra:4.1`).
const CASSANDRA_RELEASE: &str = "4.1.5";
/// `cluster_name` of the image's default `cassandra.yaml`.
const CLUSTER_NAME: &str = "Test Cluster";
/// The snitch that gives `nodetool status` its datacenter and racks.
const SNITCH: &str = "org.apache.cassandra.locator.GossipingPropertyFileSnitch";
/// The storage port gossip reports with each endpoint.
const STORAGE_PORT: u16 = 7000;

pub(super) fn nodetool(args: &[String], ring: &Ring) -> Output {
    let mut rest = args.iter();
    let mut positional = Vec::new();
    let mut print_port = false;
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "-h" | "--host" | "-p" | "--port" | "-u" | "--username" | "-pw" | "--password"
            | "-pwf" | "--password-file" => {
                rest.next();
            }
            "-pp" | "--print-port" => print_port = true,
            "-r" | "--resolve-ip" => {}
            flag if flag.starts_with("--") && flag.contains('=') => {}
            _ => positional.push(arg.as_str()),
        }
    }
    match positional.as_slice() {
        ["status"] | ["status", _] => Output::ok(nodetool_status(ring)),
        ["describecluster"] => Output::ok(nodetool_describecluster(ring, print_port)),
        [] => Output::fail(
            format!("sandbox: nodetool needs a command; {SIMULATED}\n"),
            1,
        ),
        [command, ..] => Output::fail(
            format!("sandbox: nodetool {command} is not simulated; {SIMULATED}\n"),
            1,
        ),
    }
}

/// What the sandbox's `nodetool` answers, for its error messages.
const SIMULATED: &str =
    "the sandbox simulates `nodetool status`, `nodetool describecluster` and `nodetool repair`";

/// Whether peers reach a member over gossip: a running node does, joining or not.
fn reachable(member: &Member) -> bool {
    matches!(member.state, MemberState::Ready | MemberState::Starting)
}

/// `nodetool describecluster` in Cassandra 4.1's layout (`DescribeCluster.java`): the
/// reachable nodes agree on one schema version (the simulation has no schema changes in
/// flight) and the others are listed as `UNREACHABLE`, as `StorageProxy` reports nodes
/// that do not answer the schema-version request. Addresses carry the storage port with
/// `-pp`, as the real tool prints them.
pub fn nodetool_describecluster(ring: &Ring, print_port: bool) -> String {
    let address = |member: &Member| {
        if print_port {
            format!("{}:{STORAGE_PORT}", member.address)
        } else {
            member.address.clone()
        }
    };
    let (up, down): (Vec<&Member>, Vec<&Member>) =
        ring.members.iter().partition(|member| reachable(member));
    let list = |members: &[&Member]| {
        members
            .iter()
            .map(|member| address(member))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = format!(
        "Cluster Information:\n\tName: {CLUSTER_NAME}\n\tSnitch: {SNITCH}\n\tDynamicEndPointSnitch: enabled\n\tPartitioner: org.apache.cassandra.dht.Murmur3Partitioner\n\tSchema versions:\n"
    );
    // The real tool prints each version with `%n` inside `println`: a blank line after each.
    if !up.is_empty() {
        let _ = write!(out, "\t\t{}: [{}]\n\n", schema_version(ring), list(&up));
    }
    if !down.is_empty() {
        let _ = write!(out, "\t\tUNREACHABLE: [{}]\n\n", list(&down));
    }
    let joining = up
        .iter()
        .filter(|member| member.state == MemberState::Starting)
        .count();
    let _ = write!(
        out,
        "Stats for all nodes:\n\tLive: {}\n\tJoining: {joining}\n\tMoving: 0\n\tLeaving: 0\n\tUnreachable: {}\n\nData Centers: \n\tdc1 #Nodes: {} #Down: {}\n\nDatabase versions:\n",
        up.len(),
        down.len(),
        ring.members.len(),
        down.len()
    );
    let releases: Vec<String> = ring
        .members
        .iter()
        .map(|member| format!("{}:{STORAGE_PORT}", member.address))
        .collect();
    let _ = write!(
        out,
        "\t{CASSANDRA_RELEASE}: [{}]\n\nKeyspaces:\n",
        releases.join(", ")
    );
    for (keyspace, replication) in [
        ("system_auth", "SimpleStrategy {replication_factor=1}"),
        (
            "system_distributed",
            "SimpleStrategy {replication_factor=3}",
        ),
        ("system_traces", "SimpleStrategy {replication_factor=2}"),
        ("system_schema", "LocalStrategy {}"),
        ("system", "LocalStrategy {}"),
    ] {
        let _ = writeln!(out, "\t{keyspace} -> Replication class: {replication}");
    }
    out
}

/// The schema version of a workload's cluster: a stable name-based (version 3) UUID, as
/// Cassandra derives schema versions from a digest of the schema.
fn schema_version(ring: &Ring) -> String {
    let mut uuid = stable_uuid(&format!("{}/{}/schema", ring.namespace, ring.workload));
    uuid.replace_range(14..15, "3");
    uuid
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
    use super::super::{Context, Logs, MemberState, Software, run};

    /// A Cassandra pod's context over members in these states.
    fn cassandra(states: &[(MemberState, bool)]) -> Context {
        let mut context = kafka(states);
        context.software = Software::Cassandra;
        context.ring.workload = "cassandra".to_owned();
        for member in &mut context.ring.members {
            member.pod = member.pod.replace("kafka", "cassandra");
        }
        context
    }

    #[test]
    fn nodetool_status_lays_out_columns_like_cassandra_4() {
        let context = cassandra(&[
            UP,
            (MemberState::Missing, false),
            (MemberState::Starting, false),
        ]);
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

    #[test]
    fn describecluster_lists_one_schema_version_for_every_node_of_a_healthy_ring() {
        let output = run(
            &command("nodetool describecluster"),
            &cassandra(&[UP, UP, UP]),
            &mut Logs::default(),
        );
        assert_eq!(output.exit_code, 0, "{output:?}");
        let lines: Vec<&str> = output.stdout.lines().collect();
        assert_eq!(lines[0], "Cluster Information:");
        assert_eq!(lines[1], "\tName: Test Cluster");
        assert_eq!(
            lines[2],
            "\tSnitch: org.apache.cassandra.locator.GossipingPropertyFileSnitch"
        );
        assert_eq!(lines[3], "\tDynamicEndPointSnitch: enabled");
        assert_eq!(
            lines[4],
            "\tPartitioner: org.apache.cassandra.dht.Murmur3Partitioner"
        );
        assert_eq!(lines[5], "\tSchema versions:");
        let (version, hosts) = lines[6]
            .trim()
            .split_once(": ")
            .unwrap_or_else(|| panic!("{}", lines[6]));
        // A version-3 (name-based) UUID, as Cassandra's schema digests are.
        assert_eq!(version.len(), 36, "{version}");
        assert_eq!(&version[14..15], "3", "{version}");
        assert_eq!(hosts, "[10.244.0.1, 10.244.0.2, 10.244.0.3]");
        assert!(!output.stdout.contains("UNREACHABLE"), "{}", output.stdout);
        assert!(
            output
                .stdout
                .contains("\tLive: 3\n\tJoining: 0\n\tMoving: 0\n\tLeaving: 0\n\tUnreachable: 0\n"),
            "{}",
            output.stdout
        );
        assert!(
            output.stdout.contains("\tdc1 #Nodes: 3 #Down: 0\n"),
            "{}",
            output.stdout
        );
        assert!(
            output
                .stdout
                .contains("\t4.1.5: [10.244.0.1:7000, 10.244.0.2:7000, 10.244.0.3:7000]\n"),
            "{}",
            output.stdout
        );
        // The same ring gives the same version every time.
        let again = run(
            &command("nodetool describecluster"),
            &cassandra(&[UP, UP, UP]),
            &mut Logs::default(),
        );
        assert_eq!(again.stdout, output.stdout);
    }

    #[test]
    fn describecluster_lists_members_that_are_down_as_unreachable() {
        let output = run(
            &command("nodetool -pp describecluster"),
            &cassandra(&[
                UP,
                (MemberState::Missing, false),
                (MemberState::Starting, false),
                (MemberState::Terminating, false),
            ]),
            &mut Logs::default(),
        );
        assert_eq!(output.exit_code, 0, "{output:?}");
        let text = &output.stdout;
        let versions: Vec<&str> = text
            .lines()
            .skip_while(|l| *l != "\tSchema versions:")
            .skip(1)
            .take_while(|l| l.is_empty() || l.starts_with("\t\t"))
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(versions.len(), 2, "{text}");
        // The joining node answers; the missing and terminating ones do not.
        assert!(
            versions[0].ends_with(": [10.244.0.1:7000, 10.244.0.3:7000]"),
            "{text}"
        );
        assert_eq!(
            versions[1],
            "\t\tUNREACHABLE: [10.244.0.2:7000, 10.244.0.4:7000]"
        );
        assert!(text.contains("\tLive: 2\n\tJoining: 1\n"), "{text}");
        assert!(text.contains("\tUnreachable: 2\n"), "{text}");
        assert!(text.contains("\tdc1 #Nodes: 4 #Down: 2\n"), "{text}");
    }

    #[test]
    fn other_nodetool_commands_say_what_is_simulated() {
        let output = run(
            &command("nodetool ring"),
            &cassandra(&[UP]),
            &mut Logs::default(),
        );
        assert_eq!(output.exit_code, 1);
        assert!(
            output.stderr.contains("`nodetool describecluster`"),
            "{output:?}"
        );
    }
}
