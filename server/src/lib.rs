//! acdp: turns a Java repository into repository-grounded training data.
//!
//! The crate follows the pipeline, and each module depends only on the ones before it:
//!
//! - [`config`]: the project file `acdp.toml` (shared settings, no logic).
//! - [`durable`]: atomic, fsynced file writes (used by every stage that writes).
//! - [`index`]: files -> chunks with stable ids, cold (parallel, cached) and live (incremental).
//! - [`analysis`]: symbols, call graph, domains, business rules, flows and state machines.
//! - [`retrieval`]: the chunks that answer a question, ranked over code and analysis facts.
//! - [`generate`]: QA and design samples from the analysis (offline) or an LLM endpoint.
//! - [`dataset`]: the sample schema, validation, dedup, leak-free splits, export, reports.
//! - [`model`]: Qwen2.5 with candle: LoRA training (PEFT adapters) and strict grounded answers.
//! - [`eval`]: retrieval and answers scored on hand-written questions (`acdp eval`).
//! - [`lsp`]: the language server, a thin shell that converts protocol types to library calls.
//!
//! The `acdp` binary and the language server are thin shells over these calls.

pub mod analysis;
pub mod config;
pub mod dataset;
pub mod durable;
pub mod eval;
pub mod generate;
pub mod index;
pub mod lsp;
pub mod model;
pub mod retrieval;
