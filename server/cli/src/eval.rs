//! `acdp eval CASES.jsonl --repo DIR [--model M] [--adapter A] [--baseline] [--json]`: scores
//! retrieval (and, with a model, answers and designs) on hand-written cases.

use std::path::PathBuf;

use acdp_eval::{ModelRun, evaluate, load_cases, report};
use acdp_retrieval::RetrievalMode;
use anyhow::Context;
use clap::Args;

use super::index::SelectionArgs;
use super::model_args::ModelArgs;
use super::repository::AnsweringRepository;

#[derive(Args)]
pub struct EvalArgs {
    /// JSON Lines of questions `{question, answer?, evidence: [{path, method|symbol}]}` and
    /// design requirements `{requirement, must_touch: [names]}`.
    pub cases: PathBuf,
    /// Repository the cases are about.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub repo: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
    /// With --adapter: run the base model too, on the same retrieval, side by side.
    #[arg(long)]
    pub baseline: bool,
    /// Rank with plain BM25 over chunk text only (what `acdp ask` did before it used the
    /// analysis), to see what the other signals are worth.
    #[arg(long)]
    pub text_only: bool,
    /// One JSON object per case, then `{"summary": ...}`.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub selection: SelectionArgs,
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    if args.baseline && args.model.adapter.is_none() {
        anyhow::bail!("--baseline compares the base model with --adapter: give an adapter");
    }
    if args.model.adapter.is_some() && args.model.model.is_none() {
        anyhow::bail!("--adapter needs --model: the base model the adapter was trained on");
    }
    let text = std::fs::read_to_string(&args.cases)
        .with_context(|| format!("cannot read {}", args.cases.display()))?;
    let repository = AnsweringRepository::load(&args.repo, &args.selection)?;
    let cases = load_cases(&args.cases, &text, &repository.index)?;
    let mode = if args.text_only {
        RetrievalMode::Text
    } else {
        RetrievalMode::Analysis
    };
    let retriever = repository.retriever(mode);
    let mut base = if args.baseline {
        args.model.load(false)?
    } else {
        None
    };
    let mut tuned = args.model.load(true)?;
    let mut runs = Vec::new();
    if let Some(model) = base.as_mut() {
        runs.push(ModelRun::with_model("base", model));
    }
    if let Some(model) = tuned.as_mut() {
        let label = if args.model.adapter.is_some() {
            "adapter"
        } else {
            "model"
        };
        runs.push(ModelRun::with_model(label, model));
    }
    let options = args.model.answer_options(&repository.name);
    let with_model = !runs.is_empty();
    let mut progress = |done: usize, total: usize| {
        if with_model {
            eprintln!("acdp eval: {done}/{total} cases");
        }
    };
    let report = evaluate(&cases, &retriever, &mut runs, &options, &mut progress)?;
    if args.json {
        print!("{}", report::json_lines(&report)?);
    } else {
        print!("{}", report::markdown(&report));
    }
    Ok(())
}
