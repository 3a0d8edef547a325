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
use acdp::generate::llm::{
    LlmConfig, LlmJob, LlmJudge, LlmPlan, LlmReport, drop_unfaithful_calls, generate_with_llm,
    judge_samples, keep_valid, plan,
};
use acdp::generate::{
    OfflineOptions, generate_offline, generated_chunks, topic_requests, write_offline,
};
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
    /// With --llm: print what the run would send (requests, prompt tokens, an estimate of
    /// reply tokens, what the cache already holds) and stop without sending anything.
    #[arg(long, requires = "llm")]
    pub dry_run: bool,
    /// With --llm: send at most N requests in this run (cached replies are free); a rerun
    /// resumes from the cache.
    #[arg(long, value_name = "N", requires = "llm")]
    pub llm_max_requests: Option<usize>,
    /// With --llm: questions the model writes per topic (a flow, a state machine, a method's
    /// checks ...), overriding questions_per_topic in [llm]; 0 answers only the offline
    /// generator's questions.
    #[arg(long, value_name = "N", requires = "llm")]
    pub llm_questions: Option<usize>,
    /// With --llm: ask the model, in a second request per sample, whether each claim holds in
    /// the evidence; `store` keeps the verdict in the sample, `filter` also leaves out samples
    /// judged unsupported (overrides judge in [llm]).
    #[arg(long, value_name = "off|store|filter", requires = "llm", value_parser = parse_judge)]
    pub llm_judge: Option<LlmJudge>,
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

