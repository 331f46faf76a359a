//! `pods/exec`: checks the pod and container, upgrades the request to a WebSocket speaking
//! the Kubernetes remotecommand channel protocol (`v5.channel.k8s.io` or
//! `v4.channel.k8s.io`), runs the command (simulated by [`crate::simulated`], or as a
//! local process when the platform file opts the workload in) and reports its exit status
//! on the error channel.
//!
//! Frames are binary, their first byte the channel: 0 stdin (from the client), 1 stdout,
//! 2 stderr, 3 the error channel carrying a `metav1.Status`, 255 (v5, from the client) a
//! stream's close. The server sends the status, then closes the WebSocket normally.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State as AxumState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};

use super::common::{ApiError, AppState, decode_query_pairs};
use crate::object::{self, str_at};
use crate::platform::{ExecMode, Workload};
use crate::resources::PODS;
use crate::simulated::{self, owner_workload};

/// The remotecommand subprotocols served, in the server's order of preference.
pub const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const CLOSE: u8 = 255;

/// How long the sandbox waits for the client's half of the close handshake.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// The query of an exec request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ExecRequest {
    command: Vec<String>,
    container: Option<String>,
    stdin: bool,
    stdout: bool,
    stderr: bool,
}

fn parse_query(raw: &str) -> ExecRequest {
    let mut request = ExecRequest::default();
    let truthy = |value: &str| super::common::query_bool(Some(value));
    for (key, value) in decode_query_pairs(raw) {
        match key.as_str() {
            "command" => request.command.push(value),
            "container" if !value.is_empty() => request.container = Some(value),
            "stdin" => request.stdin = truthy(&value),
            "stdout" => request.stdout = truthy(&value),
            "stderr" => request.stderr = truthy(&value),
            _ => {}
        }
    }
    request
}

/// What runs once the connection is upgraded.
#[derive(Debug)]
enum Plan {
    /// Answered from the simulated state.
    Simulated(Box<simulated::Output>),
    /// A child process on the sandbox's machine.
    Local {
        command: Vec<String>,
        env: BTreeMap<String, String>,
    },
}

/// `GET`/`POST /api/v1/namespaces/{namespace}/pods/{name}/exec`.
pub async fn handle(
    AxumState(app): AxumState<AppState>,
    Path((namespace, name)): Path<(String, String)>,
    RawQuery(raw_query): RawQuery,
    request: Request,
) -> Response {
    let exec = parse_query(raw_query.as_deref().unwrap_or_default());
    // The handshake first: a refused request must not run (simulated tools have side
    // effects, such as the verifiable producer's messages).
    let (accept, protocol) = match negotiate(request.headers()) {
        Ok(negotiated) => negotiated,
        Err(error) => return error.into_response(),
    };
    let plan = match prepare(&app, &namespace, &name, &exec) {
        Ok(plan) => plan,
        Err(error) => return error.into_response(),
    };
    tracing::debug!(%namespace, pod = %name, command = ?exec.command, protocol, "Exec started");
    let shutdown = app.shutdown.clone();
    let upgrade = hyper::upgrade::on(request);
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => {
                let socket =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                        .await;
                session(socket, plan, exec, shutdown).await;
            }
            Err(error) => tracing::debug!(%error, "Exec connection was not upgraded"),
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .header(header::SEC_WEBSOCKET_PROTOCOL, protocol)
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Checks the pod, container and command, and decides what runs, before upgrading: the
/// client gets a `Status` error it can show.
fn prepare(
    app: &AppState,
    namespace: &str,
    name: &str,
    exec: &ExecRequest,
) -> Result<Plan, ApiError> {
    let state = app.store.lock();
    let pod = state
        .get(&PODS, namespace, name)
        .ok_or_else(|| ApiError::not_found("pods", name))?;
    if object::is_terminating(pod) || str_at(pod, "/status/phase") != "Running" {
        return Err(ApiError::bad_request(format!("pod {name} is not running")));
    }
    let containers: Vec<&str> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| str_at(c, "/name"))
        .collect();
    if let Some(container) = &exec.container
        && !containers.contains(&container.as_str())
    {
        return Err(ApiError::bad_request(format!(
            "container {container} is not valid for pod {name}"
        )));
    }
    if exec.command.is_empty() {
        return Err(ApiError::bad_request("you must specify at least 1 command"));
    }
    if !(exec.stdin || exec.stdout || exec.stderr) {
        return Err(ApiError::bad_request(
            "you must specify at least 1 of stdin, stdout, stderr",
        ));
    }
    let workload = owner_workload(&state, pod);
    let declared = workload.as_ref().and_then(|(kind, workload_name)| {
        app.platform
            .workloads
            .iter()
            .find(|w| w.kind == *kind && w.namespace == namespace && &w.name == workload_name)
    });
    if let Some(Workload {
        exec: ExecMode::Local { env },
        ..
    }) = declared
    {
        return Ok(Plan::Local {
            command: exec.command.clone(),
            env: env.clone(),
        });
    }
    let truth = app.recorder.snapshot();
    let context = simulated::context(
        &state,
        pod,
        workload.as_ref(),
        declared,
        app.timing.isr_catch_up,
        &truth,
    );
    let output = app
        .kafka_logs
        .with(&context.ring.namespace, &context.ring.workload, |logs| {
            simulated::run(&exec.command, &context, logs)
        });
    Ok(Plan::Simulated(Box::new(output)))
}

