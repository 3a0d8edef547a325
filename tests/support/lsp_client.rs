//! A small LSP client for tests: runs `acdp lsp` as a child process and speaks JSON-RPC with
//! Content-Length framing over its stdin/stdout. It answers the server's requests
//! (`window/workDoneProgress/create`, `client/registerCapability`) with `null` and records
//! every notification and request the server sends.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

use serde_json::{Value, json};

/// How long to wait for one message before declaring the server hung. A guard against a test
/// that never ends, not a performance assertion.
const HANG_GUARD: Duration = Duration::from_secs(120);

pub struct LspClient {
    child: Child,
    stdin: Option<ChildStdin>,
    incoming: Receiver<Value>,
    next_id: i64,
    /// Notifications and requests from the server, in arrival order.
    pub received: Vec<Value>,
    /// Responses that arrived while another one was awaited, by request id.
    responses: std::collections::HashMap<i64, Value>,
}

impl LspClient {
    /// Starts `acdp lsp`; its stderr goes to `stderr_log`.
    pub fn start(binary: &str, cwd: &Path, stderr_log: &Path) -> LspClient {
        let stderr = std::fs::File::create(stderr_log).expect("stderr log");
        let mut child = Command::new(binary)
            .arg("lsp")
            .current_dir(cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start acdp lsp");
        let stdout = child.stdout.take().expect("stdout");
        let stdin = child.stdin.take();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            while let Some(message) = read_message(&mut reader) {
                if tx.send(message).is_err() {
                    break;
                }
            }
        });
        LspClient {
            child,
            stdin,
            incoming: rx,
            next_id: 1,
            received: Vec::new(),
            responses: std::collections::HashMap::new(),
        }
    }

    /// Sends raw bytes as one framed message (for malformed-message tests).
    pub fn send_raw(&mut self, body: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        write!(stdin, "Content-Length: {}\r\n\r\n{}", body.len(), body).expect("write");
        stdin.flush().expect("flush");
    }

    fn send(&mut self, message: &Value) {
        self.send_raw(&message.to_string());
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Sends a request and returns its id without waiting.
    pub fn send_request(&mut self, method: &str, params: Value) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        id
    }

    /// Sends a request and waits for its response (the whole response object).
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params);
        self.response(id)
    }

    /// The `result` of a request; panics on an error response.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let response = self.request(method, params);
        assert!(
            response.get("error").is_none(),
            "{method} failed: {response}"
        );
        response["result"].clone()
    }

    /// Waits for the response to request `id`, handling everything that arrives before it;
    /// responses to other requests are kept for their own `response` call.
    pub fn response(&mut self, id: i64) -> Value {
        if let Some(found) = self.responses.remove(&id) {
            return found;
        }
        loop {
            let message = self.next_message();
            if message.get("method").is_some() {
                continue;
            }
            if message["id"] == json!(id) {
                return message;
            }
            if let Some(other) = message["id"].as_i64() {
                self.responses.insert(other, message);
            }
        }
    }

    /// Waits until a notification or request from the server matches `pred`; returns it.
    /// Messages received earlier are searched first.
    pub fn wait_for(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(found) = self.received.iter().find(|m| pred(m)) {
            return found.clone();
        }
        loop {
            let message = self.next_message();
            if message.get("method").is_some() && pred(&message) {
                return message;
            }
        }
    }

    /// The next message; server requests are answered and, like notifications, recorded.
    fn next_message(&mut self) -> Value {
        let message = match self.incoming.recv_timeout(HANG_GUARD) {
            Ok(message) => message,
            Err(RecvTimeoutError::Timeout) => panic!("the server sent nothing for {HANG_GUARD:?}"),
            Err(RecvTimeoutError::Disconnected) => panic!("the server closed its stdout"),
        };
        if message.get("method").is_some() {
            if let Some(id) = message.get("id") {
                let reply = json!({"jsonrpc": "2.0", "id": id, "result": null});
                self.send(&reply);
            }
            self.received.push(message.clone());
        }
        message
    }

    /// `shutdown`, then `exit`; returns the exit status.
    pub fn shutdown_and_exit(mut self) -> ExitStatus {
        let response = self.request("shutdown", Value::Null);
        assert!(response.get("error").is_none(), "shutdown: {response}");
        self.notify("exit", Value::Null);
        drop(self.stdin.take());
        self.child.wait().expect("wait for acdp lsp")
    }
}

impl Drop for LspClient {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn read_message(reader: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(value) = line.strip_prefix("Content-Length:") {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

/// Byte offset of an LSP (UTF-16) position in `text`.
pub fn offset_of(text: &str, line: u32, character: u32) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line as usize)
        .map(str::len)
        .sum();
    let mut units = 0;
    for (i, c) in text[line_start..].char_indices() {
        if units >= character as usize || c == '\n' {
            return line_start + i;
        }
        units += c.len_utf16();
    }
    text.len()
}

/// LSP (UTF-16) position of a byte offset in `text`.
pub fn position_of(text: &str, offset: usize) -> Value {
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let character: usize = before[line_start..].chars().map(char::len_utf16).sum();
    json!({"line": line, "character": character})
}

impl LspClient {
    /// Closes stdin and waits for the server to end (after an `exit` sent by the test).
    pub fn wait_exit(mut self) -> ExitStatus {
        drop(self.stdin.take());
        self.child.wait().expect("wait for acdp lsp")
    }
}
