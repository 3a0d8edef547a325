//! The language server (`acdp lsp`): a thin shell that converts LSP messages into index,
//! analysis, generate and dataset calls and back. See docs/lsp.md for the protocol.
//!
//! - [`session`]: what the server knows (open documents, indexed files, settings);
//! - [`settings`]: `initializationOptions` and `workspace/didChangeConfiguration`;
//! - [`convert`]: URIs and UTF-16 positions to repository paths and byte offsets;
//! - [`requests`] and [`notifications`]: one file per LSP method, each a plain function over
//!   the session that a bench can call without a client;
//! - [`indexing`]: background indexing and analysis with `$/progress`;
//! - [`snapshot`]: the analysis each folder answers hover and the sample commands from;
//! - [`stale_evidence`]: diagnostics on code the editor's samples (`.acdp/samples.jsonl`,
//!   `acdp_dataset::workspace_samples`) cite that has changed since;
//! - [`export`]: `acdp.exportDataset`, the steps of `acdp pipeline` with `$/progress`;
//! - [`evaluation`]: `acdp.eval`, `acdp eval`'s library call with `$/progress`;
//! - [`training`]: `acdp.train`, `acdp train`'s library call with `$/progress` and cancel;
//! - [`progress`]: asking the client for a progress token, for those three jobs;
//! - `requests::ask`: `acdp/ask` and hover answers, the model of `acdp ask`;
//! - [`transport`]: keeps one malformed message from ending the server;
//! - [`server`]: the `LanguageServer` impl that locks the session, calls those functions,
//!   catches panics and talks to the client.
//!
//! It does no parsing, chunking, analysis, retrieval or training of its own.

pub mod convert;
pub mod error_codes;
pub mod evaluation;
pub mod export;
pub mod indexing;
pub mod llm_generation;
pub mod log;
pub mod notifications;
pub mod progress;
pub mod requests;
pub mod server;
pub mod session;
pub mod settings;
pub mod snapshot;
pub mod stale_evidence;
pub mod training;
pub mod transport;

pub use server::{ServeOptions, serve, serve_stdio};
