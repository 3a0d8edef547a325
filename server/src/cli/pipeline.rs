//! `acdp pipeline <repo> --out DIR`: index -> analyse -> generate -> validate -> dedup ->
//! split -> export, with a progress bar per stage and every file written atomically.
//!
//! The run is deterministic (seeded), so a rerun after a crash writes the same files; the
//! index reuses its stored state and the LLM generator its response cache, so a rerun does not
//! pay twice. `manifest.json` is written last: its presence says the output is complete.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use acdp::analysis::analyze;
use acdp::config::ProjectConfig;
use acdp::dataset::sample::SampleLanguage;
use acdp::dataset::validate::{TokenCounter, check};
use acdp::dataset::{
    DatasetOptions, SplitOptions, ValidationOptions, build_dataset, repo_info, write_dataset,
};
use acdp::durable::write_atomic;
use acdp::generate::llm::{LlmConfig, generate_with_llm};
use acdp::generate::{OfflineOptions, generate_offline, generated_chunks, write_offline};
use acdp::index::index_workspace_with_trees;
use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::index::SelectionArgs;
use super::validate::TokenLimitArgs;

#[derive(Args)]
pub struct PipelineArgs {
    /// Root of the repository.
    pub repo: PathBuf,
    /// Output directory (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Seed for phrasing and splits.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Sample languages, comma-separated (`en`, `zh`).
    #[arg(long, value_delimiter = ',', default_values_t = [String::from("en"), String::from("zh")])]
    pub languages: Vec<String>,
    /// A requirement to write a design sample for (repeatable).
    #[arg(long = "requirement", value_name = "TEXT")]
    pub requirement: Vec<String>,
    /// A file of requirements (one per line, `#` comments) to write design samples for.
    #[arg(long, value_name = "FILE")]
    pub requirements: Option<PathBuf>,
    /// Cite generated code (MyBatis Generator output) as evidence too.
    #[arg(long)]
    pub include_generated: bool,
    /// Write answers and designs with the LLM endpoint of `[llm]` in acdp.toml (or
    /// ACDP_LLM_BASE_URL / ACDP_LLM_MODEL) instead of the offline generator. Replies are cached
    /// under <repo>/.acdp/llm-cache, so a rerun does not pay twice.
    #[arg(long)]
    pub llm: bool,
    /// Share of samples for the dev split.
    #[arg(long, default_value_t = 0.1)]
    pub dev: f64,
    /// Share of samples for the test split.
    #[arg(long, default_value_t = 0.1)]
    pub test: f64,
    /// Estimated Jaccard similarity above which samples count as near duplicates.
    #[arg(long, default_value_t = 0.85)]
    pub near_duplicate: f64,
    #[command(flatten)]
    pub token_limit: TokenLimitArgs,
    #[command(flatten)]
    pub selection: SelectionArgs,
}

fn parse_languages(names: &[String]) -> anyhow::Result<Vec<SampleLanguage>> {
    names
        .iter()
        .map(|name| match name.trim() {
            "en" => Ok(SampleLanguage::En),
            "zh" => Ok(SampleLanguage::Zh),
            other => anyhow::bail!("unknown language `{other}`: use en, zh or en,zh"),
        })
        .collect()
}

fn read_requirements(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read requirements file {}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect())
}

/// One stage's spinner; it ends with the stage's result line and its wall time, so a run
/// shows where its time went (the times go to stderr only: the dataset files stay
/// byte-identical across runs).
struct Stage {
    bar: ProgressBar,
    started: Instant,
}

impl Stage {
    fn start(name: &str) -> Stage {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix:>9} {msg}").expect("valid template"),
        );
        bar.set_prefix(name.to_owned());
        bar.enable_steady_tick(Duration::from_millis(100));
        Stage {
            bar,
            started: Instant::now(),
        }
    }

    fn set_message(&self, message: String) {
        self.bar.set_message(message);
    }

    /// Printed plainly when stderr is not a terminal.
    fn finish(self, message: String) {
        let message = format!(
            "{message} ({:.0} ms)",
            self.started.elapsed().as_secs_f64() * 1000.0
        );
        if self.bar.is_hidden() {
            eprintln!("{:>9} {message}", self.bar.prefix());
        }
        self.bar.finish_with_message(message);
    }
}

