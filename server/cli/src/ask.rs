//! `acdp ask --model DIR|FILE.gguf [--adapter DIR] [--repo DIR] [--design] [--json] "text"`: a
//! strict grounded answer (or design, with `--design`) citing the repository's chunks.

use std::path::PathBuf;

use acdp_model::answer::{GroundedAnswer, Task, answer_from_chunks};
use acdp_retrieval::RetrievalMode;
use clap::Args;

use super::index::SelectionArgs;
use super::model_args::ModelArgs;
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
