//! A fake OpenAI-compatible server (tokio, HTTP/1.1) with scripted replies: what the LLM
//! generator's tests and the language server's tests talk to instead of a model.
#![allow(dead_code)] // each test binary uses its own part

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use acdp_generate::llm::PROBE_MARKER;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the server answers to one request.
pub struct Reply {
    pub status: u16,
    pub body: String,
    /// Waits this long before answering (longer than the client's timeout: a timeout).
    pub delay: Duration,
    /// Sends only this many bytes of the body, then closes (a reply cut off in transit).
    pub cut_at: Option<usize>,
}

/// Answers a request body, given how many requests of the same scenario came before.
pub type Script = Arc<dyn Fn(&Value, usize) -> Reply + Send + Sync>;

#[derive(Default)]
pub struct Seen {
    bodies: Vec<Value>,
    probes: Vec<Value>,
    attempts: HashMap<String, usize>,
}

pub struct FakeServer {
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
}

impl FakeServer {
    /// A server that answers acdp's capability probes like a server that takes every
    /// `response_format` and honours `seed`, and everything else by `script`.
    pub async fn start(script: Script) -> FakeServer {
        Self::start_raw(Arc::new(move |body, attempt| {
            if is_probe(body) {
                honest_probe_reply(body)
            } else {
                script(body, attempt)
            }
        }))
        .await
    }

    /// A server whose `script` answers the probes too.
    pub async fn start_raw(script: Script) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let shared = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (seen, script) = (shared.clone(), script.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, seen, script).await;
                });
            }
        });
        FakeServer { addr, seen }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Probe requests received so far.
    pub fn probes(&self) -> Vec<Value> {
        self.seen.lock().unwrap().probes.clone()
    }

    /// Chat completion requests received so far, probes not counted.
    pub fn requests(&self) -> usize {
        self.seen.lock().unwrap().bodies.len()
    }

    pub fn bodies(&self) -> Vec<Value> {
        self.seen.lock().unwrap().bodies.clone()
    }
}

pub async fn serve(
    mut stream: TcpStream,
    seen: Arc<Mutex<Seen>>,
    script: Script,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let header_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let reply = if head.starts_with("post /v1/chat/completions ") {
        let body: Value = serde_json::from_slice(&buf[header_end..header_end + length])
            .expect("the client sends JSON");
        let attempt = {
            let mut seen = seen.lock().unwrap();
            if is_probe(&body) {
                seen.probes.push(body.clone());
            } else {
                seen.bodies.push(body.clone());
            }
            let count = seen.attempts.entry(scenario_of(&body)).or_default();
            *count += 1;
            *count - 1
        };
        script(&body, attempt)
    } else {
        error(404)
    };
    tokio::time::sleep(reply.delay).await;
    let reason = match reply.status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Error",
    };
    let sent = &reply.body[..reply.cut_at.unwrap_or(reply.body.len())];
    let response = format!(
        "HTTP/1.1 {} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{sent}",
        reply.status,
        reply.body.len(),
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// Whether the request is one of acdp's capability probes.
pub fn is_probe(body: &Value) -> bool {
    body["messages"].as_array().is_some_and(|messages| {
        messages.iter().any(|m| {
            m["content"]
                .as_str()
                .is_some_and(|c| c.contains(PROBE_MARKER))
        })
    })
}

/// What a server that enforces every schema and honours the seed answers a probe: the one
/// value the probe's schema allows, or words that depend on the seed only.
pub fn honest_probe_reply(body: &Value) -> Reply {
    let format = &body["response_format"];
    let schema = if format["type"] == "json_schema" {
        &format["json_schema"]["schema"]
    } else {
        &format["schema"]
    };
    match schema["properties"]["answer"]["enum"][0].as_str() {
        Some(allowed) => completion(&json!({"answer": allowed}).to_string(), "stop"),
        None if format.is_null() => completion(&format!("words of seed {}", body["seed"]), "stop"),
        None => completion(r#"{"answer": "word"}"#, "stop"),
    }
}

/// The text of the request's last user message that is not a correction.
pub fn user_text(body: &Value) -> String {
    let content = &body["messages"][1]["content"];
    content
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| content.to_string())
}

/// The `[[scenario:NAME]]` tag in the question.
pub fn scenario_of(body: &Value) -> String {
    let text = user_text(body);
    text.split("[[scenario:")
        .nth(1)
        .and_then(|rest| rest.split("]]").next())
        .unwrap_or("none")
        .to_owned()
}

/// Whether the request is a re-ask (the first reply and a correction follow the question).
pub fn is_reask(body: &Value) -> bool {
    body["messages"].as_array().is_some_and(|m| m.len() > 2)
}

pub fn completion(content: &str, finish_reason: &str) -> Reply {
    let body = json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": "fake-model",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": finish_reason,
        }],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
    });
    Reply {
        status: 200,
        body: body.to_string(),
        delay: Duration::ZERO,
        cut_at: None,
    }
}

pub fn error(status: u16) -> Reply {
    let body = json!({"error": {"message": format!("scripted {status}"), "type": "fake",
        "param": null, "code": null}});
    Reply {
        status,
        body: body.to_string(),
        delay: Duration::ZERO,
        cut_at: None,
    }
}

/// The evidence ids a request's schema allows (the `enum` of its citations).
pub fn allowed_ids(body: &Value) -> Vec<String> {
    let format = &body["response_format"];
    let schema = if format["type"] == "json_schema" {
        &format["json_schema"]["schema"]
    } else {
        &format["schema"]
    };
    let trace = if schema["properties"]["samples"].is_null() {
        &schema["properties"]["trace"]
    } else {
        &schema["properties"]["samples"]["items"]["properties"]["trace"]
    };
    trace["items"]["properties"]["evidence"]["items"]["enum"]
        .as_array()
        .map(|ids| {
            ids.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A grounded reply in plain words (no identifiers or numbers to check) citing the first two
/// allowed ids: an answer for an answer request, one written question for a topic.
pub fn grounded_reply(body: &Value) -> Reply {
    let ids = allowed_ids(body);
    let (first, second) = match ids.as_slice() {
        [] => panic!("a request without citable ids: {body}"),
        [only] => (only.clone(), only.clone()),
        [first, second, ..] => (first.clone(), second.clone()),
    };
    let trace = json!([
        {"claim": "The first chunk reads the request and checks it.", "evidence": [first]},
        {"claim": "The second chunk continues with the stored record.", "evidence": [second]},
    ]);
    let answer = "The code checks the request first and then stores the record.";
    let topic = user_text(body).starts_with("Topic: ");
    let content = if topic {
        json!({"samples": [{"question": "What does this code check before it stores anything?",
            "answer": answer, "trace": trace}]})
    } else {
        json!({"answer": answer, "trace": trace})
    };
    completion(&content.to_string(), "stop")
}
