//! The response cache: one JSON file per completed chat request, named by the blake3 hash of
//! the request exactly as sent (model, messages, parameters, response format), so a rerun
//! reads what was paid for instead of asking again.
//!
//! Only replies the server completed (HTTP 200) are stored, usable or not: a malformed reply
//! read back is rejected the same way, for free. Failed HTTP calls are not stored, so a rerun
//! tries them again. Entries are written atomically; an unreadable entry counts as a miss.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Bumped when the entry layout or the key derivation changes.
const CACHE_VERSION: &[u8] = b"acdp-llm-cache-v1\0";

/// What is kept of a completed reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedReply {
    /// The hex key, repeated so an entry can be checked against its name.
    pub key: String,
    /// The model the server says answered.
    pub model: String,
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// `stop`, `length`, `content_filter` ... as the server sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// The key of a request: blake3 over its JSON serialization.
pub fn request_key(request_json: &[u8]) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(CACHE_VERSION);
    hasher.update(request_json);
    hasher.finalize().to_hex().to_string()
}

/// A folder of cached replies.
pub struct ResponseCache {
    dir: PathBuf,
}

impl ResponseCache {
    pub fn new(dir: &Path) -> ResponseCache {
        ResponseCache {
            dir: dir.to_path_buf(),
        }
    }

    /// `<dir>/<first two hex>/<key>.json`: the fan-out keeps folders small on large runs.
    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..2]).join(format!("{key}.json"))
    }

    pub fn get(&self, key: &str) -> Option<CachedReply> {
        let bytes = std::fs::read(self.path(key)).ok()?;
        let reply: CachedReply = serde_json::from_slice(&bytes).ok()?;
        (reply.key == key).then_some(reply)
    }

    pub fn put(&self, reply: &CachedReply) -> std::io::Result<()> {
        let path = self.path(&reply.key);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let bytes = serde_json::to_vec_pretty(reply).map_err(std::io::Error::other)?;
        acdp_durable::write_atomic(&path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corrupt_entries_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ResponseCache::new(dir.path());
        let key = request_key(br#"{"model":"m"}"#);
        assert_ne!(key, request_key(br#"{"model":"n"}"#));
        assert!(cache.get(&key).is_none());
        let reply = CachedReply {
            key: key.clone(),
            model: "m".to_owned(),
            content: Some("{}".to_owned()),
            refusal: None,
            finish_reason: Some("stop".to_owned()),
            prompt_tokens: 3,
            completion_tokens: 1,
        };
        cache.put(&reply).unwrap();
        assert_eq!(cache.get(&key), Some(reply));
        std::fs::write(cache.path(&key), b"{ not json").unwrap();
        assert!(cache.get(&key).is_none());
    }
}
