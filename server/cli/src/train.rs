//! `acdp train --model DIR|FILE.gguf --data DIR --out DIR`: LoRA fine-tuning on the exported
//! chat JSONL.

use std::ops::ControlFlow;
use std::path::PathBuf;

use acdp_model::train::{DatasetTraining, Schedule, TrainOptions, train_on_dataset};
use acdp_model::{LoraConfig, default_device};
use anyhow::Context;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Args)]
pub struct TrainArgs {
    /// The base model: a Hugging Face directory (config.json, model.safetensors,
    /// tokenizer.json) or a .gguf file (trained with its quantized weights frozen as they are).
    #[arg(long, value_name = "DIR|FILE.gguf")]
    pub model: PathBuf,
    /// Dataset directory with train.jsonl (and optionally dev.jsonl) in chat `messages` form.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Where the adapter, checkpoints, loss.csv and loss.svg go.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 8)]
    pub rank: usize,
    #[arg(long, default_value_t = 16.0)]
    pub alpha: f64,
    #[arg(long, default_value_t = 0.05)]
    pub dropout: f32,
    /// Also adapt the MLP projections (gate/up/down).
    #[arg(long)]
    pub mlp: bool,
    #[arg(long, default_value_t = 2e-4)]
    pub lr: f64,
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Tokens per sample; longer samples are truncated and counted.
    #[arg(long, default_value_t = 1024)]
    pub max_len: usize,
    /// Samples per optimizer step (gradient accumulation).
    #[arg(long, default_value_t = 8)]
    pub accum: usize,
    /// Warmup steps (linear from 0).
    #[arg(long, default_value_t = 10)]
    pub warmup: usize,
    #[arg(long, value_enum, default_value_t = ScheduleArg::Cosine)]
    pub schedule: ScheduleArg,
    /// Optimizer steps between checkpoints (0: none).
    #[arg(long, default_value_t = 100)]
    pub checkpoint_every: usize,
    /// Continue from the latest checkpoint in --out.
    #[arg(long)]
    pub resume: bool,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ScheduleArg {
    Linear,
    Cosine,
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let device = default_device();
    let options = TrainOptions {
        lora: LoraConfig {
            rank: args.rank,
            alpha: args.alpha,
            dropout: args.dropout,
            mlp: args.mlp,
        },
        learning_rate: args.lr,
        weight_decay: args.weight_decay,
        epochs: args.epochs,
        accumulation: args.accum,
        warmup_steps: args.warmup,
        schedule: match args.schedule {
            ScheduleArg::Linear => Schedule::Linear,
            ScheduleArg::Cosine => Schedule::Cosine,
        },
        max_len: args.max_len,
        checkpoint_every: args.checkpoint_every,
        seed: args.seed,
    };
    let run = DatasetTraining {
        model: args.model.clone(),
        data: args.data,
        out: args.out,
        options,
        resume: args.resume,
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} steps {msg} (eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let max_len = args.max_len;
    let report = train_on_dataset(
        &run,
        &device,
        &mut |counts| {
            eprintln!(
                "acdp train: {} samples ({} truncated to {} tokens, {} without assistant tokens \
                 skipped), {} dev samples",
                counts.samples, counts.truncated, max_len, counts.skipped, counts.dev_samples
            );
        },
        &mut |step| {
            bar.set_length(step.total_steps as u64);
            bar.set_position(step.step as u64);
            bar.set_message(format!(
                "loss {:.4} lr {:.2e} {:.0} ms/step",
                step.loss, step.learning_rate, step.step_ms
            ));
            ControlFlow::Continue(())
        },
    )
    .with_context(|| format!("training on the model in {}", args.model.display()))?;
    bar.finish();
    eprintln!(
        "acdp train: {} steps{}, loss {} -> {}, dev loss {}, {:.1} ms/step, peak memory {}",
        report.steps,
        report
            .resumed_from_step
            .map(|s| format!(" (resumed at {s})"))
            .unwrap_or_default(),
        fmt_opt(report.first_loss),
        fmt_opt(report.last_loss),
        fmt_opt(report.dev_loss),
        report.mean_step_ms,
        report
            .peak_memory_mib
            .map(|m| format!("{m:.0} MiB"))
            .unwrap_or_else(|| "unknown".into()),
    );
    eprintln!(
        "acdp train: adapter in {} (PEFT layout), loss curve in loss.csv and loss.svg",
        report.adapter_dir.display()
    );
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

fn fmt_opt(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v:.4}"))
}
