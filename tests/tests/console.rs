//! The web console in a real browser: `firedrill serve` against a sandbox runs a drill
//! triggered from the console's own form, then headless Chromium (Debian's package) loads
//! every page, with and without JavaScript, and the test reads the DOM it dumps.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::{Duration, Instant};

use firedrill_tests::browser::{Chromium, NoScript, exchange, png_size};
use firedrill_tests::dom::{self, Element, Node};
use firedrill_tests::{
    Guard, SandboxProcess, api_runs, firedrill_serve, free_port, http_get, require_plugins,
    wait_for, write_config,
};
use tempfile::TempDir;

const PLATFORM: &str = r#"
namespace: shop
zones: [zone-a, zone-b]
nodesPerZone: 1
deployments:
  - name: web
    replicas: 2
    pdb: { maxUnavailable: 1 }
    startDelay: 1s
"#;

const ADMIN: &str = "t0ken";
const VIEWER: &str = "v1ewer";

/// The hour (Berlin time) of the weekly drill's slots: twelve hours from now, so the
/// scheduler never starts it while the test runs (its past slots are the audit's missed
/// ones).
fn weekly_hour() -> u32 {
    use chrono::Timelike;
    (chrono::Utc::now().hour() + 12) % 24
}

/// The configuration: a two-phase drill run on demand, a weekly drill at `hour` on
/// Tuesdays, and the API on `port`. `viewer`: whether the pages need the viewer token.
fn config(
    dir: &Path,
    sandbox: &SandboxProcess,
    port: u16,
    hour: u32,
    viewer: bool,
) -> std::path::PathBuf {
    write_config(
        dir,
        sandbox,
        &format!(
            r#"services:
  web:
    namespace: shop
    selector: app.kubernetes.io/name=web
    probes: [{{ service_proxy: {{ service: web, port: http }} }}]
probing: {{ interval: 250ms }}
plugins:
  grants:
    pod-failure:
      kubernetes: [{{ verbs: [list, delete], namespaces: [shop] }}]
drills:
  single-pod:
    description: One pod lost, twice
    phases:
      - {{ name: kill, scenario: pod-failure, objectives: {{ rto: 2m, availability_floor: 0.5 }} }}
      - {{ name: kill-again, scenario: pod-failure, objectives: {{ rto: 2m }} }}
  weekly:
    schedule: {{ cron: "0 {hour} * * TUE", timezone: Europe/Berlin }}
    phases:
      - {{ name: kill, scenario: pod-failure }}
api:
  listen: 127.0.0.1:{port}
  token: {{ env: FIREDRILL_TEST_TOKEN }}
{}"#,
            if viewer {
                "  viewer_token: { env: FIREDRILL_TEST_VIEWER }\n"
            } else {
                ""
            }
        ),
    )
}

fn serve(config: &Path, api: &str) -> Guard {
    let serve = firedrill_serve(
        config,
        &[
            ("FIREDRILL_TEST_TOKEN", ADMIN),
            ("FIREDRILL_TEST_VIEWER", VIEWER),
        ],
    );
    wait_for(
        Duration::from_secs(60),
        "firedrill serve to be ready",
        || http_get(api, "/readyz").is_ok(),
    );
    serve
}

/// SIGTERM, then waits for a clean exit.
fn stop(mut serve: Guard) {
    let pid = serve.0.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let mut stopped = None;
    wait_for(Duration::from_secs(30), "serve to stop", || {
        stopped = serve.0.try_wait().unwrap();
        stopped.is_some()
    });
    assert!(stopped.unwrap().success());
}

/// Headless Chromium twice over: with JavaScript (`--dump-dom`) and without (DevTools).
struct Browsers {
    chromium: Chromium,
    no_script: NoScript,
}

/// A console page loaded as [`loaded`] says, keeping the markup rules of every page.
fn page(browsers: &mut Browsers, api: &str, path: &str) -> Element {
    let doc = loaded(browsers, api, path);
    accessible(path, &doc);
    doc
}

/// Loads `path` with JavaScript and without: no console message either way, and the
/// same DOM either way (nothing on it needs a script).
fn loaded(browsers: &mut Browsers, api: &str, path: &str) -> Element {
    let url = format!("{api}{path}");
    let with = browsers.chromium.load(&url);
    assert!(
        with.console.is_empty(),
        "{path}: console messages:\n{}",
        with.console.join("\n")
    );
    let without = browsers.no_script.load(&url);
    assert!(
        without.console.is_empty(),
        "{path} (no JavaScript): console messages:\n{}",
        without.console.join("\n")
    );
    let doc = dom::parse(&with.dom);
    let bare = dom::parse(&without.dom);
    assert_eq!(doc.all("h1").len(), 1, "{path}: one h1");
    assert_eq!(bare.all("h1").len(), 1, "{path}: one h1 without JavaScript");
    // Two requests: the instants a page shows (the audit's "now") may differ by a second.
    assert_eq!(
        timeless(doc.all("html")[0]),
        timeless(bare.all("html")[0]),
        "{path}: the page differs without JavaScript"
    );
    doc
}

