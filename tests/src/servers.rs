//! Real database servers for the adapters' tests: a PostgreSQL primary with a streaming
//! replica, one PostgreSQL server holding firedrill's own store (`storage.postgres`, with a
//! password), and Redis with a replica and three Sentinels.
//!
//! Everything runs from the Debian packages (`postgresql`, `redis-server`,
//! `redis-sentinel`, `redis-tools`; `.ci/setup` installs them), listens on 127.0.0.1
//! only, on free ports, keeps its files in the directory it is given, and is stopped when
//! its guard is dropped. Every wait is bounded and panics with what it was waiting for.
//!
//! PostgreSQL refuses to run as root. When the tests run as root (CI does), every
//! PostgreSQL program is run as the `postgres` user the Debian package creates
//! (`runuser -u postgres --`), its directories are chowned to that user and the directory
//! given is made traversable (mode 0755).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::{Guard, free_port, wait_for};

/// How the primary waits for its replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replication {
    /// `synchronous_standby_names = '*'`: a commit returns once the replica has it.
    Sync,
    /// The primary acknowledges commits without waiting for the replica.
    Async,
}

/// A PostgreSQL primary and a streaming replica on loopback, stopped (`-m immediate`) on drop.
#[derive(Debug)]
pub struct PostgresPair {
    /// `/usr/lib/postgresql/<highest version>/bin`.
    pub bin_dir: PathBuf,
    pub primary_port: u16,
    pub replica_port: u16,
    pub primary_data: PathBuf,
    pub replica_data: PathBuf,
    /// Unix socket directory of both servers.
    pub socket_dir: PathBuf,
    pub replication: Replication,
    /// Run PostgreSQL programs as the `postgres` user (the tests run as root).
    as_postgres: bool,
    /// The directory of the data directories and logs.
    root: PathBuf,
}

