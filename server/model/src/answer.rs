//! Strict grounded answering: give the retrieved chunks to the model with their chunk_ids, in
//! the prompt shape the training data used; check the answer ([`super::answer_check`]); retry
//! once; else "not enough evidence".
//!
//! Two tasks share the loop: a question (an answer citing chunks) and a requirement (a design
//! in the dataset's design shape). The model's answer is never rewritten to pass the check.

use serde::Serialize;

pub use super::answer_check::{AnswerCheck, check_answer, check_design, citations};
use super::chat::Message;
use super::{GenerationOptions, LoadedModel, Result, StopReason};
pub use acdp_retrieval::RetrievedChunk;
use acdp_retrieval::Retriever;
use acdp_sample::SampleLanguage;
use acdp_sample::prompt::{PromptChunk, system_prompt, user_turn_with};

/// What the user gets when the model's answers fail the check twice.
pub const NOT_ENOUGH_EVIDENCE: &str = "not enough evidence";

/// What the model is asked for.
#[derive(Clone, Copy)]
pub enum Task<'a> {
    /// An answer to a question, citing chunks.
    Question,
    /// A design for a requirement, in the dataset's design shape. `exists` tells whether the
    /// repository has a component of that name (changed components must, added ones must not).
    Design {
        exists: &'a (dyn Fn(&str) -> bool + Sync),
    },
}

impl Task<'_> {
    fn check(&self, answer: &str, prompt: &str, retrieved: &[RetrievedChunk]) -> AnswerCheck {
        match self {
            Task::Question => check_answer(answer, prompt, retrieved),
            Task::Design { exists } => check_design(answer, prompt, retrieved, *exists),
        }
    }
}

/// The conversation given to the model: the training data's system prompt, then the question
/// or requirement with the chunks as evidence (each cut to `max_chunk_chars`), in Chinese
/// when the question is (as the Chinese training samples are), else in English.
pub fn grounded_messages(
    repo_name: &str,
    prompt: &str,
    chunks: &[RetrievedChunk],
    max_chunk_chars: usize,
) -> Vec<Message> {
    let language = if prompt.chars().any(super::answer_check::is_cjk) {
        SampleLanguage::Zh
    } else {
        SampleLanguage::En
    };
    let user = user_turn_with(
        prompt,
        chunks.iter().map(|c| PromptChunk {
            chunk_id: &c.chunk_id,
            path: &c.path,
            start_line: c.start_line,
            end_line: c.end_line,
            symbol: &c.symbol,
            code: cut(&c.text, max_chunk_chars),
        }),
        language,
    );
    vec![
        Message::new("system", system_prompt(repo_name, language)),
        Message::new("user", user),
    ]
}

