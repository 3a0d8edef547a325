//! `acdp export-adapter --adapter DIR --format gguf --out FILE.gguf`: an adapter `acdp train`
//! wrote (PEFT layout) as a llama.cpp LoRA GGUF, for `llama-cli --lora`, the llama.cpp server,
//! llama-cpp-python's `lora_path` and Ollama's `ADAPTER` (`acdp_model::lora_gguf`).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};

#[derive(Args)]
pub struct ExportAdapterArgs {
    /// The adapter directory (adapter_config.json + adapter_model.safetensors).
    #[arg(long, value_name = "DIR")]
    pub adapter: PathBuf,
    #[arg(long, value_enum, default_value = "gguf")]
    pub format: AdapterFormat,
    /// The file to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// `general.architecture` of the base model the adapter was trained on.
    #[arg(long, default_value = "qwen2")]
    pub architecture: String,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum AdapterFormat {
    /// llama.cpp's LoRA GGUF (the PEFT layout is what `acdp train` writes already).
    Gguf,
}

pub fn run(args: ExportAdapterArgs) -> anyhow::Result<()> {
    match args.format {
        AdapterFormat::Gguf => {
            let projections = acdp_model::lora_gguf::write_lora_gguf(
                &args.adapter,
                &args.out,
                &args.architecture,
            )
            .with_context(|| format!("cannot export the adapter {}", args.adapter.display()))?;
            println!(
                "{}",
                serde_json::json!({"out": args.out, "format": "gguf", "projections": projections})
            );
        }
    }
    Ok(())
}
