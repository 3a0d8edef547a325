//! `acdp pipeline <repo> --out DIR`: flags into [`acdp_pipeline::run`] (index -> analyse ->
//! generate -> validate -> dedup -> split -> export), with a spinner per stage on stderr;
//! `--llm --dry-run` prints [`acdp_pipeline::plan_llm`]'s plan instead.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use acdp_config::ProjectConfig;
use acdp_dataset::{DatasetOptions, SplitOptions};
use acdp_generate::OfflineOptions;
use acdp_generate::llm::{LlmJudge, LlmPlan, LlmReport};
use acdp_pipeline::{LlmRun, Observer, PipelineError, PipelineOptions, Stage, plan_llm};
use acdp_sample::SampleLanguage;
use acdp_sample::ValidationOptions;
use acdp_sample::validate::TokenCounter;
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
    /// Leave out the samples made and reviewed in the editor (`.acdp/samples.jsonl`): by
    /// default accepted and edited ones replace the generated ones with the same id and
    /// rejected ones are kept out.
    #[arg(long)]
    pub no_editor_samples: bool,
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

/// Spinners on stderr, one per stage; each ends with the stage's result line and its wall
/// time, so a run shows where its time went (the times go to stderr only: the dataset files
/// stay byte-identical across runs).
#[derive(Default)]
struct Spinners {
    current: RefCell<Option<(ProgressBar, Instant)>>,
}

impl Observer for Spinners {
    fn started(&self, stage: Stage) {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix:>9} {msg}").expect("valid template"),
        );
        bar.set_prefix(stage.name());
        bar.enable_steady_tick(Duration::from_millis(100));
        *self.current.borrow_mut() = Some((bar, Instant::now()));
    }

    fn progress(&self, _stage: Stage, message: &str) {
        if let Some((bar, _)) = &*self.current.borrow() {
            bar.set_message(message.to_owned());
        }
    }

    /// Printed plainly when stderr is not a terminal.
    fn finished(&self, stage: Stage, summary: &str) {
        let Some((bar, started)) = self.current.borrow_mut().take() else {
            return;
        };
        let message = format!(
            "{summary} ({:.0} ms)",
            started.elapsed().as_secs_f64() * 1000.0
        );
        if bar.is_hidden() {
            eprintln!("{:>9} {message}", stage.name());
        }
        bar.finish_with_message(message);
    }

    fn warning(&self, message: &str) {
        match &*self.current.borrow() {
            Some((bar, _)) => bar.suspend(|| eprintln!("warning: {message}")),
            None => eprintln!("warning: {message}"),
        }
    }

    fn llm_finished(&self, report: &LlmReport, samples: usize) {
        let print = || print_llm_report(report, samples);
        match &*self.current.borrow() {
            Some((bar, _)) => bar.suspend(print),
            None => print(),
        }
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
    let index = args.selection.options(&args.repo)?;
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
            acdp_model::tokenizer::load_tokenizer(path)
                .with_context(|| format!("cannot load the tokenizer {}", path.display()))?,
        ),
        _ => None,
    };
    let token_limit = match args.dry_run {
        true => None,
        false => args.token_limit.resolve(&config.dataset, &args.repo)?,
    };
    let counter = token_limit.as_ref().map(|l| (l.counter(), l.max_tokens));

    let include_generated = args.include_generated || config.analysis.include_generated;
    let llm = args.llm.then_some(LlmRun {
        max_requests: args.llm_max_requests,
        questions_per_topic: args.llm_questions,
        judge: args.llm_judge,
    });
    let workspace_samples = (!args.no_editor_samples)
        .then(|| acdp_dataset::workspace_samples::samples_path(&args.repo, Some(&index)));
    let options = PipelineOptions {
        workspace_samples,
        repo: args.repo.clone(),
        out: args.out.clone(),
        config,
        index,
        offline: OfflineOptions {
            seed: args.seed,
            languages,
            include_generated,
            requirements,
        },
        llm,
        dataset: DatasetOptions {
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
        },
    };
    let spinners = Spinners::default();
    if let (true, Some(overrides)) = (args.dry_run, &options.llm) {
        let count = dry_run_tokenizer.as_ref().map(|tokenizer| {
            move |text: &str| acdp_model::chat::encode(tokenizer, text).map_or(0, |ids| ids.len())
        });
        let count_ref = count.as_ref().map(|c| c as &dyn Fn(&str) -> usize);
        let plan = plan_llm(&options, overrides, count_ref, &spinners)?;
        print_plan(&plan);
        return Ok(());
    }
    match acdp_pipeline::run(&options, &spinners) {
        Ok(_) => {
            eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());
            Ok(())
        }
        Err(PipelineError::Llm(unreachable)) => {
            // The output folder is left as it was (no report beside an older dataset); what
            // was tried goes to stderr.
            let report = &unreachable.report;
            eprintln!(
                "{:>9} stopped: {} attempts ({} retries) for {} requests, {} from cache",
                "llm",
                report.http_requests + report.probe_requests,
                report.retries,
                report.requests,
                report.cache_hits
            );
            Err(unreachable.into())
        }
        Err(err) => Err(err.into()),
    }
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