pub fn run(args: PipelineArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let languages = parse_languages(&args.languages)?;
    let mut requirements = args.requirement.clone();
    if let Some(path) = &args.requirements {
        requirements.extend(read_requirements(path)?);
    }
    if !(0.0..1.0).contains(&(args.dev + args.test)) {
        anyhow::bail!(
            "--dev + --test must be below 1 (got {})",
            args.dev + args.test
        );
    }
    let options = args.selection.options(&args.repo)?;
    let config = ProjectConfig::load(&args.repo)?;
    // Loaded before any work, so a wrong tokenizer path stops the run at once.
    let token_limit = args.token_limit.resolve(&config.dataset, &args.repo)?;
    let counter = token_limit.as_ref().map(|l| (l.counter(), l.max_tokens));

    let bar = Stage::start("index");
    let mut index = index_workspace_with_trees(&args.repo, &options)?;
    bar.finish(format!(
        "{} files, {} chunks, {} skipped",
        index.stats.files, index.stats.chunks, index.stats.skipped
    ));

    let bar = Stage::start("analyse");
    let mut settings = config.analysis.clone();
    settings.include_generated |= args.include_generated;
    let analysis = analyze(&index, &settings);
    index.drop_trees();
    bar.finish(format!(
        "{} rules, {} flows, {} state machines, {} domains",
        analysis.rules.len(),
        analysis.flows.len(),
        analysis.states.len(),
        analysis.domains.domains.len(),
    ));
    // As `acdp analyze` does: a file left out of the analysis must not go unnoticed.
    for warning in &analysis.warnings {
        eprintln!("warning: {warning}");
    }

    let bar = Stage::start("generate");
    let generated = generated_chunks(&index);
    let repo = repo_info(&args.repo);
    let offline = OfflineOptions {
        seed: args.seed,
        languages,
        include_generated: settings.include_generated,
        requirements,
    };
    let mut llm_report = None;
    let samples = if args.llm {
        let requests: Vec<_> = write_offline(&index, &analysis, &generated, &offline)
            .into_iter()
            .map(|w| w.request)
            .collect();
        let config = LlmConfig::from_settings(&config.llm);
        bar.set_message(format!(
            "{} requests to {} ({})",
            requests.len(),
            config.base_url,
            config.model
        ));
        let cache_dir = args
            .repo
            .join(&options.settings.state_dir)
            .join("llm-cache");
        let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        let generated = runtime.block_on(generate_with_llm(requests, &config, &cache_dir, &repo));
        let (samples, report) = match generated {
            Ok(generated) => generated,
            Err(unreachable) => {
                // The output folder is left as it was (no report beside an older dataset);
                // what was tried goes to stderr.
                let report = &unreachable.report;
                eprintln!(
                    "{:>9} stopped: {} attempts ({} retries) for {} requests, {} from cache",
                    "llm", report.http_requests, report.retries, report.requests, report.cache_hits
                );
                return Err(unreachable.into());
            }
        };
        eprintln!(
            "{:>9} {} requests, {} from cache, {} answered, {} rejected ({:?}), {} + {} tokens",
            "llm",
            report.requests,
            report.cache_hits,
            samples.len(),
            report.rejected.values().sum::<usize>(),
            report.rejected,
            report.prompt_tokens,
            report.completion_tokens
        );
        llm_report = Some(report);
        samples
    } else {
        generate_offline(&index, &analysis, &generated, &offline, &repo)
    };
    bar.finish(format!("{} candidate samples", samples.len()));

    let bar = Stage::start("dataset");
    let dataset_options = DatasetOptions {
        validation: ValidationOptions {
            max_tokens: counter
                .as_ref()
                .map(|(count, max)| (count as TokenCounter, *max)),
        },
        near_duplicate_threshold: args.near_duplicate,
        split: SplitOptions {
            dev: args.dev,
            test: args.test,
            seed: args.seed,
        },
    };
    let dataset = build_dataset(samples, &index, &generated, &dataset_options);
    let s = &dataset.stats;
    let over_limit = match s.validation.token_limit {
        Some(limit) => format!(
            " ({} over {limit} tokens)",
            s.validation
                .failures_by_check
                .get(check::LENGTH)
                .copied()
                .unwrap_or(0)
        ),
        None => String::new(),
    };
    bar.finish(format!(
        "{} kept: {} rejected by validation{over_limit}, {} exact + {} near duplicates; train {} / dev {} / test {}",
        s.samples,
        s.validation.rejected,
        s.dedup.exact_duplicates,
        s.dedup.near_duplicates,
        s.by_split.get("train").copied().unwrap_or(0),
        s.by_split.get("dev").copied().unwrap_or(0),
        s.by_split.get("test").copied().unwrap_or(0),
    ));
    if s.split.leaked_groups != 0 {
        anyhow::bail!(
            "split leak check failed: {} groups on two sides",
            s.split.leaked_groups
        );
    }

    let bar = Stage::start("export");
    let repo_root = args
        .repo
        .canonicalize()
        .unwrap_or_else(|_| args.repo.clone());
    let files = write_dataset(&args.out, &repo_root, &dataset)?;
    // After the dataset, so a run killed before the export leaves the previous run's report
    // beside the previous run's dataset.
    if let Some(report) = &llm_report {
        write_atomic(
            &args.out.join("llm_report.json"),
            (serde_json::to_string_pretty(report)? + "\n").as_bytes(),
        )
        .context("cannot write llm_report.json")?;
    }
    bar.finish(format!("{} files in {}", files, args.out.display()));
    eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
