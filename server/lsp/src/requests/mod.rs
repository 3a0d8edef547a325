//! One file per request. Each exposes a plain function over a [`super::session::Session`] and
//! protocol types, so the server, tests and benches call the same code; none of them touches
//! the client.

pub mod ask;
pub mod chunk;
pub mod code_action;
pub mod execute_command;
pub mod hover;
pub mod review_commands;
pub mod sample_commands;
pub mod samples;