/// Checks the WebSocket handshake and picks the subprotocol: the first the client offers
/// that the sandbox speaks. Returns the `Sec-WebSocket-Accept` value and the protocol.
fn negotiate(headers: &HeaderMap) -> Result<(String, &'static str), ApiError> {
    let wants_websocket = headers
        .get_all(header::UPGRADE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|p| p.trim().eq_ignore_ascii_case("websocket"))
        });
    if !wants_websocket {
        return Err(ApiError::bad_request(format!(
            "the sandbox serves exec over WebSocket only ({}), not SPDY",
            PROTOCOLS.join(", ")
        )));
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or_else(|| ApiError::bad_request("the WebSocket upgrade has no Sec-WebSocket-Key"))?;
    let offered: Vec<String> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .collect();
    let protocol = offered
        .iter()
        .find_map(|p| PROTOCOLS.iter().find(|served| **served == p.as_str()))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "none of the offered WebSocket subprotocols ({}) is served; the sandbox speaks {}",
                offered.join(", "),
                PROTOCOLS.join(", ")
            ))
        })?;
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    Ok((accept, protocol))
}

/// The error channel's `Status` for an exit code.
pub fn exit_status(command: &[String], exit_code: i32) -> Value {
    if exit_code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!(
            "command terminated with non-zero exit code: error executing command [{}], exit code {exit_code}",
            command.join(" ")
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": exit_code.to_string()}]},
    })
}

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut bytes = Vec::with_capacity(data.len() + 1);
    bytes.push(channel);
    bytes.extend_from_slice(data);
    Message::Binary(Bytes::from(bytes))
}

/// How a session's connection ended before the command finished.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// The command finished with this exit code.
    Exited(i32),
    /// The client went away or the sandbox is stopping: nothing more to send.
    Abandoned,
}

