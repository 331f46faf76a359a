//! Headless Chromium (Debian's `chromium`): a page's DOM after load, its console messages and screenshots from the command line; pages with scripts disabled through the DevTools protocol; and raw HTTP exchanges as a browser's form makes them.
//!
//! `--dump-dom` and `--screenshot` evaluate script in the page to do their work, so with
//! `--blink-settings=scriptEnabled=false` they print nothing. A page without JavaScript
//! is therefore read through the DevTools protocol over `--remote-debugging-pipe`
//! ([`NoScript`]): `DOM.getOuterHTML` needs no script in the page.
//!
//! Each Chromium gets a fresh profile and HOME in a temporary directory, runs in its own
//! process group, and is killed with that group when done or past its deadline. Nothing
//! it loads leaves loopback: background networking, sync and extensions are off.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long one Chromium run may take.
const DEADLINE: Duration = Duration::from_secs(60);

/// The `chromium` binary: `$FIREDRILL_CHROMIUM`, else `chromium` on the PATH.
pub fn chromium_bin() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("FIREDRILL_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromium"))
            .find(|path| path.is_file())
    })
}

/// A page as Chromium loaded it.
#[derive(Debug)]
pub struct Loaded {
    /// The DOM after the load event, serialised.
    pub dom: String,
    /// Console messages and uncaught errors Chromium logged (CSP violations among them).
    pub console: Vec<String>,
}

/// Headless Chromium with a scratch directory for its profiles.
#[derive(Debug)]
pub struct Chromium {
    bin: PathBuf,
    scratch: PathBuf,
    runs: std::cell::Cell<u32>,
}

impl Chromium {
    /// Chromium keeping its profiles under `scratch` (the test's temporary directory), or
    /// a panic saying how to install it.
    pub fn new(scratch: &Path) -> Self {
        let bin = chromium_bin().unwrap_or_else(|| {
            panic!(
                "chromium is missing: `apt-get install -y --no-install-recommends chromium fonts-dejavu-core` (or .ci/setup), or set FIREDRILL_CHROMIUM"
            )
        });
        Chromium {
            bin,
            scratch: scratch.join("chromium"),
            runs: std::cell::Cell::new(0),
        }
    }

    /// A fresh HOME and profile for the next Chromium, and the flags every run shares.
    fn common(&self) -> (PathBuf, Vec<String>) {
        let n = self.runs.get() + 1;
        self.runs.set(n);
        let home = self.scratch.join(format!("run-{n}"));
        std::fs::create_dir_all(&home).unwrap();
        let mut flags: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-sync",
            "--disable-component-update",
            "--disable-default-apps",
            "--metrics-recording-only",
            "--mute-audio",
            "--hide-scrollbars",
        ]
        .iter()
        .map(|flag| (*flag).to_string())
        .collect();
        flags.push(format!(
            "--user-data-dir={}",
            home.join("profile").display()
        ));
        (home, flags)
    }

    /// Runs Chromium headless with `args` then `url`, in a fresh profile, bounded by
    /// [`DEADLINE`].
    fn run(&self, args: &[String], url: &str) -> Output {
        let (home, flags) = self.common();
        let mut command = Command::new(&self.bin);
        command
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            // Chromium's singleton lock directory goes under TMPDIR: inside the test's
            // own directory, so nothing is left in /tmp.
            .env("TMPDIR", &home)
            .args(flags)
            .args(["--enable-logging=stderr", "--v=0"])
            .args(args)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.bin.display()));
        let pid = child.id();
        // Read both pipes on threads so a chatty Chromium never blocks on a full pipe.
        let mut stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let out = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stdout.read_to_end(&mut bytes);
            bytes
        });
        let err = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stderr.read_to_end(&mut bytes);
            bytes
        });
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > DEADLINE {
                kill_group(pid);
                let _ = child.wait();
                panic!("chromium did not finish {url} within {DEADLINE:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        // Helpers Chromium left behind in its group (there should be none) go too.
        kill_group(pid);
        Output {
            status,
            stdout: out.join().unwrap_or_default(),
            stderr: err.join().unwrap_or_default(),
        }
    }

    /// The DOM of `url` after load (`--dump-dom`), and what its console said.
    pub fn load(&self, url: &str) -> Loaded {
        let output = self.run(&["--dump-dom".to_string()], url);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "chromium --dump-dom {url} failed ({}):\n{stderr}",
            output.status
        );
        let console = stderr
            .lines()
            .filter(|line| line.contains(":CONSOLE") || line.contains("Uncaught"))
            .map(str::to_string)
            .collect();
        Loaded {
            dom: String::from_utf8_lossy(&output.stdout).into_owned(),
            console,
        }
    }

    /// A PNG screenshot of `url` in a `width`×`height` window, written to `path`; its bytes.
    pub fn screenshot(&self, url: &str, (width, height): (u32, u32), path: &Path) -> Vec<u8> {
        let args = vec![
            format!("--screenshot={}", path.display()),
            format!("--window-size={width},{height}"),
        ];
        let output = self.run(&args, url);
        assert!(
            output.status.success(),
            "chromium --screenshot {url} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::read(path)
            .unwrap_or_else(|e| panic!("no screenshot of {url} at {}: {e}", path.display()))
    }
}

