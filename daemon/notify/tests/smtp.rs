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
use firedrill_tests::tls::certificates;
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

/// Parses a stored message with Python's email package: headers, the two bodies, the
/// inline images and the attachments, decoded (binary parts as base64), each with the
/// multipart types it sits in.
fn parse_message(path: &Path) -> Value {
    let script = r#"
import base64, email, json, sys
from email import policy
msg = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=policy.default)
parts = []
def walk(part, parents):
    if part.is_multipart():
        for inner in part.iter_parts():
            walk(inner, parents + [part.get_content_type()])
        return
    content = part.get_content()
    parts.append({
        'content_type': part.get_content_type(),
        'filename': part.get_filename(),
        'disposition': part.get_content_disposition(),
        'content_id': part['Content-ID'],
        'parents': parents,
        'text': content if isinstance(content, str) else None,
        'base64': base64.b64encode(content).decode() if isinstance(content, bytes) else None,
    })
walk(msg, [])
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

/// Width and height from a PNG's IHDR chunk, after checking the PNG signature.
fn png_dimensions(png: &[u8]) -> (u32, u32) {
    assert!(png.len() > 24, "{} bytes is no PNG", png.len());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&png[12..16], b"IHDR", "IHDR first");
    let word = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
    (word(16), word(20))
}

#[tokio::test]
async fn the_email_carries_every_chart_as_an_inline_png_its_html_shows_by_cid() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = SmtpServer::start(port, &dir.path().join("maildir"));
    let config = email_config(port);
    let run = firedrill_core::report::fixtures::charted_run();
    let report = Report::from_run(&run, None, &[]);
    let rendered = Renderer::new().unwrap().render_all(&report).unwrap();
    let email = OutgoingEmail::compose(&run.id, &rendered, &config, &[]);
    let store = SqliteStore::open(&dir.path().join(DATABASE_FILE)).unwrap();
    assert!(enqueue(&store, &email, Utc::now()).unwrap());
    let mailer = SmtpMailer::new("127.0.0.1", port, SmtpTls::None, None).unwrap();
    let pass = deliver_due(&store, &mailer, &Backoff::default(), Utc::now())
        .await
        .unwrap();
    assert_eq!(pass.delivered, vec![run.id.clone()], "{pass:?}");
    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    let message = parse_message(&messages[0]);

    // The timeline, six services and the database phase's canaries.
    let charts: Vec<_> = report.charts.all().collect();
    assert_eq!(charts.len(), 8);
    let html = part(&message, "text/html", None);
    assert_eq!(html["parents"], html_parents());
    let html = html["text"].as_str().unwrap();
    let images: Vec<&Value> = message["parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["content_type"] == "image/png")
        .collect();
    assert_eq!(images.len(), charts.len(), "{message:#}");
    for chart in &charts {
        let image = images
            .iter()
            .find(|p| p["content_id"] == format!("<{}>", chart.cid))
            .unwrap_or_else(|| panic!("no image for {}", chart.id));
        assert_eq!(image["disposition"], "inline");
        assert_eq!(image["filename"], format!("{}.png", chart.id));
        assert_eq!(image["parents"], html_parents());
        let png = base64::engine::general_purpose::STANDARD
            .decode(image["base64"].as_str().unwrap())
            .unwrap();
        // Rasterised at twice the chart's CSS size.
        assert_eq!(
            png_dimensions(&png),
            (chart.width * 2, chart.height * 2),
            "{}",
            chart.id
        );
        // The body shows it by its cid, at its CSS size, with its words beside it (the
        // PNG has no text).
        assert!(
            html.contains(&format!(
                r#"<img src="cid:{}" width="{}" height="{}""#,
                chart.cid, chart.width, chart.height
            )),
            "{} not shown: {html}",
            chart.id
        );
        assert!(html.contains(&chart.title), "{}", chart.title);
    }
    assert!(
        html.contains("2. zone-failure: failed, ran from +6m 20s"),
        "{html}"
    );
    assert!(html.contains("Lowest availability 60.00% at "), "{html}");
    assert!(!html.contains("<svg"), "no SVG in the email body");
    // The HTML report is still attached, with its charts as SVG.
    let report_html = part(&message, "text/html", Some("report.html"))["text"]
        .as_str()
        .unwrap();
    assert_eq!(report_html.matches("<svg").count(), charts.len());
    assert!(report_html.contains(r#"id="timeline""#));
}

/// Where the HTML body and its images sit: mixed (body and attachments), alternative
/// (text or HTML), related (the HTML and what it shows).
fn html_parents() -> Value {
    serde_json::json!([
        "multipart/mixed",
        "multipart/alternative",
        "multipart/related"
    ])
}
