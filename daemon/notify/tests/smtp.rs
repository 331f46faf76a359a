//! Report emails through a real SMTP server (aiosmtpd on loopback) and a Maildir, via the outbox.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use firedrill_core::config::SmtpTls;
use firedrill_core::config::{Email, EmailTransport};
use firedrill_core::report::fixtures::failing_run;
use firedrill_core::report::{Renderer, Report};
use firedrill_notify::{Backoff, MaildirMailer, OutgoingEmail, SmtpMailer, deliver_due, enqueue};
use firedrill_store::{DATABASE_FILE, MailQueue, SqliteStore};
use serde_json::Value;

const INSTALL: &str = "aiosmtpd is not installed: run `python3 -m pip install aiosmtpd` \
    (the SMTP tests need a real server; see TOOLCHAIN.md)";

/// An aiosmtpd server on a loopback port, storing messages in a Maildir; killed on drop.
struct SmtpServer {
    child: Child,
    maildir: PathBuf,
}

impl SmtpServer {
    fn start(port: u16, maildir: &Path) -> SmtpServer {
        SmtpServer::start_with(port, maildir, &[])
    }

    fn start_with(port: u16, maildir: &Path, extra: &[&std::ffi::OsStr]) -> SmtpServer {
        let available = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|status| status.success())
            .unwrap_or(false);
        assert!(available, "{INSTALL}");
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(extra)
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut server = SmtpServer {
            child,
            maildir: maildir.to_path_buf(),
        };
        // Bounded wait until it accepts connections.
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return server;
            }
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("aiosmtpd exited early ({status}); {INSTALL}");
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen on {address} within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn messages(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.maildir.join("new")) {
            Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
            Err(_) => Vec::new(),
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on (now).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn email_config(port: u16) -> Email {
    Email {
        from: "firedrill@example.com".to_string(),
        to: vec!["sre@example.com".to_string()],
        cc: vec!["audit@example.com".to_string()],
        transport: EmailTransport::Smtp {
            host: "127.0.0.1".to_string(),
            port,
            tls: SmtpTls::None,
            username: None,
            password: None,
        },
    }
}

fn composed(config: &Email) -> OutgoingEmail {
    let run = failing_run();
    let report = Report::from_run(&run, None, &[]);
    let rendered = Renderer::new().unwrap().render_all(&report).unwrap();
    OutgoingEmail::compose(
        &run.id,
        &rendered,
        config,
        &["oncall@example.com".to_string()],
    )
}

/// Parses a stored message with Python's email package: headers, the two bodies and the
/// attachments, decoded.
fn parse_message(path: &Path) -> Value {
    let script = r#"
import email, json, sys
from email import policy
msg = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=policy.default)
parts = []
for part in msg.walk():
    if part.is_multipart():
        continue
    parts.append({
        'content_type': part.get_content_type(),
        'filename': part.get_filename(),
        'disposition': part.get_content_disposition(),
        'text': part.get_content(),
    })
print(json.dumps({
    'subject': str(msg['subject']),
    'from': str(msg['from']),
    'to': str(msg['to']),
    'cc': str(msg['cc']),
    'message_id': str(msg['message-id']),
    'envelope_rcpt': str(msg['X-RcptTo']),
    'parts': parts,
}))
"#;
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn part<'a>(message: &'a Value, content_type: &str, filename: Option<&str>) -> &'a Value {
    message["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            p["content_type"] == content_type
                && filename
                    .is_none_or(|name| p["filename"].as_str().is_some_and(|f| f.ends_with(name)))
                && (filename.is_some() || p["disposition"] != "attachment")
        })
        .unwrap_or_else(|| panic!("no {content_type} part {filename:?} in {message:#}"))
}