/// `element` with every `<time>` emptied.
fn timeless(element: &Element) -> Element {
    if element.name == "time" {
        return Element {
            name: "time".into(),
            attrs: Vec::new(),
            children: Vec::new(),
        };
    }
    Element {
        name: element.name.clone(),
        attrs: element.attrs.clone(),
        children: element
            .children
            .iter()
            .map(|child| match child {
                Node::Element(inner) => Node::Element(timeless(inner)),
                Node::Text(text) => Node::Text(text.clone()),
            })
            .collect(),
    }
}

/// One h1, headings in order, tables with scoped headers, every field labelled, a
/// viewport, a language, no script and nothing loaded from elsewhere.
fn accessible(path: &str, doc: &Element) {
    assert_eq!(doc.all("html")[0].attr("lang"), Some("en"), "{path}");
    assert!(
        doc.all("meta")
            .iter()
            .any(|m| m.attr("name") == Some("viewport")),
        "{path}: no viewport"
    );
    assert_eq!(doc.all("h1").len(), 1, "{path}: one h1");
    let mut level = 0;
    for heading in doc.descendants() {
        let Some(n) = heading
            .name
            .strip_prefix('h')
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| (1..=6).contains(n))
        else {
            continue;
        };
        assert!(
            n <= level + 1,
            "{path}: <h{n}> \"{}\" follows <h{level}>",
            heading.text()
        );
        level = n;
    }
    for th in doc.all("th") {
        assert!(
            matches!(th.attr("scope"), Some("col" | "row")),
            "{path}: <th> \"{}\" has no scope",
            th.text()
        );
    }
    let labelled: Vec<&str> = doc
        .all("label")
        .iter()
        .filter_map(|l| l.attr("for"))
        .collect();
    for field in doc.descendants().into_iter().filter(|e| {
        // Hidden fields (the forms' `next`, and the username password managers file a
        // token under) are never shown, so need no label.
        matches!(e.name.as_str(), "input" | "select" | "textarea")
            && e.attr("type") != Some("hidden")
            && e.attr("hidden").is_none()
    }) {
        let id = field.attr("id").unwrap_or_default();
        assert!(
            !id.is_empty() && labelled.contains(&id),
            "{path}: <{} name={:?}> has no label",
            field.name,
            field.attr("name")
        );
    }
    assert!(doc.all("script").is_empty(), "{path}: a script");
    for element in doc.descendants() {
        for attr in ["src", "href"] {
            if let Some(url) = element.attr(attr) {
                assert!(
                    !url.starts_with("http") && !url.starts_with("//"),
                    "{path}: <{} {attr}={url}> loads from elsewhere",
                    element.name
                );
            }
        }
    }
}

/// The row of the first table of `doc` whose header cell contains `text`.
fn row<'a>(doc: &'a Element, text: &str) -> &'a Element {
    doc.all("tr")
        .into_iter()
        .find(|tr| {
            tr.elements()
                .first()
                .is_some_and(|th| th.name == "th" && th.text().contains(text))
        })
        .unwrap_or_else(|| panic!("no row headed {text:?}"))
}

/// The text of each cell of `tr`.
fn cells(tr: &Element) -> Vec<String> {
    tr.elements().iter().map(|cell| cell.text()).collect()
}

/// The texts of the headings of `doc`.
fn headings(doc: &Element, level: &str) -> Vec<String> {
    doc.all(level).iter().map(|h| h.text()).collect()
}

fn screenshot(chromium: &Chromium, dir: &Path, url: &str, size: (u32, u32), name: &str) {
    let path = dir.join(name);
    let png = chromium.screenshot(url, size, &path);
    assert_eq!(png_size(&png), Some(size), "{name} is a PNG of {size:?}");
    // A blank page compresses to a few hundred bytes; a rendered one does not.
    assert!(png.len() > 10_000, "{name}: only {} bytes", png.len());
}