async fn session<S>(
    socket: WebSocketStream<S>,
    plan: Plan,
    exec: ExecRequest,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut sink, mut incoming) = socket.split();
    let command = match &plan {
        Plan::Local { command, .. } => command.clone(),
        Plan::Simulated(_) => exec.command.clone(),
    };
    let ended = match plan {
        Plan::Simulated(output) => {
            let mut sent = Ok(());
            if exec.stdout && !output.stdout.is_empty() {
                sent = sink.send(frame(STDOUT, output.stdout.as_bytes())).await;
            }
            if sent.is_ok() && exec.stderr && !output.stderr.is_empty() {
                sent = sink.send(frame(STDERR, output.stderr.as_bytes())).await;
            }
            if sent.is_ok() {
                Ended::Exited(output.exit_code)
            } else {
                Ended::Abandoned
            }
        }
        Plan::Local { command, env } => {
            run_local(
                &command,
                &env,
                &exec,
                &mut sink,
                &mut incoming,
                &mut shutdown,
            )
            .await
        }
    };
    let Ended::Exited(exit_code) = ended else {
        return;
    };
    let status = exit_status(&command, exit_code).to_string();
    if sink.send(frame(ERROR, status.as_bytes())).await.is_err() {
        return;
    }
    let close = CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    };
    if sink.send(Message::Close(Some(close))).await.is_err() {
        return;
    }
    // Let the client answer the close so the handshake completes; do not wait forever.
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while let Some(Ok(_)) = incoming.next().await {}
    })
    .await;
}

/// Resolves when the sandbox stops (the guard `wait_for` returns is not `Send`).
async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Reads some bytes from an optional reader; pending forever once it is gone.
async fn read_some<R: AsyncRead + Unpin>(reader: &mut Option<R>, buffer: &mut [u8]) -> usize {
    match reader {
        Some(r) => r.read(buffer).await.unwrap_or(0),
        None => std::future::pending().await,
    }
}

/// Runs a local child process, streaming its output as frames; kills it when the client
/// goes away or the sandbox stops.
async fn run_local<W, R>(
    command: &[String],
    env: &BTreeMap<String, String>,
    exec: &ExecRequest,
    sink: &mut W,
    incoming: &mut R,
    shutdown: &mut watch::Receiver<bool>,
) -> Ended
where
    W: futures::Sink<Message> + Unpin,
    R: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let Some((program, args)) = command.split_first() else {
        return Ended::Exited(127);
    };
    let spawned = tokio::process::Command::new(program)
        .args(args)
        .envs(env)
        .stdin(if exec.stdin {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        // Its own process group, so that what it starts (`sh -c 'a & b'`) is killed with it.
        .process_group(0)
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) => {
            let (message, code) = if error.kind() == std::io::ErrorKind::NotFound {
                (
                    format!("sandbox: {program}: command not found (local exec)\n"),
                    127,
                )
            } else {
                (format!("sandbox: cannot run {program}: {error}\n"), 126)
            };
            if exec.stderr && sink.send(frame(STDERR, message.as_bytes())).await.is_err() {
                return Ended::Abandoned;
            }
            return Ended::Exited(code);
        }
    };
    tracing::debug!(?command, pid = child.id(), "Local exec started");
    let mut stdin = child.stdin.take();
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let mut out_buffer = vec![0u8; 16 * 1024];
    let mut err_buffer = vec![0u8; 16 * 1024];
    let mut gone = false;
    loop {
        if stdout.is_none() && stderr.is_none() {
            break;
        }
        tokio::select! {
            read = read_some(&mut stdout, &mut out_buffer) => {
                if read == 0 {
                    stdout = None;
                } else if exec.stdout
                    && sink.send(frame(STDOUT, &out_buffer[..read])).await.is_err()
                {
                    gone = true;
                    break;
                }
            }
            read = read_some(&mut stderr, &mut err_buffer) => {
                if read == 0 {
                    stderr = None;
                } else if exec.stderr
                    && sink.send(frame(STDERR, &err_buffer[..read])).await.is_err()
                {
                    gone = true;
                    break;
                }
            }
            message = incoming.next() => {
                if !client_message(message, &mut stdin).await {
                    gone = true;
                    break;
                }
            }
            () = stopping(shutdown) => {
                gone = true;
                break;
            }
        }
    }
    if !gone {
        let status = loop {
            tokio::select! {
                status = child.wait() => break Some(status),
                message = incoming.next() => {
                    if !client_message(message, &mut stdin).await {
                        break None;
                    }
                }
                () = stopping(shutdown) => break None,
            }
        };
        if let Some(Ok(status)) = status {
            return Ended::Exited(exit_code(status));
        }
        if let Some(Err(error)) = status {
            tracing::warn!(%error, ?command, "Local exec could not be waited for");
            return Ended::Exited(126);
        }
    }
    if let Some(pid) = child.id() {
        kill_process_group(pid).await;
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
    tracing::debug!(
        ?command,
        "Local exec killed: the client went away or the sandbox stopped"
    );
    Ended::Abandoned
}

