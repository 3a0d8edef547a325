//! `acdp lsp`: the language server on stdin/stdout (see docs/lsp.md).

use std::path::PathBuf;

use clap::Args;

use acdp_lsp::{ServeOptions, serve_stdio};

#[derive(Args)]
pub struct LspArgs {
    /// Write the log here instead of `<workspace>/.acdp/lsp.log` (or the client's
    /// `initializationOptions.logFile`).
    #[arg(long, value_name = "PATH")]
    pub log_file: Option<PathBuf>,
    /// Accepted for clients that pass it; stdio is the only transport.
    #[arg(long, hide = true)]
    pub stdio: bool,
}

pub fn run(args: LspArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let served = runtime.block_on(serve_stdio(ServeOptions {
        log_file: args.log_file,
    }));
    // tokio reads stdin on a blocking thread that stays parked in `read` until the client
    // closes the pipe; dropping the runtime would wait for it, so after `exit` the process
    // would live on. Leave that thread behind instead: the process ends right away.
    runtime.shutdown_background();
    served
}