#[test]
fn every_console_page_renders_a_real_drill_in_headless_chromium_without_javascript() {
    require_plugins(&["pod-failure"]);
    let started = Instant::now();
    let dir = TempDir::new().unwrap();
    let chromium = Chromium::new(dir.path());
    let no_script = chromium.without_javascript();
    let mut browsers = Browsers {
        chromium,
        no_script,
    };
    // The two browsers differ as they should: a script runs in one, not in the other.
    let scripted = "data:text/html,<p id=out>static</p><script>out.textContent='scripted'</script>";
    let ran = dom::parse(&browsers.chromium.load(scripted).dom);
    assert_eq!(ran.by_id("out").unwrap().text(), "scripted");
    let stayed = dom::parse(&browsers.no_script.load(scripted).dom);
    assert_eq!(stayed.by_id("out").unwrap().text(), "static");
    // And the phone check below sees a page that scrolls sideways.
    let wide = "data:text/html,<meta name=viewport content='width=device-width'><div style='width:800px'>wide</div>";
    let width = browsers.no_script.content_width_on_phone(wide, (390, 844));
    assert!(width >= 800.0, "{width}");
    let sandbox = SandboxProcess::start(dir.path(), Some(PLATFORM));
    let port = free_port();
    let api = format!("http://127.0.0.1:{port}");
    let hour = weekly_hour();
    let config_path = config(dir.path(), &sandbox, port, hour, false);
    let daemon = serve(&config_path, &api);

    // The drill is triggered from the plan page's form, as a browser posts it; another
    // site's page posting the same form is refused.
    let plan_doc = page(&mut browsers, &api, "/drills/single-pod/plan");
    let form = plan_doc
        .all("form")
        .into_iter()
        .find(|f| f.attr("method") == Some("post"))
        .expect("the plan page's run form");
    let action = form.attr("action").unwrap().to_string();
    assert_eq!(action, "/drills/single-pod/run");
    let origin = api.clone();
    let post = |site: &str, body: &str| {
        exchange(
            &api,
            "POST",
            &action,
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Origin", &origin),
                ("Sec-Fetch-Site", site),
            ],
            body,
        )
    };
    assert_eq!(post("cross-site", &format!("token={ADMIN}")).status, 403);
    assert_eq!(post("same-origin", "token=guess").status, 403);
    let queued = post("same-origin", &format!("token={ADMIN}"));
    assert_eq!(queued.status, 303, "{}", queued.body);
    assert_eq!(queued.header("location"), Some("/?queued=single-pod"));
    wait_for(
        Duration::from_secs(120),
        "the triggered run to be recorded",
        || api_runs(&api).len() == 1,
    );
    let run_id = api_runs(&api)[0]["id"].as_str().unwrap().to_string();
    let drill_done = started.elapsed();

    // `/`: each drill, its schedule, next run, last result and overdue flag.
    let home = page(&mut browsers, &api, "/");
    assert_eq!(headings(&home, "h1"), ["Drills"]);
    let single = cells(row(&home, "single-pod"));
    assert!(single[0].contains("One pod lost, twice"), "{single:?}");
    assert!(single[0].contains("phases: kill, kill-again"), "{single:?}");
    assert_eq!(single[1], "not scheduled (run on demand)");
    assert!(single[3].starts_with("✓ passed"), "{single:?}");
    assert!(single[3].contains(&run_id), "{single:?}");
    let weekly_row = row(&home, "weekly");
    let weekly = cells(weekly_row);
    assert!(
        weekly[1].starts_with(&format!("weekly 0 {hour} * * TUE")),
        "{weekly:?}"
    );
    assert!(weekly[1].contains("Europe/Berlin"), "{weekly:?}");
    let next = weekly_row.all("time");
    assert_eq!(next.len(), 1, "the next run is a <time>");
    assert!(next[0].text().starts_with("Tue "), "{}", next[0].text());
    assert_eq!(weekly[3], "never run");
    assert_eq!(weekly[4], "no", "a new drill is not overdue at once");

    // `/runs`: the run with its outcome; the filter keeps it or leaves it out.
    let runs = page(&mut browsers, &api, "/runs");
    assert_eq!(headings(&runs, "h1"), ["Runs"]);
    let listed = cells(row(&runs, &run_id));
    assert_eq!(listed[1], "single-pod");
    assert_eq!(listed[4], "✓ passed");
    let link = row(&runs, &run_id).all("a")[0]
        .attr("href")
        .unwrap()
        .to_string();
    assert_eq!(link, format!("/runs/{run_id}"));
    let filtered = page(&mut browsers, &api, "/runs?drill=single-pod&outcome=passed");
    assert_eq!(cells(row(&filtered, &run_id))[4], "✓ passed");
    let selected: Vec<_> = filtered
        .all("option")
        .into_iter()
        .filter(|o| o.attr("selected").is_some())
        .map(|o| o.text())
        .collect();
    assert_eq!(selected, ["single-pod", "passed"]);
    let none = page(&mut browsers, &api, "/runs?outcome=failed");
    assert!(none.text().contains("No run matches."));
    assert!(!none.text().contains(&run_id));

    // `/runs/ID`: the phases in order, their figures, evidence, delivery, the report.
    let run = page(&mut browsers, &api, &link);
    assert_eq!(headings(&run, "h1"), [format!("Run {run_id}")]);
    assert_eq!(
        headings(&run, "h2"),
        ["Phases", "Services", "Evidence", "Delivery", "Report"]
    );
    let phases_table = run
        .all("table")
        .into_iter()
        .find(|t| t.all("caption")[0].text().contains("verdict"))
        .expect("the phases table");
    let phase_rows: Vec<Vec<String>> = phases_table.all("tbody")[0]
        .all("tr")
        .into_iter()
        .map(cells)
        .collect();
    assert_eq!(phase_rows.len(), 2, "{phase_rows:?}");
    assert!(
        phase_rows[0][0].starts_with("kill pod-failure"),
        "{phase_rows:?}"
    );
    assert!(
        phase_rows[1][0].starts_with("kill-again pod-failure"),
        "{phase_rows:?}"
    );
    for phase in &phase_rows {
        assert_eq!(phase[1], "✓ passed", "{phase:?}");
        assert_eq!(phase[3], "✓ met", "{phase:?}");
        assert!(phase[2].ends_with("(2m)"), "{phase:?}");
    }
    let config_hash = cells(row(&run, "configuration"));
    assert_eq!(config_hash[3].len(), 64, "{config_hash:?}");
    assert!(cells(row(&run, "plugin pod-failure"))[3].len() == 64);
    assert!(run.text().contains("Email: not configured"));
    let frames = run.all("iframe");
    assert_eq!(frames.len(), 1);
    let report_path = frames[0].attr("src").unwrap().to_string();
    assert_eq!(report_path, format!("/runs/{run_id}/report"));
    assert_eq!(
        frames[0].attr("title"),
        Some(&*format!("Report of run {run_id}"))
    );

    // The frame shows the report (its own page, framed under the console's policy).
    let framed = browsers.no_script.frames();
    assert_eq!(framed.len(), 1, "{framed:?}");
    let framed = dom::parse(&framed[0]);
    assert_eq!(
        headings(&framed, "h1"),
        [format!("DR Drill Report: {run_id}")]
    );

    // The report the frame shows, on its own (the mailed document: its markup is the
    // report's, not the console's).
    let report = loaded(&mut browsers, &api, &report_path);
    assert_eq!(
        headings(&report, "h1"),
        [format!("DR Drill Report: {run_id}")]
    );
    let recovery = report.text();
    assert!(recovery.contains("kill") && recovery.contains("kill-again"));

    // `/audit`: the weekly drill's past slots (missed: no daemon ran them), the manual
    // run outside the schedule, the chain intact.
    let since = (chrono::Utc::now() - chrono::Duration::days(15))
        .format("%Y-%m-%d")
        .to_string();
    let audit = page(&mut browsers, &api, &format!("/audit?since={since}"));
    assert_eq!(headings(&audit, "h1"), ["Audit"]);
    assert!(
        audit.text().contains("✓ intact 1 record verified"),
        "{}",
        audit.text()
    );
    assert_eq!(headings(&audit, "h3"), ["weekly"]);
    let slots = audit
        .all("table")
        .into_iter()
        .find(|t| t.all("caption")[0].text() == "Slots of weekly")
        .expect("the weekly drill's slots");
    let slot_rows: Vec<Vec<String>> = slots.all("tbody")[0]
        .all("tr")
        .into_iter()
        .map(cells)
        .collect();
    assert!((2..=3).contains(&slot_rows.len()), "{slot_rows:?}");
    for slot in &slot_rows {
        assert!(slot[0].contains(&format!("{hour:02}:00 CE")), "{slot:?}");
        assert_eq!(
            slot[2], "✗ missed: no run recorded (daemon down)",
            "{slot:?}"
        );
        assert_eq!(slot[3], "n/a", "{slot:?}");
    }
    assert_eq!(cells(row(&audit, &run_id))[3], "✓ passed");
    assert_eq!(
        audit.by_id("audit-since").unwrap().attr("value"),
        Some(since.as_str())
    );
    // The period's evidence bundle is a link away.
    let bundle_link = audit
        .all("a")
        .into_iter()
        .find(|a| a.text().contains("evidence bundle"))
        .and_then(|a| a.attr("href"))
        .expect("the bundle link")
        .to_string();
    assert_eq!(bundle_link, format!("/audit/bundle?since={since}"));
    let bundle = exchange(&api, "GET", &bundle_link, &[], "");
    assert_eq!(bundle.status, 200);
    assert_eq!(bundle.header("content-type"), Some("application/gzip"));

    // The plan page, now that the drill ran: each phase's planned actions.
    let plan = page(&mut browsers, &api, "/drills/single-pod/plan");
    assert_eq!(headings(&plan, "h1"), ["Plan of drill single-pod"]);
    assert_eq!(
        headings(&plan, "h3"),
        ["Phase kill (pod-failure)", "Phase kill-again (pod-failure)"]
    );
    assert!(
        plan.text().contains("Blast radius: 1 pod disrupted"),
        "{}",
        plan.text()
    );
    assert!(plan.text().contains("✓ within the limits"));

    // On a phone nothing scrolls sideways but the wide tables inside their own boxes.
    for path in [
        "/",
        "/runs",
        link.as_str(),
        &format!("/audit?since={since}"),
        "/drills/single-pod/plan",
    ] {
        let width = browsers
            .no_script
            .content_width_on_phone(&format!("{api}{path}"), (390, 844));
        assert!(
            width <= 390.0,
            "{path} is {width} px wide on a 390 px phone"
        );
    }

    // Screenshots: the run page (with its framed report) and the report itself, at a
    // desktop size; the drills page at a phone's.
    let shots = dir.path().join("shots");
    std::fs::create_dir_all(&shots).unwrap();
    screenshot(
        &browsers.chromium,
        &shots,
        &format!("{api}{link}"),
        (1200, 1800),
        "run.png",
    );
    screenshot(
        &browsers.chromium,
        &shots,
        &format!("{api}{report_path}"),
        (1200, 1800),
        "report.png",
    );
    screenshot(
        &browsers.chromium,
        &shots,
        &format!("{api}/"),
        (390, 844),
        "phone.png",
    );
    stop(daemon);

    // With a viewer token the same pages need signing in: the browser lands on the
    // sign-in form, whose cookie then opens them.
    let config_path = config(dir.path(), &sandbox, port, hour, true);
    let daemon = serve(&config_path, &api);
    let login = page(&mut browsers, &api, "/runs");
    assert_eq!(headings(&login, "h1"), ["Sign in"]);
    assert_eq!(
        login.by_id("login-token").unwrap().attr("type"),
        Some("password")
    );
    let next = login
        .all("input")
        .into_iter()
        .find(|i| i.attr("name") == Some("next"))
        .unwrap();
    assert_eq!(next.attr("value"), Some("/runs"));
    let refused = exchange(&api, "GET", "/runs", &[], "");
    assert_eq!(refused.status, 303);
    assert_eq!(refused.header("location"), Some("/login?next=%2Fruns"));
    let signed = exchange(
        &api,
        "POST",
        "/login",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Origin", &api),
            ("Sec-Fetch-Site", "same-origin"),
        ],
        &format!("token={VIEWER}&next=%2Fruns"),
    );
    assert_eq!(signed.status, 303, "{}", signed.body);
    let cookie = signed.header("set-cookie").unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap();
    let listed = exchange(&api, "GET", "/runs", &[("Cookie", pair)], "");
    assert_eq!(listed.status, 200);
    assert!(listed.body.contains(&run_id));
    let bearer = exchange(
        &api,
        "GET",
        "/runs",
        &[("Authorization", &format!("Bearer {VIEWER}"))],
        "",
    );
    assert_eq!(bearer.status, 200);
    // A signed-in browser sees the run page, and its framed report too (the cookie goes
    // with the frame's request: same site).
    let (name, value) = pair.split_once('=').unwrap();
    browsers.no_script.set_cookie(&api, name, value);
    let signed_in = dom::parse(&browsers.no_script.load(&format!("{api}{link}")).dom);
    assert_eq!(headings(&signed_in, "h1"), [format!("Run {run_id}")]);
    let framed = browsers.no_script.frames();
    assert_eq!(
        headings(&dom::parse(&framed[0]), "h1"),
        [format!("DR Drill Report: {run_id}")]
    );
    assert!(signed_in.text().contains("Sign out"));
    stop(daemon);

    eprintln!(
        "console browser test: {:.1} s (drill recorded after {:.1} s)",
        started.elapsed().as_secs_f64(),
        drill_done.as_secs_f64()
    );
}
