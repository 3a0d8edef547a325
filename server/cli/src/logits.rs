//! `acdp logits --model M [--adapter DIR] --tokens 1,2,3 [--out FILE]`: the next-token logits
//! after a sequence of token ids, for parity checks against another engine (llama.cpp,
//! transformers + PEFT) given the same ids. Prints the top five; `--out` writes all of them as
//! little-endian f32.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use acdp_model::{default_device, load_model};

#[derive(Args)]
pub struct LogitsArgs {
    /// A Hugging Face model directory or a .gguf file.
    #[arg(long, value_name = "DIR|FILE.gguf")]
    pub model: PathBuf,
    /// A LoRA adapter directory (PEFT layout).
    #[arg(long, value_name = "DIR")]
    pub adapter: Option<PathBuf>,
    /// Token ids, comma-separated: the other engine's tokenization, so both see one input.
    #[arg(long, value_delimiter = ',', required = true, num_args = 1..)]
    pub tokens: Vec<u32>,
    /// Writes every logit here, little-endian f32.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn run(args: LogitsArgs) -> anyhow::Result<()> {
    let mut model = load_model(&args.model, args.adapter.as_deref(), &default_device())
        .with_context(|| format!("cannot load {}", args.model.display()))?;
    let logits = model.logits_after(&args.tokens)?;
    if let Some(out) = &args.out {
        let bytes: Vec<u8> = logits.iter().flat_map(|x| x.to_le_bytes()).collect();
        std::fs::write(out, bytes).with_context(|| format!("cannot write {}", out.display()))?;
    }
    let mut ranked: Vec<(usize, f32)> = logits.iter().copied().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    let top: Vec<_> = ranked.iter().take(5).collect();
    println!(
        "{}",
        serde_json::json!({"tokens": args.tokens.len(), "vocab": logits.len(), "top": top})
    );
    Ok(())
}
