//! A real drill on a sandbox draws its charts: the HTML report's timeline has every phase,
//! each probed service has its availability and latency chart, and the email carries them
//! as PNG images its HTML shows by `cid:`, read back from a real SMTP server (aiosmtpd).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use firedrill_tests::{SandboxProcess, require_plugins, run_json, write_config};
use serde_json::Value;
use tempfile::TempDir;

/// Two zones of one node; `web` and `batch`, two replicas each.
const PLATFORM: &str = r#"
namespace: shop
zones: [zone-a, zone-b]
nodesPerZone: 1
deployments:
  - name: web
    replicas: 2
    startDelay: 1s
  - name: batch
    replicas: 2
    startDelay: 1s
"#;

fn body(smtp_port: u16) -> String {
    format!(
        r#"services:
  web:
    namespace: shop
    selector: app.kubernetes.io/name=web
    probes: [{{ service_proxy: {{ service: web, port: http, path: /healthz }} }}]
  batch:
    namespace: shop
    selector: app.kubernetes.io/name=batch
    probes: [{{ service_proxy: {{ service: batch, port: http }} }}]
probing: {{ interval: 200ms, timeout: 1s }}
plugins:
  grants:
    pod-failure:
      kubernetes: [{{ verbs: [list, delete], namespaces: [shop] }}]
drills:
  two-kills:
    phases:
      - {{ name: kill-web, scenario: pod-failure, services: [web], objectives: {{ rto: 2m }} }}
      - {{ name: kill-batch, scenario: pod-failure, services: [batch], objectives: {{ rto: 2m }} }}
notifications:
  email:
    from: firedrill <firedrill@localhost>
    to: [sre@example.com]
    smtp: {{ host: 127.0.0.1, port: {smtp_port}, tls: none }}
"#
    )
}

/// A real SMTP server (aiosmtpd on loopback) storing what it receives in `maildir`;
/// stopped when the guard drops.
fn smtp_server(maildir: &Path) -> (u16, firedrill_tests::Guard) {
    let port = firedrill_tests::free_port();
    let server = firedrill_tests::spawn_quiet(
        std::process::Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir),
    );
    firedrill_tests::wait_for(
        Duration::from_secs(20),
        "aiosmtpd to listen (pip install aiosmtpd: .ci/setup does)",
        || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
    );
    (port, server)
}

/// Every `<svg>…</svg>` element of an HTML page, as text.
fn svg_elements(html: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<svg") {
        let end = rest[start..]
            .find("</svg>")
            .map(|end| start + end + "</svg>".len())
            .expect("a closed svg element");
        found.push(&rest[start..end]);
        rest = &rest[end..];
    }
    found
}

fn has_class(node: &roxmltree::Node<'_, '_>, class: &str) -> bool {
    node.attribute("class")
        .is_some_and(|classes| classes.split_whitespace().any(|c| c == class))
}

/// The x of the element of `class` drawn for `phase` (a line's `x1`, a circle's `cx`, a
/// triangle's tip).
fn mark_x(doc: &roxmltree::Document<'_>, class: &str, phase: &str) -> f64 {
    let node = doc
        .descendants()
        .find(|n| has_class(n, class) && n.attribute("data-phase") == Some(phase))
        .unwrap_or_else(|| panic!("no {class} for {phase}"));
    let text = node
        .attribute("x1")
        .or_else(|| node.attribute("cx"))
        .map(str::to_string)
        .or_else(|| {
            node.attribute("points")
                .and_then(|p| p.split_whitespace().last())
                .and_then(|tip| tip.split(',').next())
                .map(str::to_string)
        })
        .unwrap_or_else(|| panic!("no x on {node:?}"));
    text.parse().unwrap()
}

/// The mail in `maildir/new`, parsed by Python's email package: each PNG part with its
/// Content-ID and, from its bytes, whether it has the PNG signature and the IHDR size;
/// the HTML body.
fn parse_mail(path: &Path) -> Value {
    let script = r#"
import email, json, struct, sys
from email import policy
msg = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=policy.default)
images, html = [], None
for part in msg.walk():
    if part.is_multipart():
        continue
    if part.get_content_type() == 'image/png':
        data = part.get_content()
        width, height = struct.unpack('>II', data[16:24])
        images.append({
            'content_id': part['Content-ID'],
            'signature': data[:8] == b'\x89PNG\r\n\x1a\n' and data[12:16] == b'IHDR',
            'width': width,
            'height': height,
        })
    elif part.get_content_type() == 'text/html' and part.get_filename() is None:
        html = part.get_content()
print(json.dumps({'images': images, 'html': html}))
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