impl PostgresPair {
    /// Initialises and starts a primary, takes a base backup for a replica, starts it
    /// and waits until the primary shows it streaming (and synchronous for
    /// [`Replication::Sync`]). Panics with the servers' logs when a step fails.
    pub fn start(dir: &Path, replication: Replication) -> Self {
        let bin_dir = postgres_bin_dir();
        let as_postgres = running_as_root();
        let root = dir.join("postgres");
        std::fs::create_dir_all(&root).expect("create the postgres directory");
        let mut pair = Self {
            bin_dir,
            primary_port: free_port(),
            replica_port: free_port(),
            primary_data: root.join("primary"),
            replica_data: root.join("replica"),
            socket_dir: root.join("sockets"),
            replication,
            as_postgres,
            root,
        };
        while pair.replica_port == pair.primary_port {
            pair.replica_port = free_port();
        }
        std::fs::create_dir_all(&pair.socket_dir).expect("create the socket directory");
        if as_postgres {
            use std::os::unix::fs::PermissionsExt;
            // The postgres user must be able to reach its directories through `dir`.
            for traversed in [dir, pair.root.as_path()] {
                std::fs::set_permissions(traversed, std::fs::Permissions::from_mode(0o755))
                    .unwrap_or_else(|e| panic!("chmod 0755 {}: {e}", traversed.display()));
            }
            run_checked(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&pair.root),
                "chown the postgres directory",
            );
            let reachable = Command::new("runuser")
                .args(["-u", "postgres", "--", "test", "-w"])
                .arg(&pair.root)
                .status()
                .is_ok_and(|s| s.success());
            assert!(
                reachable,
                "the postgres user cannot write {}: every parent directory must be traversable",
                pair.root.display()
            );
        }
        pair.init_primary();
        pair.pg_ctl_start(&pair.primary_data.clone(), "primary");
        pair.base_backup_replica();
        pair.pg_ctl_start(&pair.replica_data.clone(), "replica");
        pair.wait_streaming();
        pair
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres` (trust authentication).
    pub fn url(port: u16) -> String {
        format!("postgres://postgres@127.0.0.1:{port}/postgres")
    }

    pub fn primary_url(&self) -> String {
        Self::url(self.primary_port)
    }

    pub fn replica_url(&self) -> String {
        Self::url(self.replica_port)
    }

    /// Runs `sql` with `psql` on `127.0.0.1:<port>` (unaligned, tuples only: one row a
    /// line, columns separated by `|`). `Err` holds psql's error output.
    pub fn psql(&self, port: u16, sql: &str) -> Result<String, String> {
        psql_at(&self.bin_dir, port, "postgres", sql)
    }

    /// [`psql`](Self::psql), panicking on failure.
    pub fn psql_ok(&self, port: u16, sql: &str) -> String {
        self.psql(port, sql)
            .unwrap_or_else(|e| panic!("psql on port {port}: {sql}: {e}"))
    }

    /// Stops the primary at once (`pg_ctl stop -m immediate`), as a crash would.
    pub fn stop_primary_immediate(&self) {
        self.pg_ctl_stop(&self.primary_data, "immediate");
    }

    /// Stops the replica at once.
    pub fn stop_replica_immediate(&self) {
        self.pg_ctl_stop(&self.replica_data, "immediate");
    }

    /// Starts the primary again after a stop (it recovers and accepts connections).
    pub fn start_primary(&self) {
        self.pg_ctl_start(&self.primary_data, "primary");
    }

    /// Promotes the replica (`SELECT pg_promote()`, which waits up to 60 s) and waits
    /// until it accepts writes.
    pub fn promote_replica(&self) {
        let promoted = self.psql_ok(self.replica_port, "SELECT pg_promote(true, 30)");
        assert_eq!(promoted, "t", "pg_promote on the replica");
        wait_for(
            Duration::from_secs(30),
            "the promoted replica to leave recovery",
            || {
                self.psql(self.replica_port, "SELECT pg_is_in_recovery()")
                    .is_ok_and(|out| out == "f")
            },
        );
    }

    /// Stops the replica's WAL receiver while both servers keep running: on the replica
    /// `primary_conninfo` is emptied and the configuration reloaded. With
    /// [`Replication::Async`] the primary then keeps acknowledging writes the replica will
    /// never see (the data-loss case of an asynchronous failover); with
    /// [`Replication::Sync`] commits on the primary block. Waits until the primary no
    /// longer lists the replica in `pg_stat_replication`.
    pub fn break_replication(&self) {
        self.psql_ok(self.replica_port, "ALTER SYSTEM SET primary_conninfo = ''");
        self.psql_ok(self.replica_port, "SELECT pg_reload_conf()");
        wait_for(
            Duration::from_secs(30),
            "the replica's WAL receiver to stop",
            || {
                self.psql(
                    self.primary_port,
                    "SELECT count(*) FROM pg_stat_replication",
                )
                .is_ok_and(|out| out == "0")
            },
        );
    }

    /// `pg_stat_replication` rows on the primary as `state|sync_state` lines.
    pub fn replication_status(&self) -> String {
        self.psql(
            self.primary_port,
            "SELECT state || '|' || sync_state FROM pg_stat_replication",
        )
        .unwrap_or_else(|e| format!("<{e}>"))
    }

    /// The sandbox `postgresql` statefulset (namespace `data`, two replicas) whose pods
    /// run exec commands on this machine (`exec: local`), against this primary: an item of
    /// a sandbox platform's `statefulsets:` list.
    pub fn local_exec_statefulset(&self) -> String {
        format!(
            r#"  - name: postgresql
    namespace: data
    replicas: 2
    port: 5432
    startDelay: 0s
    exec: local
    env:
      PATH: "{bin}:/usr/sbin:/usr/bin:/sbin:/bin"
      PGHOST: 127.0.0.1
      PGPORT: "{port}"
      PGUSER: postgres
"#,
            bin = self.bin_dir.display(),
            port = self.primary_port,
        )
    }

    /// A sandbox whose `postgresql` pods (namespace `data`) run exec commands on this
    /// machine against this pair, both Ready.
    pub fn sandbox(&self, dir: &Path) -> crate::SandboxProcess {
        let platform = format!(
            "namespace: data\nzones: [zone-a]\nnodesPerZone: 1\nstatefulsets:\n{}",
            self.local_exec_statefulset()
        );
        let sandbox = crate::SandboxProcess::start(dir, Some(&platform));
        sandbox.wait_ready("data", "app=postgresql", 2);
        sandbox
    }

    /// The configuration body (for `write_config`) of the drill `failover`: the
    /// postgres-failover scenario on this pair with canaries, `stop` (a JSON list) the
    /// command that stops the primary.
    pub fn failover_drill(&self, stop: &str) -> String {
        format!(
            r#"
services:
  postgresql: {{ namespace: data, selector: app=postgresql }}
connections:
  primary: {{ kind: postgres, url: "{primary}" }}
  replica: {{ kind: postgres, url: "{replica}" }}
plugins:
  grants:
    postgres-failover:
      kubernetes: [{{ verbs: [list], namespaces: [data] }}]
      exec: [data]
      connections: [primary, replica]
drills:
  failover:
    phases:
      - name: postgres-failover
        scenario: postgres-failover
        services: [postgresql]
        params:
          primary: primary
          replica: replica
          primary_pod: postgresql-0
          stop_command: {stop}
        canary: {{ connection: primary, read_from: replica }}
        objectives: {{ rto: 1m, rpo: 200ms }}
"#,
            primary = self.primary_url(),
            replica = self.replica_url(),
        )
    }

    /// The command that stops the primary (`pg_ctl stop -m immediate`) as its own user
    /// would (`pg_ctl` refuses root), as a JSON list for a scenario's `stop_command`.
    pub fn stop_primary_command_json(&self) -> String {
        let mut words: Vec<String> = Vec::new();
        if self.as_postgres {
            words.extend(["runuser", "-u", "postgres", "--"].map(String::from));
        }
        words.push(self.bin_dir.join("pg_ctl").display().to_string());
        words.extend(["stop", "-m", "immediate", "-D"].map(String::from));
        words.push(self.primary_data.display().to_string());
        serde_json::to_string(&words).unwrap()
    }

    /// A custom-format `pg_dump` of the primary's `postgres` database at `path`, its
    /// modification time set to `age` (`touch -d`, e.g. "30 minutes ago").
    pub fn dump_primary(&self, path: &Path, age: &str) {
        let status = Command::new(self.bin_dir.join("pg_dump"))
            .args(["-Fc", "-h", "127.0.0.1", "-U", "postgres", "-p"])
            .arg(self.primary_port.to_string())
            .arg("-f")
            .arg(path)
            .arg("postgres")
            .status()
            .unwrap();
        assert!(status.success(), "pg_dump");
        let status = Command::new("touch")
            .args(["-d", age])
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success(), "touch");
    }

    fn init_primary(&self) {
        let mut initdb = self.pg_command("initdb");
        initdb.arg("-D").arg(&self.primary_data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "-N",
        ]);
        run_checked(&mut initdb, "initdb the primary");
        let mut conf = format!(
            "\n# firedrill test harness\n\
             port = {port}\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{sockets}'\n\
             wal_level = replica\n\
             max_wal_senders = 5\n\
             wal_keep_size = '64MB'\n\
             hot_standby = on\n\
             fsync = off\n\
             synchronous_commit = on\n\
             shared_buffers = '16MB'\n\
             max_connections = 30\n\
             logging_collector = off\n",
            port = self.primary_port,
            sockets = self.socket_dir.display(),
        );
        if self.replication == Replication::Sync {
            conf.push_str("synchronous_standby_names = '*'\n");
        }
        append(&self.primary_data.join("postgresql.conf"), &conf);
        append(
            &self.primary_data.join("pg_hba.conf"),
            "\nhost all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n",
        );
    }

    fn base_backup_replica(&self) {
        let mut backup = self.pg_command("pg_basebackup");
        backup
            .args(["-h", "127.0.0.1", "-U", "postgres", "-p"])
            .arg(self.primary_port.to_string())
            .arg("-D")
            .arg(&self.replica_data)
            .args(["-R", "-X", "stream", "--checkpoint=fast", "--no-sync"]);
        run_checked(&mut backup, "pg_basebackup the replica");
        // Later lines win. A promoted replica must not wait for a standby of its own.
        append(
            &self.replica_data.join("postgresql.conf"),
            &format!(
                "\nport = {}\nsynchronous_standby_names = ''\n",
                self.replica_port
            ),
        );
    }

    fn wait_streaming(&self) {
        let want = match self.replication {
            Replication::Sync => "streaming|sync",
            Replication::Async => "streaming|async",
        };
        let start = Instant::now();
        loop {
            let status = self.replication_status();
            if status.lines().any(|line| line == want) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "timed out after 30s waiting for the replica to stream ({want}); \
                 pg_stat_replication: {status:?}\nprimary log:\n{}\nreplica log:\n{}",
                self.log("primary"),
                self.log("replica"),
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_path(&self, name: &str) -> PathBuf {
        self.root.join(format!("{name}.log"))
    }

    /// The tail of a server's log, for panic messages.
    fn log(&self, name: &str) -> String {
        let text = std::fs::read_to_string(self.log_path(name)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn pg_ctl_start(&self, data: &Path, name: &str) {
        let output = self
            .pg_command("pg_ctl")
            .arg("-D")
            .arg(data)
            .arg("-l")
            .arg(self.log_path(name))
            .args(["-w", "-t", "30", "start"])
            .stdin(Stdio::null())
            .output()
            .expect("run pg_ctl start");
        assert!(
            output.status.success(),
            "pg_ctl start {name} failed: {}{}\nlog:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            self.log(name),
        );
    }

    fn pg_ctl_stop(&self, data: &Path, mode: &str) {
        let _ = self
            .pg_command("pg_ctl")
            .arg("-D")
            .arg(data)
            .args(["-m", mode, "-w", "-t", "30", "stop"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// A PostgreSQL program, run as the `postgres` user when the tests run as root.
    fn pg_command(&self, program: &str) -> Command {
        let bin = self.bin_dir.join(program);
        let mut cmd = if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(bin);
            cmd
        } else {
            Command::new(bin)
        };
        // The working directory must be readable by the user running the program.
        cmd.current_dir(&self.root);
        cmd
    }
}

impl Drop for PostgresPair {
    fn drop(&mut self) {
        self.pg_ctl_stop(&self.replica_data, "immediate");
        self.pg_ctl_stop(&self.primary_data, "immediate");
    }
}

/// `/usr/lib/postgresql/<highest version>/bin` (Debian's layout).
pub fn postgres_bin_dir() -> PathBuf {
    let base = Path::new("/usr/lib/postgresql");
    let highest = std::fs::read_dir(base)
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            entry
                .path()
                .join("bin/postgres")
                .exists()
                .then_some((version, entry.path()))
        })
        .max_by_key(|(version, _)| *version);
    match highest {
        Some((_, dir)) => dir.join("bin"),
        None => panic!(
            "no PostgreSQL server under {}: install the `postgresql` package (`.ci/setup`)",
            base.display()
        ),
    }
}

/// The role firedrill's store logs in as on a [`PostgresStoreServer`] (with a password).
pub const STORE_USER: &str = "firedrill";
/// The database of firedrill's store on a [`PostgresStoreServer`].
pub const STORE_DATABASE: &str = "firedrill";
/// [`STORE_USER`]'s password: the configuration reads it from the environment.
pub const STORE_PASSWORD: &str = "store-password-9c1e";

/// One PostgreSQL server holding firedrill's own store (`storage.postgres`): the role
/// [`STORE_USER`] logs in with [`STORE_PASSWORD`] (SCRAM) and owns [`STORE_DATABASE`];
/// `postgres` is trusted on loopback, for the test's own `psql` reads. It can be stopped
/// and started again mid-test; it is stopped (`-m immediate`) on drop, and by a watchdog
/// when the test process ends without dropping it (a timeout's kill).
#[derive(Debug)]
pub struct PostgresStoreServer {
    /// `/usr/lib/postgresql/<highest version>/bin`.
    pub bin_dir: PathBuf,
    pub port: u16,
    data: PathBuf,
    /// The data directory, the socket directory and the log.
    root: PathBuf,
    /// Run PostgreSQL programs as the `postgres` user (the tests run as root).
    as_postgres: bool,
    watchdog: std::process::Child,
}

impl PostgresStoreServer {
    /// Initialises and starts the server in `dir/postgres-store`, creates the role and its
    /// database, and waits until it accepts connections.
    pub fn start(dir: &Path) -> Self {
        let bin_dir = postgres_bin_dir();
        let as_postgres = running_as_root();
        let root = dir.join("postgres-store");
        std::fs::create_dir_all(root.join("sockets")).expect("create the postgres directory");
        if as_postgres {
            use std::os::unix::fs::PermissionsExt;
            for traversed in [dir, root.as_path()] {
                std::fs::set_permissions(traversed, std::fs::Permissions::from_mode(0o755))
                    .unwrap_or_else(|e| panic!("chmod 0755 {}: {e}", traversed.display()));
            }
            run_checked(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&root),
                "chown the postgres directory",
            );
        }
        let data = root.join("data");
        let mut initdb = pg_program(&bin_dir, as_postgres, &root, "initdb");
        initdb.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "-N",
        ]);
        run_checked(&mut initdb, "initdb the store's server");
        let port = free_port();
        append(
            &data.join("postgresql.conf"),
            &format!(
                "\n# firedrill test harness\n\
                 port = {port}\n\
                 listen_addresses = '127.0.0.1'\n\
                 unix_socket_directories = '{sockets}'\n\
                 fsync = off\n\
                 shared_buffers = '16MB'\n\
                 max_connections = 50\n\
                 logging_collector = off\n",
                sockets = root.join("sockets").display(),
            ),
        );
        // Written into a file the postgres user owns: its owner stays.
        std::fs::write(
            data.join("pg_hba.conf"),
            format!(
                "local all all trust\n\
                 host all {STORE_USER} 127.0.0.1/32 scram-sha-256\n\
                 host all all 127.0.0.1/32 trust\n"
            ),
        )
        .expect("write pg_hba.conf");
        let watchdog = spawn_watchdog(&pg_ctl_stop(&bin_dir, as_postgres, &root, &data));
        let server = Self {
            bin_dir,
            port,
            data,
            root,
            as_postgres,
            watchdog,
        };
        server.start_again();
        // One statement a call: `psql -c` runs several in one transaction, and CREATE
        // DATABASE refuses to run in one.
        for sql in [
            format!("CREATE ROLE {STORE_USER} LOGIN PASSWORD '{STORE_PASSWORD}'"),
            format!("CREATE DATABASE {STORE_DATABASE} OWNER {STORE_USER}"),
        ] {
            server
                .psql_in("postgres", &sql)
                .unwrap_or_else(|e| panic!("create the store's role and database: {e}"));
        }
        server
    }

    /// The store's URL as a configuration gives it: no password in it.
    pub fn url(&self) -> String {
        format!(
            "postgres://{STORE_USER}@127.0.0.1:{}/{STORE_DATABASE}",
            self.port
        )
    }

    /// `host:port/database`, as firedrill's errors name the store.
    pub fn server_name(&self) -> String {
        format!("127.0.0.1:{}/{STORE_DATABASE}", self.port)
    }

    /// Runs `sql` in the store's database as `postgres` (unaligned, tuples only: one row a
    /// line, columns separated by `|`). `Err` holds psql's error output.
    pub fn psql(&self, sql: &str) -> Result<String, String> {
        self.psql_in(STORE_DATABASE, sql)
    }

    /// [`psql`](Self::psql), panicking on failure.
    pub fn psql_ok(&self, sql: &str) -> String {
        self.psql(sql)
            .unwrap_or_else(|e| panic!("psql: {sql}: {e}\nlog:\n{}", self.log()))
    }

    fn psql_in(&self, database: &str, sql: &str) -> Result<String, String> {
        psql_at(&self.bin_dir, self.port, database, sql)
    }

    /// Stops the server as an operator restarting it would (`pg_ctl stop -m fast`: open
    /// sessions are ended, a shutdown checkpoint written); waits until it is down.
    pub fn stop(&self) {
        self.pg_ctl(&["-m", "fast", "-w", "-t", "30", "stop"]);
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub fn start_again(&self) {
        let log = self.root.join("server.log");
        self.pg_ctl(&["-l", &log.display().to_string(), "-w", "-t", "30", "start"]);
        wait_for(
            Duration::from_secs(30),
            "the store's PostgreSQL to accept connections",
            || self.psql_in("postgres", "SELECT 1").is_ok(),
        );
    }

    /// `pg_ctl -D <data> ARGS`, as the server's owner; panics with the log if it fails.
    fn pg_ctl(&self, args: &[&str]) {
        let output = pg_program(&self.bin_dir, self.as_postgres, &self.root, "pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run pg_ctl {args:?}: {e}"));
        assert!(
            output.status.success(),
            "pg_ctl {args:?} failed: {}{}\nlog:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            self.log()
        );
    }

    /// The tail of the server's log, for panic messages.
    pub fn log(&self) -> String {
        let text = std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for PostgresStoreServer {
    fn drop(&mut self) {
        let _ = self.watchdog.kill();
        let _ = self.watchdog.wait();
        let _ = pg_ctl_stop(&self.bin_dir, self.as_postgres, &self.root, &self.data)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A PostgreSQL program, run as the `postgres` user when the tests run as root, from a
/// directory that user can read.
fn pg_program(bin_dir: &Path, as_postgres: bool, root: &Path, program: &str) -> Command {
    let bin = bin_dir.join(program);
    let mut cmd = if as_postgres {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(bin);
        cmd
    } else {
        Command::new(bin)
    };
    cmd.current_dir(root);
    cmd
}

/// `pg_ctl stop -m immediate` of the server in `data`.
fn pg_ctl_stop(bin_dir: &Path, as_postgres: bool, root: &Path, data: &Path) -> Command {
    let mut cmd = pg_program(bin_dir, as_postgres, root, "pg_ctl");
    cmd.arg("-D")
        .arg(data)
        .args(["-m", "immediate", "-w", "-t", "10", "stop"]);
    cmd
}

/// A process that waits for this one to end, then runs `stop`: a server `pg_ctl`
/// daemonised is no child of the test, so a test killed before its guards drop would
/// leave it running.
fn spawn_watchdog(stop: &Command) -> std::process::Child {
    Command::new("sh")
        .arg("-c")
        .arg(
            r#"parent=$1; shift
            while kill -0 "$parent" 2>/dev/null; do sleep 0.2; done
            exec "$@""#,
        )
        .arg("watchdog")
        .arg(std::process::id().to_string())
        .arg(stop.get_program())
        .args(stop.get_args())
        .current_dir(stop.get_current_dir().unwrap_or(Path::new("/")))
        // Nothing of the test's: a runner waiting for its output to close must not wait
        // for the watchdog.
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the PostgreSQL watchdog")
}

/// Redis master and replica with three Sentinels monitoring `mymaster`, killed on drop.
#[derive(Debug)]
pub struct RedisSentinel {
    /// The master's port at start (after a failover it is a replica).
    pub master_port: u16,
    /// The replica's port at start.
    pub replica_port: u16,
    pub sentinel_ports: [u16; 3],
    dir: PathBuf,
    _processes: Vec<Guard>,
}

impl RedisSentinel {
    /// The name the Sentinels monitor.
    pub const MASTER_NAME: &'static str = "mymaster";

    /// Starts the servers and Sentinels and waits until the replica is linked and every
    /// Sentinel knows the master, the replica and the two other Sentinels.
    pub fn start(dir: &Path) -> Self {
        for program in ["redis-server", "redis-sentinel", "redis-cli"] {
            assert!(
                which(program),
                "{program} is missing: install redis-server, redis-sentinel and redis-tools \
                 (`.ci/setup`)"
            );
        }
        let dir = dir.join("redis");
        std::fs::create_dir_all(&dir).expect("create the redis directory");
        let mut ports = Vec::new();
        while ports.len() < 5 {
            let port = free_port();
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
        let mut this = Self {
            master_port: ports[0],
            replica_port: ports[1],
            sentinel_ports: [ports[2], ports[3], ports[4]],
            dir,
            _processes: Vec::new(),
        };
        let server_conf = |name: &str, port: u16| {
            format!(
                "port {port}\nbind 127.0.0.1\nprotected-mode no\ndaemonize no\n\
                 dir {dir}\ndbfilename {name}.rdb\nsave \"\"\nappendonly no\n\
                 logfile {dir}/{name}.log\nreplica-announce-ip 127.0.0.1\n",
                dir = this.dir.display(),
            )
        };
        let master_conf = server_conf("master", this.master_port);
        let replica_conf = format!(
            "{}replicaof 127.0.0.1 {}\n",
            server_conf("replica", this.replica_port),
            this.master_port
        );
        this.spawn("redis-server", "master", &master_conf);
        this.spawn("redis-server", "replica", &replica_conf);
        wait_for(Duration::from_secs(20), "the redis replica to link", || {
            this.redis_cli(this.replica_port, &["INFO", "replication"])
                .is_ok_and(|out| out.contains("master_link_status:up"))
        });
        for (i, port) in this.sentinel_ports.into_iter().enumerate() {
            let conf = format!(
                "port {port}\nbind 127.0.0.1\nprotected-mode no\ndaemonize no\n\
                 dir {dir}\nlogfile {dir}/sentinel-{i}.log\n\
                 sentinel announce-ip 127.0.0.1\n\
                 sentinel monitor {name} 127.0.0.1 {master} 2\n\
                 sentinel down-after-milliseconds {name} 1000\n\
                 sentinel failover-timeout {name} 5000\n\
                 sentinel parallel-syncs {name} 1\n",
                dir = this.dir.display(),
                name = Self::MASTER_NAME,
                master = this.master_port,
            );
            this.spawn("redis-sentinel", &format!("sentinel-{i}"), &conf);
        }
        for port in this.sentinel_ports {
            wait_for(
                Duration::from_secs(30),
                &format!("sentinel {port} to know the master, the replica and 2 sentinels"),
                || this.sentinel_ready(port),
            );
        }
        this
    }

    /// `127.0.0.1:<port>` of each Sentinel, as a connection's `sentinel.nodes`.
    pub fn sentinel_nodes(&self) -> Vec<String> {
        self.sentinel_ports
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect()
    }

    /// The master's port according to the first Sentinel that answers.
    pub fn current_master_port(&self) -> Option<u16> {
        self.sentinel_ports.iter().find_map(|port| {
            let out = self
                .redis_cli(
                    *port,
                    &["SENTINEL", "get-master-addr-by-name", Self::MASTER_NAME],
                )
                .ok()?;
            out.lines().nth(1)?.trim().parse().ok()
        })
    }

    /// Asks a Sentinel to fail over now (`SENTINEL FAILOVER mymaster`).
    pub fn failover(&self) {
        let out = self
            .redis_cli(
                self.sentinel_ports[0],
                &["SENTINEL", "FAILOVER", Self::MASTER_NAME],
            )
            .unwrap_or_else(|e| panic!("SENTINEL FAILOVER: {e}"));
        assert_eq!(out.trim(), "OK", "SENTINEL FAILOVER answered {out:?}");
    }

    /// Runs `redis-cli -h 127.0.0.1 -p <port> <args>`; its output (raw, one value a line).
    /// `Err` when redis-cli fails or the reply is an error.
    pub fn redis_cli(&self, port: u16, args: &[&str]) -> Result<String, String> {
        redis_cli(port, args)
    }

    fn sentinel_ready(&self, port: u16) -> bool {
        let master = self.redis_cli(
            port,
            &["SENTINEL", "get-master-addr-by-name", Self::MASTER_NAME],
        );
        let replicas = self.redis_cli(port, &["SENTINEL", "replicas", Self::MASTER_NAME]);
        let sentinels = self.redis_cli(port, &["SENTINEL", "sentinels", Self::MASTER_NAME]);
        let count = |out: &str| out.lines().filter(|line| *line == "runid").count();
        master.is_ok_and(|out| out.contains(&self.master_port.to_string()))
            && replicas.is_ok_and(|out| out.contains(&self.replica_port.to_string()))
            && sentinels.is_ok_and(|out| count(&out) == 2)
    }

    fn spawn(&mut self, program: &str, name: &str, conf: &str) {
        let path = self.dir.join(format!("{name}.conf"));
        std::fs::write(&path, conf).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        let child = Command::new(program)
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {program} {}: {e}", path.display()));
        self._processes.push(Guard(child));
    }
}

/// Runs `redis-cli -h 127.0.0.1 -p <port> <args>`; its output (raw, one value a line).
/// `Err` when redis-cli fails or the reply is an error.
pub fn redis_cli(port: u16, args: &[&str]) -> Result<String, String> {
    // `timeout` bounds a server that accepts but never answers.
    let output = Command::new("timeout")
        .args(["10", "redis-cli", "-h", "127.0.0.1", "-p"])
        .arg(port.to_string())
        .arg("--no-raw")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("run redis-cli: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    if !output.status.success() || text.starts_with("(error)") {
        return Err(format!("{text}{}", String::from_utf8_lossy(&output.stderr)));
    }
    Ok(raw_lines(&text))
}

/// Turns redis-cli's `--no-raw` output into one plain value a line: drops the `1) `
/// numbering and the quotes around strings.
fn raw_lines(text: &str) -> String {
    text.lines()
        .map(|line| {
            let mut rest = line.trim_start();
            // Nested numbering looks like `1) 1) "name"`.
            loop {
                let digits = rest.chars().take_while(char::is_ascii_digit).count();
                if digits > 0 && rest[digits..].starts_with(") ") {
                    rest = rest[digits + 2..].trim_start();
                } else {
                    break;
                }
            }
            let rest = rest.strip_prefix("(integer) ").unwrap_or(rest);
            rest.strip_prefix('"')
                .and_then(|r| r.strip_suffix('"'))
                .unwrap_or(rest)
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// The effective user is root (`Uid:` line of `/proc/self/status`).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    file.write_all(text.as_bytes())
        .unwrap_or_else(|e| panic!("append to {}: {e}", path.display()));
}

fn run_checked(cmd: &mut Command, what: &str) -> Output {
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}): {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";

/// A real Alertmanager (Debian's `prometheus-alertmanager`) on a free loopback port, with
/// a null receiver; its URL and the guard that stops it.
pub fn start_alertmanager(dir: &Path) -> (String, Guard) {
    assert!(
        Path::new(ALERTMANAGER).exists(),
        "{ALERTMANAGER} is missing: `apt-get install prometheus-alertmanager` (.ci/setup does)"
    );
    let config = dir.join("alertmanager.yml");
    std::fs::write(
        &config,
        "route:\n  receiver: \"null\"\nreceivers:\n  - name: \"null\"\n",
    )
    .unwrap();
    crate::prometheus::start_server(
        Command::new(ALERTMANAGER)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.join("am-data").display()))
            // No cluster listener: it would bind every interface.
            .arg("--cluster.listen-address="),
        "Alertmanager",
    )
}

/// Runs `sql` with `psql` as `postgres` on `127.0.0.1:<port>`, database `database`
/// (unaligned, tuples only: one row a line, columns separated by `|`). `Err` holds psql's
/// error output.
fn psql_at(bin_dir: &Path, port: u16, database: &str, sql: &str) -> Result<String, String> {
    let output = Command::new(bin_dir.join("psql"))
        .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"])
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", database, "-p"])
        .arg(port.to_string())
        .arg("-c")
        .arg(sql)
        .env("PGCONNECT_TIMEOUT", "5")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("run psql: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}
