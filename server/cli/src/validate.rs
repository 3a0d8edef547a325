//! `acdp validate DIR`: re-checks an existing dataset against the current code and lists the
//! samples whose evidence went stale or no longer passes. Exits with 1 when any sample fails,
//! so it can gate a CI job.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use acdp_config::{DatasetSettings, ProjectConfig};
use acdp_index::index_workspace;
use acdp_model::token_limit::TokenLimit;
use acdp_sample::Sample;
use acdp_sample::validate::TokenCounter;
use acdp_sample::{ValidationOptions, validate_sample};
use anyhow::Context;
use clap::Args;

use super::index::SelectionArgs;

#[derive(Args)]
pub struct ValidateArgs {
    /// A dataset directory written by `acdp pipeline` (holds samples.jsonl).
    pub dataset: PathBuf,
    /// The repository the samples cite (default: the one recorded in manifest.json).
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
    /// Print one JSON report per failing sample instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub token_limit: TokenLimitArgs,
    #[command(flatten)]
    pub selection: SelectionArgs,
}

/// Flags that override `[dataset]` in acdp.toml: the length check in tokens of the target
/// model. Shared by `acdp pipeline` and `acdp validate`.
#[derive(Args, Clone, Default)]
pub struct TokenLimitArgs {
    /// The target model's tokenizer: its tokenizer.json, the model directory holding it, or
    /// its .gguf file. Needed by --max-tokens.
    #[arg(long, value_name = "FILE|DIR")]
    pub tokenizer: Option<PathBuf>,
    /// Drop (never truncate) samples whose exported conversation, in the Qwen chat template,
    /// takes more tokens than this; use the --max-len you train with.
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<usize>,
}

impl TokenLimitArgs {
    /// The flags over `[dataset]` of acdp.toml (whose relative paths are read from `repo`);
    /// `None` when no limit is asked for.
    pub fn resolve(
        &self,
        settings: &DatasetSettings,
        repo: &Path,
    ) -> anyhow::Result<Option<TokenLimit>> {
        Ok(TokenLimit::resolve(
            self.tokenizer.clone(),
            self.max_tokens,
            settings,
            repo,
        )?)
    }
}

pub fn run(args: ValidateArgs) -> anyhow::Result<std::process::ExitCode> {
    let repo = match &args.repo {
        Some(repo) => repo.clone(),
        None => {
            let path = args.dataset.join("manifest.json");
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "cannot read {}: pass --repo DIR or a dataset written by acdp pipeline",
                    path.display()
                )
            })?;
            let manifest: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not valid JSON", path.display()))?;
            PathBuf::from(manifest["repo"].as_str().with_context(|| {
                format!("{} records no repository: pass --repo DIR", path.display())
            })?)
        }
    };
    let samples_path = args.dataset.join("samples.jsonl");
    let file = std::fs::File::open(&samples_path)
        .with_context(|| format!("cannot open {}", samples_path.display()))?;
    let mut samples = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {}", samples_path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let sample: Sample = serde_json::from_str(&line).with_context(|| {
            format!(
                "{}:{}: not a sample of schema version {}",
                samples_path.display(),
                n + 1,
                acdp_sample::SCHEMA_VERSION
            )
        })?;
        samples.push(sample);
    }
    let config = ProjectConfig::load(&repo)?;
    let limit = args.token_limit.resolve(&config.dataset, &repo)?;
    let counter = limit.as_ref().map(|l| (l.counter(), l.max_tokens));
    let options = ValidationOptions {
        max_tokens: counter
            .as_ref()
            .map(|(count, max)| (count as TokenCounter, *max)),
    };
    let index = index_workspace(&repo, &args.selection.options(&repo)?)?;
    let mut failing = 0;
    let mut stale = 0;
    for sample in &samples {
        let report = validate_sample(sample, &index, &options);
        if report.passed {
            continue;
        }
        failing += 1;
        stale += usize::from(!report.stale_evidence.is_empty());
        if args.json {
            println!("{}", serde_json::to_string(&report)?);
            continue;
        }
        println!("{}:", report.sample_id);
        for check in report.checks.iter().filter(|c| !c.passed) {
            for problem in &check.problems {
                println!("  {}: {problem}", check.check);
            }
        }
    }
    eprintln!(
        "{} samples checked against {}: {} pass, {} fail ({} with stale evidence)",
        samples.len(),
        repo.display(),
        samples.len() - failing,
        failing,
        stale
    );
    Ok(if failing == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}
