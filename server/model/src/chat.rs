//! The Qwen chat template (ChatML) and the mask of assistant tokens used for the loss.
//!
//! ```text
//! <|im_start|>system\n{content}<|im_end|>\n<|im_start|>user\n{content}<|im_end|>\n
//! <|im_start|>assistant\n{content}<|im_end|>\n
//! ```

use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use super::{ModelError, Result};
use acdp_dataset::export::chat_turns;
use acdp_sample::Sample;

pub const IM_START: &str = "<|im_start|>";
pub const IM_END: &str = "<|im_end|>";
/// Qwen2.5's system prompt when a conversation brings none.
pub const DEFAULT_SYSTEM: &str =
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: &str, content: impl Into<String>) -> Message {
        Message {
            role: role.to_string(),
            content: content.into(),
        }
    }
}

/// One line of the chat JSONL that the dataset stage exports.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChatSample {
    pub messages: Vec<Message>,
    #[serde(default)]
    pub sample_id: Option<String>,
}

fn with_system(messages: &[Message]) -> Vec<Message> {
    let mut all = Vec::with_capacity(messages.len() + 1);
    if messages.first().map(|m| m.role.as_str()) != Some("system") {
        all.push(Message::new("system", DEFAULT_SYSTEM));
    }
    all.extend(messages.iter().cloned());
    all
}

/// The template as text; with `add_generation_prompt`, ends with an open assistant turn.
pub fn render_chat(messages: &[Message], add_generation_prompt: bool) -> String {
    let mut text = String::new();
    for message in with_system(messages) {
        text.push_str(&format!(
            "{IM_START}{}\n{}{IM_END}\n",
            message.role, message.content
        ));
    }
    if add_generation_prompt {
        text.push_str(&format!("{IM_START}assistant\n"));
    }
    text
}

/// Tokens of a rendered conversation and, for each, whether the loss counts it: the content
/// of assistant turns and their closing `<|im_end|>`, so the model learns to stop.
pub fn tokenize_chat(tokenizer: &Tokenizer, messages: &[Message]) -> Result<(Vec<u32>, Vec<bool>)> {
    let mut tokens = Vec::new();
    let mut mask = Vec::new();
    let mut push = |text: &str, trained: bool| -> Result<()> {
        let ids = encode(tokenizer, text)?;
        mask.extend(std::iter::repeat_n(trained, ids.len()));
        tokens.extend(ids);
        Ok(())
    };
    for message in with_system(messages) {
        push(&format!("{IM_START}{}\n", message.role), false)?;
        let assistant = message.role == "assistant";
        push(&format!("{}{IM_END}", message.content), assistant)?;
        push("\n", false)?;
    }
    Ok((tokens, mask))
}

/// Tokens a dataset sample takes in training: its exported conversation
/// ([`chat_turns`](acdp_dataset::export::chat_turns)) in this template, as [`tokenize_chat`]
/// gives it to the trainer. A sample within `acdp train --max-len` is never truncated.
pub fn sample_token_count(tokenizer: &Tokenizer, sample: &Sample) -> Result<usize> {
    let messages: Vec<Message> = chat_turns(sample)
        .into_iter()
        .map(|(role, content)| Message::new(role, content))
        .collect();
    Ok(tokenize_chat(tokenizer, &messages)?.0.len())
}

/// Token ids of `text`, special tokens recognised, nothing added.
pub fn encode(tokenizer: &Tokenizer, text: &str) -> Result<Vec<u32>> {
    tokenizer
        .encode(text, false)
        .map(|e| e.get_ids().to_vec())
        .map_err(|e| ModelError::Tokenizer(e.to_string()))
}
