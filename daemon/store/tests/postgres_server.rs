//! A real PostgreSQL server for the store's tests, on 127.0.0.1 only, each test in a database of its own.
//!
//! The server comes from Debian's `postgresql` package (`/usr/lib/postgresql/<version>/bin`):
//! `initdb` in a temporary directory, `pg_ctl start` on a free loopback port with its Unix
//! socket in that directory, waits that are bounded and panic with the server's log.
//! PostgreSQL refuses to run as root: when the tests do (CI), every PostgreSQL program runs
//! as the package's `postgres` user (`runuser -u postgres --`) and the directory is chowned
//! to it.
//!
//! [`PostgresServer::shared`] starts one server per test process (nextest runs each test in
//! its own). A static is never dropped, so a watchdog process stops the server
//! (`pg_ctl stop -m immediate`) and removes its directory once the test process is gone,
//! however it ended; a server that is dropped is stopped at once.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A role that logs in with a password (SCRAM) rather than trust.
pub const PASSWORD_USER: &str = "firedrill_password_user";
pub const PASSWORD: &str = "correct horse battery staple";

/// A PostgreSQL server on 127.0.0.1, stopped when dropped or when the process ends.
#[derive(Debug)]
pub struct PostgresServer {
    pub port: u16,
    bin_dir: PathBuf,
    /// The data directory, the socket directory and the log.
    root: PathBuf,
    /// Run PostgreSQL programs as the `postgres` user (the tests run as root).
    as_postgres: bool,
    watchdog: Child,
    databases: AtomicU32,
}

