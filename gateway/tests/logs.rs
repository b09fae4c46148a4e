//! Logs an operator can ship: `PORA_LOG_FORMAT=json` gives one JSON object per line, one
//! `pora::access` line per request carrying the caller's `x-request-id` (echoed in the answer)
//! and never a token; text written to a pipe has no colour codes; a bad `PORA_LOG` stops the start.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_pora-gateway");

struct Gateway {
    child: Child,
    port: u16,
    token: String,
    stderr: Receiver<String>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines(stream: impl Read + Send + 'static) -> Receiver<String> {
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                return;
            }
        }
    });
    receive
}

/// Starts the gateway logging in `format`: a `PORA_LOG_FORMAT` value, or `file:F` for
/// `log_format = "F"` in a configuration file.
fn start(dir: &std::path::Path, format: &str) -> Gateway {
    let mut command = Command::new(BIN);
    command
        .arg("serve")
        .env("PORA_DATA_DIR", dir)
        .env("PORA_LISTEN", "127.0.0.1:0")
        .env("PORA_LOG", "info");
    match format.strip_prefix("file:") {
        Some(in_file) => {
            let file = dir.join("pora.toml");
            std::fs::write(&file, format!("log_format = \"{in_file}\"\n")).expect("config");
            command
                .arg("--config")
                .arg(file)
                .env_remove("PORA_LOG_FORMAT");
        }
        None => {
            command.env("PORA_LOG_FORMAT", format);
        }
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start");
    let stdout = lines(child.stdout.take().expect("stdout"));
    let stderr = lines(child.stderr.take().expect("stderr"));
    let mut gateway = Gateway {
        child,
        port: 0,
        token: String::new(),
        stderr,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while gateway.port == 0 || gateway.token.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = stdout.recv_timeout(left) else {
            panic!("no welcome within 60 s");
        };
        if let Some(url) = line.strip_prefix("PORA Gateway listening on http://127.0.0.1:") {
            gateway.port = url
                .split('/')
                .next()
                .and_then(|p| p.parse().ok())
                .expect("port");
        }
        if let Some(token) = line.trim().strip_prefix("export TOKEN_POLICE=") {
            gateway.token = token.to_owned();
        }
    }
    // Ready when `/livez` answers (the workers start just after the welcome).
    while !get(&gateway, "/livez").starts_with("HTTP/1.1 200") {
        assert!(Instant::now() < deadline, "/livez never answered");
        std::thread::sleep(Duration::from_millis(50));
    }
    gateway
}

fn get(gateway: &Gateway, path: &str) -> String {
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", gateway.port)) else {
        return String::new();
    };
    let _ = write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    );
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

/// One HTTP/1.1 POST; returns the raw answer.
fn post(gateway: &Gateway, request_id: &str, body: &str) -> String {
    post_with(gateway, request_id, "", body)
}

/// One HTTP/1.1 POST with `headers` (each ending in `\r\n`) added.
fn post_with(gateway: &Gateway, request_id: &str, headers: &str, body: &str) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", gateway.port)).expect("connect");
    write!(
        stream,
        "POST /graphql HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nx-request-id: {request_id}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        gateway.token,
        body.len()
    )
    .expect("write");
    // Read to the end; a reset after the answer (the server closing first) ends it too.
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buffer) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..n]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}

fn stderr_until(gateway: &Gateway, found: impl Fn(&str) -> bool) -> Vec<String> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = gateway.stderr.recv_timeout(left) else {
            panic!("not logged within 30 s: {seen:#?}");
        };
        let done = found(&line);
        seen.push(line);
        if done {
            return seen;
        }
    }
}

#[test]
fn json_logs_have_one_access_line_per_request_with_its_id() {
    let temp = tempfile::tempdir().expect("temp dir");
    let gateway = start(temp.path(), "json");
    let answer = post(
        &gateway,
        "trace-abc-123",
        r#"{"query":"query Who { viewer { role } }","operationName":"Who"}"#,
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer
            .to_lowercase()
            .contains("x-request-id: trace-abc-123"),
        "{answer}"
    );
    let seen = stderr_until(&gateway, |l| l.contains("trace-abc-123"));
    for line in &seen {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(value.is_object());
        assert!(!line.contains(&gateway.token), "a token in the log: {line}");
    }
    let access: serde_json::Value = serde_json::from_str(seen.last().expect("line")).expect("json");
    assert_eq!(access["target"], "pora::access");
    assert_eq!(access["level"], "INFO");
    assert_eq!(access["status"], 200);
    assert_eq!(access["path"], "/graphql");
    assert_eq!(access["role"], "police");
    assert_eq!(access["agency"], "POLRES-JKP");
    assert_eq!(access["operation_name"], "Who");
    // An unusable request id is replaced, never logged as sent.
    let answer = post(
        &gateway,
        "bad id with spaces",
        r#"{"query":"{ viewer { role } }"}"#,
    );
    assert!(!answer.contains("bad id with spaces"), "{answer}");
}

#[test]
fn log_format_from_the_file_and_the_callers_trace_id_in_the_access_line() {
    let temp = tempfile::tempdir().expect("temp dir");
    let gateway = start(temp.path(), "file:json");
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let answer = post_with(
        &gateway,
        "traced-1",
        &format!("traceparent: 00-{trace_id}-b7ad6b7169203331-01\r\n"),
        r#"{"query":"{ incidents(first: 2) { nodes { id } } }"}"#,
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let seen = stderr_until(&gateway, |l| l.contains("traced-1"));
    for line in &seen {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|_| panic!("log_format = \"json\" in the file, yet: {line}"));
    }
    let access: serde_json::Value = serde_json::from_str(seen.last().expect("line")).expect("json");
    assert_eq!(access["target"], "pora::access");
    assert_eq!(access["trace_id"], trace_id);
    assert_eq!(access["operation_type"], "query");
    assert_eq!(access["outcome"], "ok");
    assert_eq!(access["rows"], 2);
    assert_eq!(access["sql_statements"], "1");
    // A malformed traceparent is ignored, as the W3C specification asks.
    post_with(
        &gateway,
        "traced-2",
        "traceparent: 00-not-a-trace-01\r\n",
        r#"{"query":"{ viewer { role } }"}"#,
    );
    let seen = stderr_until(&gateway, |l| l.contains("traced-2"));
    let access: serde_json::Value = serde_json::from_str(seen.last().expect("line")).expect("json");
    assert_eq!(access["trace_id"], "");
    assert_eq!(access["status"], 200);
}

#[test]
fn text_logs_to_a_pipe_have_no_colour_codes() {
    let temp = tempfile::tempdir().expect("temp dir");
    let gateway = start(temp.path(), "text");
    let answer = post(&gateway, "plain-1", r#"{"query":"{ viewer { role } }"}"#);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let seen = stderr_until(&gateway, |l| l.contains("plain-1"));
    for line in seen {
        assert!(!line.contains('\u{1b}'), "colour codes: {line:?}");
    }
}

#[test]
fn an_invalid_log_filter_stops_the_start() {
    let output = Command::new(BIN)
        .args(["config", "check"])
        .env("PORA_LOG", "gateway=loudest")
        .output()
        .expect("run");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("PORA_LOG"));
}