#[tokio::test]
async fn a_run_report_goes_through_a_real_smtp_server_with_bodies_attachments_and_recipients() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = SmtpServer::start(port, &dir.path().join("maildir"));
    let config = email_config(port);
    let email = composed(&config);
    let store = SqliteStore::open(&dir.path().join(DATABASE_FILE)).unwrap();
    assert!(enqueue(&store, &email, Utc::now()).unwrap());
    let mailer = SmtpMailer::new("127.0.0.1", port, SmtpTls::None, None).unwrap();

    let pass = deliver_due(&store, &mailer, &Backoff::default(), Utc::now())
        .await
        .unwrap();
    assert_eq!(pass.delivered, vec![email.run_id.clone()], "{pass:?}");

    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    let message = parse_message(&messages[0]);
    assert_eq!(
        message["subject"],
        "[firedrill] full-dr: FAILED (2026-11-02)"
    );
    assert_eq!(message["from"], "firedrill@example.com");
    assert_eq!(message["to"], "sre@example.com, oncall@example.com");
    assert_eq!(message["cc"], "audit@example.com");
    let envelope = message["envelope_rcpt"].as_str().unwrap();
    for rcpt in ["sre@example.com", "oncall@example.com", "audit@example.com"] {
        assert!(envelope.contains(rcpt), "{rcpt} not in envelope {envelope}");
    }
    assert_eq!(
        message["message_id"],
        format!("<{}@firedrill.invalid>", email.run_id)
    );

    let text = part(&message, "text/plain", None)["text"].as_str().unwrap();
    assert!(text.contains("full-dr: FAILED"), "{text}");
    assert!(
        text.contains("zone-failure: 7m 12s (target 5m) Fail"),
        "{text}"
    );
    let html = part(&message, "text/html", None)["text"].as_str().unwrap();
    assert!(html.contains("<table"), "{html}");
    assert!(html.contains("7m 12s"), "{html}");

    let report_md = part(&message, "text/markdown", Some("report.md"))["text"]
        .as_str()
        .unwrap();
    assert!(
        report_md.starts_with("# DR Drill Report: full-dr-"),
        "{report_md}"
    );
    assert!(report_md.contains("| zone-failure | 5m | 7m 12s | Fail |"));
    let report_html = part(&message, "text/html", Some("report.html"))["text"]
        .as_str()
        .unwrap();
    assert!(report_html.contains("Availability During Drill"));
    let agenda = part(&message, "text/markdown", Some("agenda.md"))["text"]
        .as_str()
        .unwrap();
    assert!(agenda.contains("**Issues Discussion** (20 min)"));

    let delivery = store.delivery(&email.run_id).unwrap().unwrap();
    assert_eq!(
        (delivery.status.as_str(), delivery.attempts),
        ("delivered", 1)
    );
}

#[tokio::test]
async fn a_message_queued_while_the_server_is_down_arrives_exactly_once_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(DATABASE_FILE);
    let port = free_port();
    let config = email_config(port);
    let email = composed(&config);
    let backoff = Backoff {
        initial: Duration::from_secs(30),
        max: Duration::from_secs(600),
    };
    let t0 = Utc::now();

    // The run finishes while nothing listens on the port.
    {
        let store = SqliteStore::open(&db).unwrap();
        enqueue(&store, &email, t0).unwrap();
        let mailer = SmtpMailer::new("127.0.0.1", port, SmtpTls::None, None).unwrap();
        let pass = deliver_due(&store, &mailer, &backoff, t0).await.unwrap();
        assert!(pass.delivered.is_empty());
        assert_eq!(pass.failed.len(), 1, "{pass:?}");
        let delivery = store.delivery(&email.run_id).unwrap().unwrap();
        assert_eq!(
            (delivery.status.as_str(), delivery.attempts),
            ("pending", 1)
        );
        assert!(delivery.last_error.is_some());
        // Not due again before its backoff.
        let early = deliver_due(&store, &mailer, &backoff, t0 + chrono::Duration::seconds(5))
            .await
            .unwrap();
        assert_eq!(early, Default::default());
    } // the daemon stops: store, outbox and mailer dropped

    let server = SmtpServer::start(port, &dir.path().join("maildir"));
    // The daemon restarts: everything is reopened from disk.
    let store = SqliteStore::open(&db).unwrap();
    let mailer = SmtpMailer::new("127.0.0.1", port, SmtpTls::None, None).unwrap();
    // Enqueuing the same run again (e.g. a replayed post-run hook) does not duplicate it.
    assert!(!enqueue(&store, &email, t0).unwrap());
    let later = t0 + chrono::Duration::seconds(31);
    let pass = deliver_due(&store, &mailer, &backoff, later).await.unwrap();
    assert_eq!(pass.delivered, vec![email.run_id.clone()]);
    let again = deliver_due(&store, &mailer, &backoff, later + chrono::Duration::days(1))
        .await
        .unwrap();
    assert_eq!(again, Default::default());
    drop(store);
    let reopened = SqliteStore::open(&db).unwrap();
    let after_restart = deliver_due(
        &reopened,
        &mailer,
        &backoff,
        later + chrono::Duration::days(2),
    )
    .await
    .unwrap();
    assert_eq!(after_restart, Default::default());

    let messages = server.messages();
    assert_eq!(messages.len(), 1, "exactly one message arrives");
    assert_eq!(
        parse_message(&messages[0])["subject"],
        "[firedrill] full-dr: FAILED (2026-11-02)"
    );
    let delivery = reopened.delivery(&email.run_id).unwrap().unwrap();
    assert_eq!(
        (delivery.status.as_str(), delivery.attempts),
        ("delivered", 2)
    );
}

