//! `acdp ask --model DIR|FILE.gguf [--adapter DIR] [--repo DIR] [--json] "question"`: a strict
//! grounded answer with citations of the repository's chunks.

use std::path::PathBuf;

use acdp::index::index_workspace;
use acdp::model::answer::{AnswerOptions, Bm25Index, answer_question};
use acdp::model::{GenerationOptions, default_device, load_model};
use anyhow::Context;
use clap::Args;

use super::index::SelectionArgs;

#[derive(Args)]
pub struct AskArgs {
    /// The question about the repository.
    pub question: String,
    /// A Hugging Face model directory or a .gguf file.
    #[arg(long, value_name = "DIR|FILE.gguf")]
    pub model: PathBuf,
    /// A LoRA adapter directory (PEFT layout) to merge into safetensors weights.
    #[arg(long, value_name = "DIR")]
    pub adapter: Option<PathBuf>,
    /// Repository to answer about.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub repo: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    #[arg(long, default_value_t = 512)]
    pub max_tokens: usize,
    /// Chunks given to the model.
    #[arg(long, default_value_t = 6)]
    pub top_k: usize,
    /// 0 for greedy decoding.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    #[arg(long)]
    pub top_p: Option<f64>,
    #[arg(long, default_value_t = 299792458)]
    pub seed: u64,
    #[command(flatten)]
    pub selection: SelectionArgs,
}

pub fn run(args: AskArgs) -> anyhow::Result<()> {
    let options = args.selection.options(&args.repo)?;
    let index = index_workspace(&args.repo, &options)?;
    let retrieval = Bm25Index::build(&index);
    let device = default_device();
    let mut model = load_model(&args.model, args.adapter.as_deref(), &device)
        .with_context(|| format!("loading the model from {}", args.model.display()))?;
    let answer_options = AnswerOptions {
        top_k: args.top_k,
        generation: GenerationOptions {
            max_tokens: args.max_tokens,
            temperature: args.temperature,
            top_p: args.top_p,
            seed: args.seed,
        },
        ..AnswerOptions::default()
    };
    let answer = answer_question(&mut model, &retrieval, &args.question, &answer_options)?;
    if args.json {
        println!("{}", serde_json::to_string(&answer)?);
    } else {
        println!("{}", answer.answer);
        println!();
        for citation in &answer.citations {
            println!(
                "[{}] {}:{}-{}",
                citation.chunk_id, citation.path, citation.start_line, citation.end_line
            );
        }
        for problem in &answer.problems {
            eprintln!("acdp ask: check failed: {problem}");
        }
    }
    let s = &answer.stats;
    eprintln!(
        "acdp ask: prompt {} tokens at {:.1} tok/s, generated {} tokens at {:.1} tok/s, validated: {}",
        s.prompt_tokens,
        s.prompt_tokens_per_s,
        s.generated_tokens,
        s.generated_tokens_per_s,
        answer.validated
    );
    Ok(())
}