impl PostgresServer {
    /// This process's server, started on first use.
    pub fn shared() -> &'static PostgresServer {
        static SERVER: OnceLock<PostgresServer> = OnceLock::new();
        SERVER.get_or_init(PostgresServer::start)
    }

    /// Initialises and starts a server and waits until it accepts connections.
    pub fn start() -> PostgresServer {
        let bin_dir = postgres_bin_dir();
        let as_postgres = running_as_root();
        let root = tempfile::Builder::new()
            .prefix("firedrill-store-pg-")
            .tempdir()
            .expect("create a directory for PostgreSQL")
            .keep();
        let data = root.join("data");
        std::fs::create_dir(root.join("sockets")).expect("create the socket directory");
        if as_postgres {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755))
                .expect("make the PostgreSQL directory traversable");
            run_checked(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&root),
                "chown the PostgreSQL directory",
            );
        }
        let mut command = pg_command(&bin_dir, as_postgres, &root, "initdb");
        command.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "-N",
        ]);
        run_checked(&mut command, "initdb");
        // Written into files the postgres user owns: their owner stays.
        std::fs::write(
            data.join("pg_hba.conf"),
            format!(
                "local all all trust\n\
                 host all {PASSWORD_USER} 127.0.0.1/32 scram-sha-256\n\
                 host all all 127.0.0.1/32 trust\n"
            ),
        )
        .expect("write pg_hba.conf");
        let watchdog = spawn_watchdog(&root, stop_command(&bin_dir, as_postgres, &root));
        let mut server = PostgresServer {
            port: 0,
            bin_dir,
            root,
            as_postgres,
            watchdog,
            databases: AtomicU32::new(0),
        };
        // A free port can be taken by someone else before the server binds it: try again.
        let mut attempts = 0;
        loop {
            attempts += 1;
            server.port = free_port();
            match server.pg_ctl_start() {
                Ok(()) => break,
                Err(problem) if attempts < 3 => eprintln!("{problem}; trying another port"),
                Err(problem) => panic!("{problem}"),
            }
        }
        server.wait_accepting();
        server
            .admin("postgres")
            .batch_execute(&format!(
                "CREATE ROLE {PASSWORD_USER} LOGIN PASSWORD '{PASSWORD}'"
            ))
            .expect("create the password role");
        server
    }

    /// `postgres://postgres@127.0.0.1:<port>/<database>?sslmode=disable` (trust).
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}?sslmode=disable&connect_timeout=10",
            self.port
        )
    }

    /// A new, empty database of its own for a test; its name.
    pub fn create_database(&self) -> String {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("store_test_{n}");
        self.admin("postgres")
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|err| panic!("CREATE DATABASE {name}: {err:?}"));
        name
    }

    /// A connection to `database` as the superuser.
    pub fn admin(&self, database: &str) -> postgres::Client {
        postgres::Client::connect(&self.url(database), postgres::NoTls)
            .unwrap_or_else(|err| panic!("connect to {database}: {err:?}\n{}", self.log()))
    }

    /// The tail of the server's log, for panic messages.
    pub fn log(&self) -> String {
        let text = std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    fn pg_ctl_start(&self) -> Result<(), String> {
        let output = pg_command(&self.bin_dir, self.as_postgres, &self.root, "pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.root.join("server.log"))
            .arg("-o")
            .arg(format!(
                "-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={sockets} \
                 -c fsync=off -c max_connections=100 -c shared_buffers=16MB",
                port = self.port,
                sockets = self.root.join("sockets").display(),
            ))
            .args(["-w", "-t", "30", "start"])
            .stdin(Stdio::null())
            .output()
            .expect("run pg_ctl start");
        if output.status.success() {
            return Ok(());
        }
        Err(format!(
            "pg_ctl start on port {} failed: {}{}\nlog:\n{}",
            self.port,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            self.log(),
        ))
    }

    /// `pg_ctl start -w` waited for the server to be ready; a connection proves it.
    fn wait_accepting(&self) {
        let start = Instant::now();
        while let Err(err) = postgres::Client::connect(&self.url("postgres"), postgres::NoTls) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "PostgreSQL on port {} did not accept connections within 30s: {err:?}\nlog:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let _ = self.watchdog.kill();
        let _ = self.watchdog.wait();
        let _ = stop_command(&self.bin_dir, self.as_postgres, &self.root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // Still running (pg_ctl failed or timed out): kill the postmaster.
        if let Ok(pid) = std::fs::read_to_string(self.data().join("postmaster.pid"))
            && let Some(pid) = pid.lines().next()
        {
            let _ = Command::new("kill").args(["-9", pid]).status();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// `pg_ctl stop -m immediate` of the server in `root`.
fn stop_command(bin_dir: &Path, as_postgres: bool, root: &Path) -> Command {
    let mut command = pg_command(bin_dir, as_postgres, root, "pg_ctl");
    command
        .arg("-D")
        .arg(root.join("data"))
        .args(["-m", "immediate", "-w", "-t", "10", "stop"]);
    command
}

/// A process that waits for this one to end, then runs `stop` and removes `root`: the
/// shared server is a static, never dropped.
fn spawn_watchdog(root: &Path, stop: Command) -> Child {
    Command::new("sh")
        .arg("-c")
        .arg(
            r#"parent=$1; root=$2; shift 2
            while kill -0 "$parent" 2>/dev/null; do sleep 0.2; done
            "$@"
            rm -rf "$root""#,
        )
        .arg("watchdog")
        .arg(std::process::id().to_string())
        .arg(root)
        .arg(stop.get_program())
        .args(stop.get_args())
        // Nothing of this process's: a test runner waiting for its output to close must
        // not wait for the watchdog.
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .current_dir("/")
        .spawn()
        .expect("start the PostgreSQL watchdog")
}

/// A PostgreSQL program, run as the `postgres` user when the tests run as root, from a
/// directory that user can read.
fn pg_command(bin_dir: &Path, as_postgres: bool, root: &Path, program: &str) -> Command {
    let bin = bin_dir.join(program);
    let mut command = if as_postgres {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(bin);
        command
    } else {
        Command::new(bin)
    };
    command.current_dir(root);
    command
}

fn run_checked(command: &mut Command, what: &str) {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|err| panic!("{what}: cannot run {command:?}: {err}"));
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

/// `/usr/lib/postgresql/<highest version>/bin` (Debian's layout).
fn postgres_bin_dir() -> PathBuf {
    let base = Path::new("/usr/lib/postgresql");
    std::fs::read_dir(base)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").exists().then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version)
        .map(|(_, bin)| bin)
        .unwrap_or_else(|| {
            panic!(
                "no PostgreSQL server under {}: install the `postgresql` package",
                base.display()
            )
        })
}
