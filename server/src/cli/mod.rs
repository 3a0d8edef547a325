//! Subcommands of `acdp`, one module each; each turns flags into library calls and prints.

mod analyze;
mod bench;
mod index;
mod lsp;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "acdp",
    version,
    about = "Repository-grounded training data from Java code"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Index a repository: print its chunks with stable ids.
    Index(index::IndexArgs),
    /// Analyse a repository: domains, rules, flows and state machines.
    Analyze(analyze::AnalyzeArgs),
    /// Run the language server on stdio.
    Lsp(lsp::LspArgs),
    /// Measure indexing speed on a fixture and on generated repositories.
    Bench(bench::BenchArgs),
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Index(args) => index::run(args),
        Command::Analyze(args) => analyze::run(args),
        Command::Lsp(args) => lsp::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("acdp: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