/// A Chromium with scripts disabled (`--blink-settings=scriptEnabled=false`), driven
/// through the DevTools protocol on its pipe (NUL-separated JSON on fds 3 and 4, here
/// its stdin and stdout). Killed with its process group when dropped.
pub struct NoScript {
    child: std::process::Child,
    to: std::process::ChildStdin,
    from: std::sync::mpsc::Receiver<Value>,
    next_id: u64,
    session: String,
    /// Events not yet looked at.
    events: Vec<Value>,
}

impl std::fmt::Debug for NoScript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoScript")
            .field("pid", &self.child.id())
            .finish_non_exhaustive()
    }
}

impl Chromium {
    /// A Chromium with scripts disabled, a page open and its console watched.
    pub fn without_javascript(&self) -> NoScript {
        let (home, flags) = self.common();
        // The shell hands our pipes to Chromium as fds 3 and 4 (no unsafe code needed),
        // then points its stdin and stdout at /dev/null.
        let script = format!(
            "exec \"$0\" \"$@\" 3<&0 4>&1 0</dev/null 1>/dev/null 2>'{}'",
            home.join("stderr.log").display()
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(&self.bin)
            .args(flags)
            .args([
                "--remote-debugging-pipe",
                "--blink-settings=scriptEnabled=false",
                "about:blank",
            ])
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            // Chromium's singleton lock directory goes under TMPDIR: inside the test's
            // own directory, so nothing is left in /tmp.
            .env("TMPDIR", &home)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.bin.display()));
        let to = child.stdin.take().expect("piped stdin");
        let mut stdout = child.stdout.take().expect("piped stdout");
        let (tx, from) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut pending = Vec::new();
            let mut chunk = [0u8; 65536];
            loop {
                let n = match stdout.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                pending.extend_from_slice(&chunk[..n]);
                while let Some(end) = pending.iter().position(|b| *b == 0) {
                    let message: Vec<u8> = pending.drain(..=end).collect();
                    if let Ok(value) = serde_json::from_slice::<Value>(&message[..end])
                        && tx.send(value).is_err()
                    {
                        return;
                    }
                }
            }
        });
        let mut browser = NoScript {
            child,
            to,
            from,
            next_id: 0,
            session: String::new(),
            events: Vec::new(),
        };
        let target = browser.call("Target.createTarget", json!({ "url": "about:blank" }));
        let target = target["targetId"]
            .as_str()
            .expect("a target id")
            .to_string();
        let attached = browser.call(
            "Target.attachToTarget",
            json!({ "targetId": target, "flatten": true }),
        );
        browser.session = attached["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            browser.call(domain, json!({}));
        }
        // Frames of other origins (the report's sandboxed frame among them) run in their
        // own process: attach to each so its DOM can be read.
        browser.call(
            "Target.setAutoAttach",
            json!({ "autoAttach": true, "waitForDebuggerOnStart": false, "flatten": true }),
        );
        browser
    }
}

impl NoScript {
    /// Sends `method` (to the page's session once there is one) and waits for its result;
    /// events that arrive meanwhile are kept.
    fn call(&mut self, method: &str, params: Value) -> Value {
        let session = (!self.session.is_empty()).then(|| self.session.clone());
        self.call_in(session.as_deref(), method, params)
    }

