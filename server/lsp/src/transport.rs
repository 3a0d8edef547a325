//! A guard in front of the protocol reader. tower-lsp-server stops reading for good after a
//! message whose body is not JSON (its framed reader ends the stream on the first decode
//! error), which would end the server on one bad message. Frames are checked here first: a
//! frame whose body is not JSON, or whose header has no `Content-Length`, is replaced by an
//! `acdp/internal/malformedMessage` notification that the server logs, and reading goes on.

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream};

/// The method of the notification that stands in for a malformed message.
pub const MALFORMED_MESSAGE: &str = "acdp/internal/malformedMessage";

/// A frame body larger than this is refused rather than allocated.
const MAX_BODY: usize = 256 * 1024 * 1024;

/// Returns a reader that yields `input`'s well-formed frames unchanged and a stand-in for each
/// malformed one. The copying runs in a task until `input` ends.
pub fn guard_input<R: AsyncRead + Unpin + Send + 'static>(input: R) -> DuplexStream {
    let (mut to_server, from_guard) = tokio::io::duplex(1 << 16);
    tokio::spawn(async move {
        let mut input = BufReader::new(input);
        while let Some(frame) = next_frame(&mut input).await {
            let body = match frame {
                Ok(body) if serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_ok() => body,
                Ok(body) => stand_in(&format!(
                    "a message of {} bytes is not JSON; it was ignored",
                    body.len()
                )),
                Err(problem) => stand_in(&problem),
            };
            let header = format!("Content-Length: {}\r\n\r\n", body.len());
            if to_server.write_all(header.as_bytes()).await.is_err()
                || to_server.write_all(&body).await.is_err()
            {
                break;
            }
        }
    });
    from_guard
}

fn stand_in(problem: &str) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "method": MALFORMED_MESSAGE, "params": {"problem": problem}})
        .to_string()
        .into_bytes()
}

/// The next frame's body; `Err` for a frame that cannot be used; `None` at the end of input.
async fn next_frame<R: AsyncRead + Unpin>(
    input: &mut BufReader<R>,
) -> Option<Result<Vec<u8>, String>> {
    let mut length = None;
    let mut saw_header = false;
    loop {
        let mut line = String::new();
        match input.read_line(&mut line).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            if saw_header {
                break;
            }
            continue;
        }
        saw_header = true;
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let Some(length) = length.filter(|&n| n <= MAX_BODY) else {
        return Some(Err(
            "a message header had no valid Content-Length; it was ignored".to_owned(),
        ));
    };
    let mut body = vec![0; length];
    input.read_exact(&mut body).await.ok()?;
    Some(Ok(body))
}