/// Kills every process of the group that `pid` leads (the local exec's child and what it
/// started), with the shell's `kill`: the workspace has no unsafe code for `killpg(2)`.
async fn kill_process_group(pid: u32) {
    let killed = tokio::process::Command::new("sh")
        .args(["-c", &format!("kill -9 -{pid}")])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await;
    if !killed.is_ok_and(|status| status.success()) {
        tracing::warn!(pid, "Local exec: could not kill its process group");
    }
}

/// Handles one message from the client; `false` when the client is gone.
async fn client_message(
    message: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    stdin: &mut Option<tokio::process::ChildStdin>,
) -> bool {
    match message {
        None | Some(Err(_)) | Some(Ok(Message::Close(_))) => false,
        Some(Ok(Message::Binary(data))) => {
            match data.first() {
                Some(&STDIN) => {
                    if let Some(pipe) = stdin.as_mut()
                        && pipe.write_all(&data[1..]).await.is_err()
                    {
                        *stdin = None;
                    }
                }
                Some(&CLOSE) if data.get(1) == Some(&STDIN) => *stdin = None,
                _ => {}
            }
            true
        }
        Some(Ok(_)) => true,
    }
}

/// The exit code of a finished process; a signal `n` gives `128 + n`, as shells report.
fn exit_code(status: std::process::ExitStatus) -> i32 {
    if let Some(code) = status.code() {
        return code;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return 128 + signal;
        }
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_keeps_every_command_word_in_order() {
        let exec = parse_query(
            "command=sh&command=-c&command=echo+%24FOO%3B+exit+3&container=kafka&stdout=true&stderr=1&stdin=false&tty=false",
        );
        assert_eq!(exec.command, vec!["sh", "-c", "echo $FOO; exit 3"]);
        assert_eq!(exec.container.as_deref(), Some("kafka"));
        assert!(exec.stdout && exec.stderr && !exec.stdin);
    }

    #[test]
    fn the_first_offered_protocol_the_sandbox_speaks_wins() -> Result<(), String> {
        let mut headers = HeaderMap::new();
        headers.insert(header::UPGRADE, "websocket".parse().map_err(|_| "header")?);
        headers.insert(
            header::SEC_WEBSOCKET_KEY,
            "dGhlIHNhbXBsZSBub25jZQ==".parse().map_err(|_| "header")?,
        );
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            "v4.channel.k8s.io, v5.channel.k8s.io"
                .parse()
                .map_err(|_| "header")?,
        );
        let (accept, protocol) = negotiate(&headers).map_err(|e| format!("{e:?}"))?;
        assert_eq!(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(protocol, "v4.channel.k8s.io");
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            "channel.k8s.io".parse().map_err(|_| "header")?,
        );
        assert!(negotiate(&headers).is_err());
        headers.remove(header::UPGRADE);
        assert!(
            negotiate(&headers).is_err(),
            "SPDY and plain requests are refused"
        );
        Ok(())
    }

    #[test]
    fn a_non_zero_exit_code_is_a_failure_status_with_the_code_as_cause() {
        let command = vec!["nodetool".to_owned(), "ring".to_owned()];
        assert_eq!(
            exit_status(&command, 0),
            json!({"metadata": {}, "status": "Success"})
        );
        let failure = exit_status(&command, 127);
        assert_eq!(failure["reason"], "NonZeroExitCode");
        assert_eq!(failure["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(failure["details"]["causes"][0]["message"], "127");
        assert_eq!(
            failure["message"],
            "command terminated with non-zero exit code: error executing command [nodetool ring], exit code 127"
        );
    }
}