    /// [`NoScript::call`] in DevTools session `session` (the browser's when `None`).
    fn call_in(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = Value::String(session.to_string());
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.to
            .write_all(&bytes)
            .and_then(|()| self.to.flush())
            .unwrap_or_else(|e| panic!("DevTools {method}: {e}"));
        let start = Instant::now();
        loop {
            let left = DEADLINE.saturating_sub(start.elapsed());
            let answer = self
                .from
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("DevTools {method}: no answer ({e})"));
            if answer["id"].as_u64() == Some(id) {
                assert!(
                    answer.get("error").is_none(),
                    "DevTools {method}: {}",
                    answer["error"]
                );
                return answer["result"].clone();
            }
            self.events.push(answer);
        }
    }

    /// Loads `url`, waits for its load event, and returns its DOM (`DOM.getOuterHTML`:
    /// no script involved) and what its console said meanwhile (console calls, uncaught
    /// exceptions, and the browser's log: CSP violations, failed loads).
    pub fn load(&mut self, url: &str) -> Loaded {
        self.events.clear();
        self.call("Page.navigate", json!({ "url": url }));
        let start = Instant::now();
        while !self
            .events
            .iter()
            .any(|e| e["method"] == "Page.loadEventFired")
        {
            let left = DEADLINE.saturating_sub(start.elapsed());
            let event = self
                .from
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("{url} did not load ({e})"));
            self.events.push(event);
        }
        let document = self.call("DOM.getDocument", json!({ "depth": -1 }));
        let root = document["root"]["nodeId"].clone();
        let html = self.call("DOM.getOuterHTML", json!({ "nodeId": root }));
        let console = self
            .events
            .iter()
            .filter(|e| {
                matches!(
                    e["method"].as_str(),
                    Some("Runtime.consoleAPICalled" | "Runtime.exceptionThrown" | "Log.entryAdded")
                )
            })
            .map(|e| e["params"].to_string())
            .collect();
        Loaded {
            dom: html["outerHTML"].as_str().unwrap_or_default().to_string(),
            console,
        }
    }
}

impl NoScript {
    /// Sets cookie `name=value` for `url` (HttpOnly, SameSite=Strict), as a sign-in would.
    pub fn set_cookie(&mut self, url: &str, name: &str, value: &str) {
        let set = self.call(
            "Network.setCookie",
            json!({ "url": url, "name": name, "value": value, "httpOnly": true, "sameSite": "Strict" }),
        );
        assert_eq!(set["success"], true, "cookie {name} for {url}: {set}");
    }

    /// The DOM of each frame in the page last loaded (`<iframe>` documents, each read in
    /// the DevTools session Chromium attached for it).
    pub fn frames(&mut self) -> Vec<String> {
        let sessions: Vec<String> = self
            .events
            .iter()
            .filter(|e| {
                e["method"] == "Target.attachedToTarget"
                    && e["params"]["targetInfo"]["type"] == "iframe"
            })
            .filter_map(|e| e["params"]["sessionId"].as_str().map(str::to_string))
            .collect();
        sessions
            .iter()
            .map(|session| {
                let document =
                    self.call_in(Some(session), "DOM.getDocument", json!({ "depth": -1 }));
                let root = document["root"]["nodeId"].clone();
                let html =
                    self.call_in(Some(session), "DOM.getOuterHTML", json!({ "nodeId": root }));
                html["outerHTML"].as_str().unwrap_or_default().to_string()
            })
            .collect()
    }

    /// The width of `url`'s content, in CSS pixels, laid out on a phone `width`×`height`
    /// wide (`mobile` viewport): more than `width` means the page scrolls sideways.
    pub fn content_width_on_phone(&mut self, url: &str, (width, height): (u32, u32)) -> f64 {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 2, "mobile": true }),
        );
        self.load(url);
        let metrics = self.call("Page.getLayoutMetrics", json!({}));
        self.call("Emulation.clearDeviceMetricsOverride", json!({}));
        metrics["cssContentSize"]["width"]
            .as_f64()
            .expect("the content's width")
    }
}

impl Drop for NoScript {
    fn drop(&mut self) {
        kill_group(self.child.id());
        let _ = self.child.wait();
    }
}

/// SIGKILL to the process group Chromium leads (it was started as its own group).
fn kill_group(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Width and height of a PNG, from its IHDR chunk; `None` if `bytes` is not a PNG.
pub fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.len() < 24 || &bytes[..8] != SIGNATURE || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let be =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    Some((be(16), be(20)))
}

/// An HTTP answer with its headers (names lowercase).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// One HTTP/1.0 exchange on loopback: `method path` with `headers` and `body`; redirects
/// are not followed.
pub fn exchange(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let address = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut request = format!("{method} {path} HTTP/1.0\r\nHost: {address}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response with a head");
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    // Binary bodies (a bundle) come back lossily: tests look at their headers.
    let body = String::from_utf8_lossy(&response[split + 4..]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_png_s_size_is_read_from_its_header() {
        let mut png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
        png.extend_from_slice(&1200u32.to_be_bytes());
        png.extend_from_slice(&1800u32.to_be_bytes());
        assert_eq!(png_size(&png), Some((1200, 1800)));
        assert_eq!(png_size(b"GIF89a"), None);
    }
}