#[tokio::test]
async fn the_maildir_mailer_writes_a_complete_message_into_new() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("mail");
    let config = Email {
        transport: EmailTransport::Maildir(maildir.clone()),
        ..email_config(25)
    };
    let email = composed(&config);
    let store = SqliteStore::open(&dir.path().join(DATABASE_FILE)).unwrap();
    enqueue(&store, &email, Utc::now()).unwrap();
    let mailer = MaildirMailer::new(&maildir);
    let pass = deliver_due(&store, &mailer, &Backoff::default(), Utc::now())
        .await
        .unwrap();
    assert_eq!(pass.delivered.len(), 1);
    let files: Vec<_> = std::fs::read_dir(maildir.join("new")).unwrap().collect();
    assert_eq!(files.len(), 1);
    let message = parse_message(&files[0].as_ref().unwrap().path());
    assert_eq!(
        message["subject"],
        "[firedrill] full-dr: FAILED (2026-11-02)"
    );
    part(&message, "text/markdown", Some("agenda.md"));
    assert!(
        std::fs::read_dir(maildir.join("tmp"))
            .unwrap()
            .next()
            .is_none()
    );
}

/// A private CA and a server certificate for 127.0.0.1 signed by it (openssl CLI).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=firedrill test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

#[tokio::test]
async fn starttls_and_implicit_tls_deliver_to_a_server_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let root = std::fs::read(&ca).unwrap();
    let config = email_config(25);
    let email = composed(&config);

    for (tls, cert_flag, key_flag) in [
        (SmtpTls::Starttls, "--tlscert", "--tlskey"),
        (SmtpTls::Tls, "--smtpscert", "--smtpskey"),
    ] {
        let port = free_port();
        let maildir = dir.path().join(format!("maildir-{port}"));
        // With --tlscert aiosmtpd refuses mail before STARTTLS, so delivery proves TLS.
        let server = SmtpServer::start_with(
            port,
            &maildir,
            &[
                cert_flag.as_ref(),
                cert.as_os_str(),
                key_flag.as_ref(),
                key.as_os_str(),
            ],
        );
        let mailer =
            SmtpMailer::with_root_certificate("127.0.0.1", port, tls, None, &root).unwrap();
        firedrill_notify::Mailer::send(&mailer, &email)
            .await
            .unwrap_or_else(|err| panic!("{tls:?}: {err:?}"));
        assert_eq!(server.messages().len(), 1, "{tls:?}");

        // The same server is refused when its certificate is not trusted.
        let untrusted = SmtpMailer::with_root_certificate(
            "127.0.0.1",
            port,
            tls,
            None,
            &std::fs::read(&cert).unwrap(),
        )
        .unwrap();
        assert!(
            firedrill_notify::Mailer::send(&untrusted, &email)
                .await
                .is_err(),
            "{tls:?}"
        );
        assert_eq!(server.messages().len(), 1, "{tls:?}");
    }
}
