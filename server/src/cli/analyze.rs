//! `acdp analyze` (being written).
use clap::Args;

#[derive(Args)]
pub struct AnalyzeArgs {}

pub fn run(_args: AnalyzeArgs) -> anyhow::Result<()> {
    anyhow::bail!("`acdp analyze` is not implemented yet")
}
