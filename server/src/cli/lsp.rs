//! `acdp lsp` (being written).
use clap::Args;

#[derive(Args)]
pub struct LspArgs {}

pub fn run(_args: LspArgs) -> anyhow::Result<()> {
    anyhow::bail!("`acdp lsp` is not implemented yet")
}
