//! The `acdp` command line: one module per subcommand; each turns flags into library calls
//! and prints. No pipeline logic lives here.

mod analyze;
mod ask;
mod bench;
mod eval;
mod export_adapter;
mod index;
mod logits;
mod lsp;
mod model_args;
mod pipeline;
mod repository;
mod train;
mod validate;

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
    /// Build a dataset: index, analyse, generate, validate, dedup, split and export.
    Pipeline(pipeline::PipelineArgs),
    /// Re-check an existing dataset against the current code; list stale samples.
    Validate(validate::ValidateArgs),
    /// Fine-tune LoRA adapters on an exported dataset.
    Train(train::TrainArgs),
    /// Answer a question about a repository, citing its code.
    Ask(ask::AskArgs),
    /// Score retrieval (and a model's answers) on hand-written questions and requirements.
    Eval(eval::EvalArgs),
    /// Run the language server on stdio.
    Lsp(lsp::LspArgs),
    /// Measure indexing speed on a fixture and on generated repositories.
    Bench(bench::BenchArgs),
    /// Write a LoRA adapter for other engines: llama.cpp's LoRA GGUF.
    ExportAdapter(export_adapter::ExportAdapterArgs),
    /// Print the next-token logits after given token ids (parity checks with other engines).
    Logits(logits::LogitsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Index(args) => index::run(args),
        Command::Analyze(args) => analyze::run(args),
        Command::Lsp(args) => lsp::run(args),
        Command::Pipeline(args) => pipeline::run(args),
        Command::Validate(args) => match validate::run(args) {
            Ok(code) => return code,
            Err(err) => Err(err),
        },
        Command::Bench(args) => bench::run(args),
        Command::Train(args) => train::run(args),
        Command::Ask(args) => ask::run(args),
        Command::Eval(args) => eval::run(args),
        Command::ExportAdapter(args) => export_adapter::run(args),
        Command::Logits(args) => logits::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("acdp: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