#[test]
fn a_sandbox_drill_charts_every_phase_and_service_in_its_report_and_mails_them_as_png() {
    require_plugins(&["pod-failure"]);
    let dir = TempDir::new().unwrap();
    let sandbox = SandboxProcess::start(dir.path(), Some(PLATFORM));
    sandbox.wait_ready("shop", "app.kubernetes.io/name=web", 2);
    sandbox.wait_ready("shop", "app.kubernetes.io/name=batch", 2);
    let maildir = dir.path().join("mail");
    let (smtp_port, _smtp) = smtp_server(&maildir);
    let config = write_config(dir.path(), &sandbox, &body(smtp_port));
    let (code, record) = run_json(&config, "two-kills");
    assert_eq!(record["outcome"]["kind"], "passed", "{record:#}");
    assert_eq!(code, 0);

    // The record keeps each service's probes over time, as many as it counted.
    let series = record["probe_series"].as_array().expect("probe series");
    for service in ["batch", "web"] {
        let one = series
            .iter()
            .find(|s| s["service"] == service)
            .unwrap_or_else(|| panic!("no series for {service}: {record:#}"));
        assert_eq!(one["from"], record["started_at"]);
        let probed: u64 = one["buckets"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .map(|bucket| {
                let mut fields = bucket.split(',');
                let successes: u64 = fields.next().unwrap().parse().unwrap();
                let failures: u64 = fields.next().unwrap().parse().unwrap();
                successes + failures
            })
            .sum();
        let counted = record["availability"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["service"] == service)
            .unwrap()["probes"]
            .as_u64()
            .unwrap();
        assert_eq!(probed, counted, "{service}: {one:#}");
    }

    let report = dir
        .path()
        .join("data/reports")
        .join(record["id"].as_str().unwrap())
        .join("report.html");
    let html = std::fs::read_to_string(&report).unwrap();
    let svgs = svg_elements(&html);
    let docs: Vec<roxmltree::Document<'_>> = svgs
        .iter()
        .map(|svg| roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("{e}: {svg}")))
        .collect();
    let chart = |id: &str| {
        docs.iter()
            .find(|d| d.root_element().attribute("id") == Some(id))
            .unwrap_or_else(|| panic!("no chart {id} in {}", report.display()))
    };

    // The timeline: a band per phase with its name, the fault, the recovery before the RTO
    // deadline.
    let timeline = chart("timeline");
    let bands: Vec<&str> = timeline
        .descendants()
        .filter(|n| has_class(n, "band"))
        .map(|n| n.attribute("data-phase").unwrap())
        .collect();
    assert_eq!(bands, ["kill-web", "kill-batch"]);
    let texts: Vec<&str> = timeline
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .collect();
    for phase in ["kill-web", "kill-batch"] {
        let label = format!("{phase} (pod-failure): passed");
        assert!(texts.contains(&label.as_str()), "{label} not in {texts:?}");
        let fault = mark_x(timeline, "fault", phase);
        let recovered = mark_x(timeline, "recovered", phase);
        let deadline = mark_x(timeline, "rto-deadline", phase);
        assert!(
            fault <= recovered && recovered < deadline,
            "{phase}: {fault} {recovered} {deadline}"
        );
    }
    assert!(mark_x(timeline, "fault", "kill-web") < mark_x(timeline, "fault", "kill-batch"));

    // A chart per probed service: availability bars and the p95 line.
    for service in ["web", "batch"] {
        let doc = chart(&format!("service-{service}"));
        let bars = doc
            .descendants()
            .filter(|n| has_class(n, "answered"))
            .count();
        assert!(bars > 0, "{service}: no availability bars");
        assert!(
            doc.descendants().any(|n| has_class(&n, "p95")),
            "{service}: no p95 line"
        );
        let title = doc
            .descendants()
            .find(|n| n.has_tag_name("title"))
            .and_then(|n| n.text());
        assert_eq!(
            title,
            Some(format!("{service}: availability and p95 latency").as_str())
        );
    }
    assert_eq!(docs.len(), 3, "the timeline and two services");

    // The email: each chart as a PNG twice its size, shown by its cid.
    let mail: Vec<_> = std::fs::read_dir(maildir.join("new"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(mail.len(), 1, "{mail:?}");
    let message = parse_mail(&mail[0]);
    let images = message["images"].as_array().unwrap();
    assert_eq!(images.len(), docs.len(), "{message:#}");
    let body = message["html"].as_str().unwrap();
    for doc in &docs {
        let root = doc.root_element();
        let id = root.attribute("id").unwrap();
        let cid = format!("{id}@charts.firedrill.invalid");
        let image = images
            .iter()
            .find(|i| i["content_id"] == format!("<{cid}>"))
            .unwrap_or_else(|| panic!("no image {cid}: {message:#}"));
        assert_eq!(image["signature"], true);
        let size = |name: &str| root.attribute(name).unwrap().parse::<u64>().unwrap();
        assert_eq!(
            (image["width"].as_u64(), image["height"].as_u64()),
            (Some(size("width") * 2), Some(size("height") * 2)),
            "{id}"
        );
        assert!(
            body.contains(&format!("src=\"cid:{cid}\"")),
            "{cid} not in {body}"
        );
    }
}