fn parse_judge(text: &str) -> Result<LlmJudge, String> {
    match text {
        "off" => Ok(LlmJudge::Off),
        "store" => Ok(LlmJudge::Store),
        "filter" => Ok(LlmJudge::Filter),
        other => Err(format!("`{other}`: use off, store or filter")),
    }
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
    // Loaded before any work, so a wrong tokenizer path stops the run at once. A dry run
    // needs only the tokenizer, to count prompt tokens.
    let tokenizer_path = args.token_limit.tokenizer.clone().or_else(|| {
        config
            .dataset
            .tokenizer
            .as_ref()
            .map(|path| args.repo.join(path))
    });
    let dry_run_tokenizer = match (args.dry_run, &tokenizer_path) {
        (true, Some(path)) => Some(
            acdp::model::tokenizer::load_tokenizer(path)
                .with_context(|| format!("cannot load the tokenizer {}", path.display()))?,
        ),
        _ => None,
    };
    let token_limit = match args.dry_run {
        true => None,
        false => args.token_limit.resolve(&config.dataset, &args.repo)?,
    };
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
        let mut llm = LlmConfig::from_settings(&config.llm);
        llm.max_requests = args.llm_max_requests;
        if let Some(questions) = args.llm_questions {
            llm.questions_per_topic = questions;
        }
        if let Some(judge) = args.llm_judge {
            llm.judge = judge;
        }
        let mut jobs: Vec<LlmJob> = write_offline(&index, &analysis, &generated, &offline)
            .into_iter()
            .map(|w| w.request.into())
            .collect();
        jobs.extend(
            topic_requests(
                &index,
                &analysis,
                &generated,
                &offline,
                llm.questions_per_topic,
            )
            .into_iter()
            .map(LlmJob::from),
        );
        let cache_dir = args
            .repo
            .join(&options.settings.state_dir)
            .join("llm-cache");
        if args.dry_run {
            let count = dry_run_tokenizer.as_ref().map(|tokenizer| {
                move |text: &str| {
                    acdp::model::chat::encode(tokenizer, text).map_or(0, |ids| ids.len())
                }
            });
            let count_ref = count.as_ref().map(|c| c as &dyn Fn(&str) -> usize);
            let plan = plan(jobs, &llm, &cache_dir, &repo, count_ref);
            bar.finish(format!("{} requests planned", plan.jobs));
            print_plan(&plan);
            return Ok(());
        }
        bar.set_message(format!(
            "{} requests to {} ({})",
            jobs.len(),
            llm.endpoints_text(),
            llm.model
        ));
        let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        let generated = runtime.block_on(generate_with_llm(jobs, &llm, &cache_dir, &repo));
        let (samples, mut report) = match generated {
            Ok(generated) => generated,
            Err(unreachable) => {
                // The output folder is left as it was (no report beside an older dataset);
                // what was tried goes to stderr.
                let report = &unreachable.report;
                eprintln!(
                    "{:>9} stopped: {} attempts ({} retries) for {} requests, {} from cache",
                    "llm",
                    report.http_requests + report.probe_requests,
                    report.retries,
                    report.requests,
                    report.cache_hits
                );
                return Err(unreachable.into());
            }
        };
        let mut samples = drop_unfaithful_calls(samples, &analysis, &mut report);
        if llm.judge != LlmJudge::Off {
            // Judge only what validation keeps, within what is left of the request budget.
            let validation = ValidationOptions {
                max_tokens: counter
                    .as_ref()
                    .map(|(count, max)| (count as TokenCounter, *max)),
            };
            let (valid, _) = keep_valid(samples, &index, None, &validation, &mut report);
            let mut judging = llm.clone();
            judging.max_requests = llm.max_requests.map(|n| n.saturating_sub(report.sent));
            samples = match runtime.block_on(judge_samples(
                valid.clone(),
                &judging,
                &cache_dir,
                &repo,
                &mut report,
            )) {
                Ok(judged) => judged,
                Err(stopped) => {
                    // The samples stand without verdicts.
                    eprintln!("warning: the judge pass stopped: {stopped}");
                    valid
                }
            };
        }
        print_llm_report(&report, samples.len());
        // The run's record, kept with the cache whether or not a dataset is written.
        let last_report = cache_dir.with_file_name("llm-report.json");
        write_atomic(
            &last_report,
            (serde_json::to_string_pretty(&report)? + "\n").as_bytes(),
        )
        .with_context(|| format!("cannot write {}", last_report.display()))?;
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
    if s.samples == 0 {
        // Nothing useful: leave the previous dataset in place and say so.
        let why = match &llm_report {
            Some(report) => format!(
                "the LLM endpoint answered {} of {} requests usably ({:?})",
                report.successes, report.requests, report.rejected
            ),
            None if s.validation.checked > 0 => format!(
                "validation rejected all {} candidates",
                s.validation.checked
            ),
            None => "the analysis found nothing to ask about (no Java or mapper code with \
                     rules, flows or state machines?)"
                .to_owned(),
        };
        anyhow::bail!(
            "no sample passed validation, so nothing was written to {} (an earlier dataset \
             there is left as it was): {why}; failed checks {:?}",
            args.out.display(),
            s.validation.failures_by_check
        );
    }
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

/// The plan of a dry run, on stdout.
fn print_plan(plan: &LlmPlan) {
    let approx = if plan.prompt_tokens_counted { "" } else { "~" };
    println!("model            {}", plan.model);
    println!("endpoints        {}", plan.endpoints.join(", "));
    println!(
        "requests         {} ({} topics to write questions about, {} answers)",
        plan.jobs,
        plan.topics,
        plan.jobs - plan.topics
    );
    println!("cached already   {}", plan.cached);
    println!("to send          {}", plan.to_send);
    println!(
        "prompt tokens    {approx}{}{}",
        plan.prompt_tokens,
        if plan.prompt_tokens_counted {
            ""
        } else {
            " (estimated: pass --tokenizer to count)"
        }
    );
    println!(
        "reply tokens     ~{} (typical reply sizes; re-asks and the probe not included)",
        plan.completion_tokens_estimate
    );
}

/// What an LLM run did, on stderr.
fn print_llm_report(report: &LlmReport, kept: usize) {
    for (url, capabilities) in &report.endpoints {
        eprintln!(
            "{:>9} {url}: response_format {:?}, seed {:?} ({} probe requests)",
            "llm", capabilities.response_format, capabilities.seed, capabilities.probe_requests
        );
    }
    eprintln!(
        "{:>9} {} requests ({} topics), {} from cache, {} answered usably, {} samples, {} kept \
         after the path-fact check; rejected {:?}; {} + {} tokens",
        "llm",
        report.requests,
        report.topics,
        report.cache_hits,
        report.successes,
        report.samples,
        kept,
        report.rejected,
        report.prompt_tokens,
        report.completion_tokens
    );
    if let Some(judge) = &report.judge {
        eprintln!(
            "{:>9} judged {} of {} samples: {} with unsupported claims, {} left out; failed {:?}",
            "llm", judge.judged, judge.samples, judge.unsupported, judge.dropped, judge.failed
        );
    }
}