fn cut(text: &str, max_chars: usize) -> &str {
    if text.len() <= max_chars {
        return text;
    }
    let mut end = max_chars;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[derive(Clone, Debug, Serialize)]
pub struct Citation {
    pub chunk_id: String,
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct AnswerStats {
    pub prompt_tokens: usize,
    pub prompt_tokens_per_s: f64,
    pub generated_tokens: usize,
    pub generated_tokens_per_s: f64,
}

/// The result of [`answer_question`], in the shape `acdp ask --json` prints.
#[derive(Clone, Debug, Serialize)]
pub struct GroundedAnswer {
    pub answer: String,
    pub citations: Vec<Citation>,
    /// The chunks given to the model, best first.
    pub retrieved: Vec<String>,
    /// Retrieved chunks left out because the prompt would not fit the model's context, lowest
    /// ranked first out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<String>,
    pub validated: bool,
    pub stats: AnswerStats,
    /// Why the attempts failed the check (empty when validated).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct AnswerOptions {
    pub top_k: usize,
    pub max_chunk_chars: usize,
    /// The repository's name, as the training data's system prompt names it.
    pub repo_name: String,
    /// Tokens the prompt and answer may use together; the model's context when `None`.
    pub max_context: Option<usize>,
    pub generation: GenerationOptions,
}

impl Default for AnswerOptions {
    fn default() -> Self {
        AnswerOptions {
            top_k: 6,
            max_chunk_chars: 2000,
            repo_name: "repository".to_string(),
            max_context: None,
            generation: GenerationOptions::default(),
        }
    }
}

/// Retrieves, asks, checks; retries once (with a different seed); otherwise answers
/// [`NOT_ENOUGH_EVIDENCE`] and cites the retrieved chunks.
pub fn answer_question(
    model: &mut LoadedModel,
    retrieval: &Retriever,
    question: &str,
    options: &AnswerOptions,
) -> Result<GroundedAnswer> {
    let retrieved = retrieval.search(question, options.top_k);
    answer_from_chunks(model, Task::Question, question, retrieved, options)
}

/// A prompt fitted to the context, or why none fits.
enum Fitted {
    Prompt {
        messages: Vec<Message>,
        kept: Vec<RetrievedChunk>,
        dropped: Vec<String>,
    },
    /// Not even the best chunk fits.
    TooLong(String),
}

/// The messages for `prompt` with as many of `retrieved` (best first) as fit the context with
/// room for the answer; the rest are returned as dropped, lowest ranked first out.
fn fitted_messages(
    model: &LoadedModel,
    prompt: &str,
    mut retrieved: Vec<RetrievedChunk>,
    options: &AnswerOptions,
) -> Result<Fitted> {
    let context = options
        .max_context
        .map_or(model.context_length, |n| n.min(model.context_length));
    let budget = context.saturating_sub(options.generation.max_tokens);
    let mut dropped = Vec::new();
    loop {
        let messages = grounded_messages(
            &options.repo_name,
            prompt,
            &retrieved,
            options.max_chunk_chars,
        );
        let tokens = model.count_tokens(&super::chat::render_chat(&messages, true))?;
        if tokens <= budget {
            return Ok(Fitted::Prompt {
                messages,
                kept: retrieved,
                dropped,
            });
        }
        if retrieved.len() <= 1 {
            return Ok(Fitted::TooLong(format!(
                "the prompt does not fit: {tokens} tokens with one chunk, and the context holds \
                 {context} with {} kept for the answer",
                options.generation.max_tokens
            )));
        }
        if let Some(last) = retrieved.pop() {
            dropped.push(last.chunk_id);
        }
    }
}

/// Asks for `task` over chunks retrieved by the caller (the language server puts the hovered
/// chunk first), fitted to the context; checks against the chunks given; retries once, else
/// [`NOT_ENOUGH_EVIDENCE`] citing them. `acdp ask`, `acdp eval` and `acdp/ask` all end here.
pub fn answer_from_chunks(
    model: &mut LoadedModel,
    task: Task<'_>,
    prompt: &str,
    retrieved: Vec<RetrievedChunk>,
    options: &AnswerOptions,
) -> Result<GroundedAnswer> {
    let mut stats = AnswerStats::default();
    let mut problems = Vec::new();
    if retrieved.is_empty() {
        problems.push("no chunk matches the question".to_string());
        return Ok(GroundedAnswer::unanswered(
            NOT_ENOUGH_EVIDENCE,
            &retrieved,
            problems,
        ));
    }
    let (messages, retrieved, dropped) =
        match fitted_messages(model, prompt, retrieved.clone(), options)? {
            Fitted::Prompt {
                messages,
                kept,
                dropped,
            } => (messages, kept, dropped),
            Fitted::TooLong(problem) => {
                return Ok(GroundedAnswer::unanswered(
                    NOT_ENOUGH_EVIDENCE,
                    &retrieved,
                    vec![problem],
                ));
            }
        };
    for attempt in 0..2u64 {
        let mut generation = options.generation.clone();
        generation.seed = generation.seed.wrapping_add(attempt);
        if attempt == 1 && generation.temperature <= 0.0 {
            // A greedy retry would repeat itself; sample the second attempt instead.
            generation.temperature = 0.7;
            generation.top_p = Some(0.9);
        }
        let output = model.chat(&messages, &generation)?;
        stats = AnswerStats {
            prompt_tokens: output.prompt_tokens,
            prompt_tokens_per_s: output.prompt_tokens_per_s,
            generated_tokens: output.generated_tokens,
            generated_tokens_per_s: output.generated_tokens_per_s,
        };
        let mut check = task.check(&output.text, prompt, &retrieved);
        if output.stop == StopReason::MaxTokens {
            check.valid = false;
            check.problems.push(format!(
                "was cut off at the limit of {} new tokens (a model repeating itself, or raise the limit)",
                generation.max_tokens
            ));
        }
        if check.valid {
            let citations = check
                .cited
                .iter()
                .filter_map(|id| retrieved.iter().find(|c| &c.chunk_id == id))
                .map(Citation::of)
                .collect();
            return Ok(GroundedAnswer {
                answer: output.text,
                citations,
                retrieved: retrieved.iter().map(|c| c.chunk_id.clone()).collect(),
                dropped,
                validated: true,
                stats,
                problems: Vec::new(),
            });
        }
        problems.extend(
            check
                .problems
                .into_iter()
                .map(|p| format!("attempt {}: {p}", attempt + 1)),
        );
    }
    let mut answer = GroundedAnswer::unanswered(NOT_ENOUGH_EVIDENCE, &retrieved, problems);
    answer.stats = stats;
    answer.dropped = dropped;
    Ok(answer)
}

impl Citation {
    pub fn of(chunk: &RetrievedChunk) -> Citation {
        Citation {
            chunk_id: chunk.chunk_id.clone(),
            path: chunk.path.clone(),
            start_line: chunk.start_line,
            end_line: chunk.end_line,
        }
    }
}

impl GroundedAnswer {
    /// An answer that is not validated: `answer` says why, the retrieved chunks are cited so
    /// the user can read the evidence themselves.
    pub fn unanswered(
        answer: &str,
        retrieved: &[RetrievedChunk],
        problems: Vec<String>,
    ) -> GroundedAnswer {
        GroundedAnswer {
            answer: answer.to_string(),
            citations: retrieved.iter().map(Citation::of).collect(),
            retrieved: retrieved.iter().map(|c| c.chunk_id.clone()).collect(),
            dropped: Vec::new(),
            validated: false,
            stats: AnswerStats::default(),
            problems,
        }
    }
}
