//! `acdp ask --model DIR|FILE.gguf [--adapter DIR] [--repo DIR] [--design] [--json] "text"`: a
//! strict grounded answer (or design, with `--design`) citing the repository's chunks.

use std::path::PathBuf;

use acdp::model::answer::{AnswerOptions, GroundedAnswer, Task, answer_from_chunks};
use acdp::model::{GenerationOptions, LoadedModel, default_device, load_model};
use acdp::retrieval::RetrievalMode;
use anyhow::Context;
use clap::Args;

use super::index::SelectionArgs;
use super::repository::AnsweringRepository;

#[derive(Args)]
pub struct AskArgs {
    /// The question about the repository, or with --design the requirement.
    pub question: String,
    /// Propose a design for the requirement (the dataset's design shape), checked against the
    /// repository: changed components must exist, reused ones must be cited.
    #[arg(long)]
    pub design: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Repository to answer about.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub repo: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub selection: SelectionArgs,
}

/// The model and how it answers: shared by `acdp ask` and `acdp eval`.
#[derive(Args)]
pub struct ModelArgs {
    /// A Hugging Face model directory or a .gguf file.
    #[arg(long, value_name = "DIR|FILE.gguf")]
    pub model: Option<PathBuf>,
    /// A LoRA adapter directory (PEFT layout) to merge into safetensors weights.
    #[arg(long, value_name = "DIR")]
    pub adapter: Option<PathBuf>,
    #[arg(long, default_value_t = 512)]
    pub max_tokens: usize,
    /// Chunks given to the model.
    #[arg(long, default_value_t = 6)]
    pub top_k: usize,
    /// Tokens the prompt and answer may use together (at most the model's context); the
    /// lowest-ranked chunks are left out until the prompt fits.
    #[arg(long, value_name = "TOKENS")]
    pub max_context: Option<usize>,
    /// 0 for greedy decoding.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    #[arg(long)]
    pub top_p: Option<f64>,
    #[arg(long, default_value_t = 299792458)]
    pub seed: u64,
}

impl ModelArgs {
    pub fn answer_options(&self, repo_name: &str) -> AnswerOptions {
        AnswerOptions {
            top_k: self.top_k,
            repo_name: repo_name.to_string(),
            max_context: self.max_context,
            generation: GenerationOptions {
                max_tokens: self.max_tokens,
                temperature: self.temperature,
                top_p: self.top_p,
                seed: self.seed,
            },
            ..AnswerOptions::default()
        }
    }

    /// Loads the model, with the adapter when `with_adapter`.
    pub fn load(&self, with_adapter: bool) -> anyhow::Result<Option<LoadedModel>> {
        let Some(path) = &self.model else {
            return Ok(None);
        };
        let adapter = self.adapter.as_deref().filter(|_| with_adapter);
        let model = load_model(path, adapter, &default_device())
            .with_context(|| format!("loading the model from {}", path.display()))?;
        Ok(Some(model))
    }
}

pub fn run(args: AskArgs) -> anyhow::Result<()> {
    let repository = AnsweringRepository::load(&args.repo, &args.selection)?;
    let retriever = repository.retriever(RetrievalMode::Analysis);
    let Some(mut model) = args.model.load(true)? else {
        anyhow::bail!("acdp ask needs --model DIR|FILE.gguf: a Qwen2.5 directory or GGUF file");
    };
    let options = args.model.answer_options(&repository.name);
    let retrieved = retriever.search(&args.question, options.top_k);
    let exists = |name: &str| retriever.knows(name);
    let task = if args.design {
        Task::Design { exists: &exists }
    } else {
        Task::Question
    };
    let answer = answer_from_chunks(&mut model, task, &args.question, retrieved, &options)?;
    print_answer(&answer, args.json)
}

fn print_answer(answer: &GroundedAnswer, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(answer)?);
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
    if !answer.dropped.is_empty() {
        eprintln!(
            "acdp ask: {} chunk(s) left out to fit the model's context: {}",
            answer.dropped.len(),
            answer.dropped.join(", ")
        );
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
