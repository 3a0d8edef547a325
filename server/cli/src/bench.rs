//! `acdp bench`: prints indexing figures (never asserted in tests).
//!
//! - cold index (no stored state) and warm index (stored state, nothing changed) of a
//!   repository, beside `ctags -R --languages=Java` on the same tree when ctags is installed
//!   and beside the parse floor (tree-sitter alone on the same texts and threads);
//! - the same on generated repositories of N files, for scaling curves;
//! - p50/p99 of incremental document updates on a generated 2,000-line file;
//! - with `--model`: prompt and generation tokens/s of a model (GGUF or safetensors);
//! - with `--lsp`: the language server's handlers called as plain functions (hover,
//!   codeAction, didChange to updated index) and resident memory after indexing and analysing
//!   the repository.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use acdp_index::{
    DocumentStore, IndexOptions, Language, Position, Range, TextChange, WorkspaceIndex,
    index_workspace, java,
};
use anyhow::Context;
use clap::Args;
use rayon::prelude::*;

#[derive(Args)]
pub struct BenchArgs {
    /// Repository to measure (default: fixtures/shop of this checkout, if present).
    #[arg(long)]
    pub repo: Option<PathBuf>,
    /// Sizes (file counts) of generated repositories, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [100, 500, 1000])]
    pub synthetic: Vec<usize>,
    /// Runs per measurement; the median is printed.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Keep the generated repositories in DIR/synthetic-N (to compare other tools on them).
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    /// Number of edits for the incremental update measurement.
    #[arg(long, default_value_t = 2000)]
    pub edits: usize,
    /// Measure the language server instead: hover, codeAction and didChange p50/p99 on the
    /// repository (plus a generated 2,000-line file), and resident memory after indexing and
    /// analysing it.
    #[arg(long)]
    pub lsp: bool,
    /// Measure a model instead: prompt processing and greedy generation tokens/s of a
    /// `.gguf` file or model directory, on a prompt cut from the repository's Java code.
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// Prompt length for `--model`, in tokens.
    #[arg(long, default_value_t = 512)]
    pub prompt_tokens: usize,
    /// Tokens to generate for `--model` (fewer if the model ends its answer).
    #[arg(long, default_value_t = 64)]
    pub gen_tokens: usize,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let runs = args.runs.max(1);
    if let Some(model) = &args.model {
        let repo = args.repo.clone().or_else(|| {
            let shop = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/shop");
            shop.is_dir().then_some(shop)
        });
        let repo = repo.context("give a repository with --repo (its Java code is the prompt)")?;
        return bench_model(model, &repo, &args);
    }
    if args.lsp {
        let repo = args.repo.clone().or_else(|| {
            let shop = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/shop");
            shop.is_dir().then_some(shop)
        });
        let repo = repo.context("give a repository with --repo")?;
        return bench_lsp(&repo, args.edits);
    }
    println!(
        "acdp bench ({} runs each, median; {} threads)",
        runs,
        rayon::current_num_threads()
    );
    println!(
        "{:<28} {:>6} {:>8} {:>10} {:>9} {:>9} {:>9} {:>9} {:>7} {:>7}",
        "repository",
        "files",
        "MB",
        "cold ms",
        "files/s",
        "MB/s",
        "parse ms",
        "warm ms",
        "ctags",
        "cold/ct"
    );
    let repo = args.repo.clone().or_else(|| {
        let shop = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/shop");
        shop.is_dir().then_some(shop)
    });
    if let Some(repo) = repo {
        let copy = tempfile::tempdir()?;
        copy_tree(&repo, copy.path())?;
        bench_repository(&repo.display().to_string(), copy.path(), runs)?;
    }
    for &files in &args.synthetic {
        let label = format!("synthetic {files} files");
        match &args.keep {
            Some(keep) => {
                let dir = keep.join(format!("synthetic-{files}"));
                write_synthetic_repository(&dir, files)?;
                bench_repository(&label, &dir, runs)?;
            }
            None => {
                let dir = tempfile::tempdir()?;
                write_synthetic_repository(dir.path(), files)?;
                bench_repository(&label, dir.path(), runs)?;
            }
        }
    }
    bench_incremental(args.edits)?;
    Ok(())
}

fn bench_repository(label: &str, root: &Path, runs: usize) -> anyhow::Result<()> {
    let cold_options = IndexOptions {
        use_cache: false,
        ..IndexOptions::from_project(root)?
    };
    let warm_options = IndexOptions {
        use_cache: true,
        ..cold_options.clone()
    };
    let mut index = index_workspace(root, &cold_options)?;
    let cold = median(runs, || {
        index = index_workspace(root, &cold_options).expect("indexed once already");
    });
    // Store state once, then measure starts that find nothing changed.
    index_workspace(root, &warm_options)?;
    let warm = median(runs, || {
        let warm = index_workspace(root, &warm_options).expect("indexed once already");
        assert_eq!(warm.stats.files_from_cache, warm.stats.files);
    });
    let parse = parse_floor(&index, runs);
    let ctags = ctags_time(root, runs);
    let mb = index.stats.bytes as f64 / 1e6;
    let secs = cold.as_secs_f64();
    println!(
        "{:<28} {:>6} {:>8.2} {:>10.1} {:>9.0} {:>9.1} {:>9.1} {:>9.1} {:>7} {:>7}",
        truncate(label, 28),
        index.stats.files,
        mb,
        ms(cold),
        index.stats.files as f64 / secs,
        mb / secs,
        ms(parse),
        ms(warm),
        ctags.map_or("-".to_owned(), |t| format!("{:.1}", ms(t))),
        ctags.map_or("-".to_owned(), |t| format!(
            "{:.2}x",
            secs / t.as_secs_f64()
        )),
    );
    Ok(())
}

/// The floor under the cold index: tree-sitter parsing the same Java texts (already in
/// memory) on the same threads, with no reading, hashing or chunking. Cold minus this is our
/// own cost; this against ctags is tree-sitter's.
fn parse_floor(index: &WorkspaceIndex, runs: usize) -> Duration {
    let java: Vec<&str> = index
        .files
        .iter()
        .filter(|file| file.language == Language::Java)
        .map(|file| &*file.text)
        .collect();
    median(runs, || {
        java.par_iter()
            .for_each_init(java::new_parser, |parser, text| {
                drop(java::parse(parser, text, None));
            });
    })
}

/// Loads the model once, then for each run: a prompt of `--prompt-tokens` tokens of the
/// repository's Java code (no chat template: raw speed), greedy, `--gen-tokens` new tokens.
/// Prints every run and the best, as llama.cpp's own bench reports peak figures.
fn bench_model(path: &Path, repo: &Path, args: &BenchArgs) -> anyhow::Result<()> {
    use acdp_model::{GenerationOptions, load_model};
    let started = Instant::now();
    let device = candle_core::Device::Cpu;
    let mut model = load_model(path, None, &device)?;
    println!(
        "acdp bench --model {} (load {:.0} ms, {} threads)",
        path.display(),
        ms(started.elapsed()),
        rayon::current_num_threads()
    );
    let index = index_workspace(repo, &IndexOptions::from_project(repo)?)?;
    let code: String = index
        .files
        .iter()
        .filter(|file| file.language == Language::Java)
        .map(|file| &*file.text)
        .collect();
    let ids = model
        .tokenizer
        .encode(code.as_str(), false)
        .map_err(|e| anyhow::anyhow!("tokenizer: {e}"))?;
    let ids = &ids.get_ids()[..args.prompt_tokens.min(ids.len())];
    let prompt = model
        .tokenizer
        .decode(ids, false)
        .map_err(|e| anyhow::anyhow!("tokenizer: {e}"))?;
    let options = GenerationOptions {
        max_tokens: args.gen_tokens,
        ..GenerationOptions::default()
    };
    let (mut best_prompt, mut best_gen) = (0f64, 0f64);
    for run in 0..args.runs.max(1) {
        let generation = model.generate(&prompt, &options)?;
        println!(
            "run {run}: prompt {} tokens {:.1} tok/s, generated {} tokens {:.1} tok/s",
            generation.prompt_tokens,
            generation.prompt_tokens_per_s,
            generation.generated_tokens,
            generation.generated_tokens_per_s
        );
        best_prompt = best_prompt.max(generation.prompt_tokens_per_s);
        best_gen = best_gen.max(generation.generated_tokens_per_s);
    }
    println!("best: prompt {best_prompt:.1} tok/s, generation {best_gen:.1} tok/s");
    Ok(())
}

/// Time of `ctags -R --languages=Java` on the same tree, when ctags is installed.
fn ctags_time(root: &Path, runs: usize) -> Option<Duration> {
    let ctags = || {
        Command::new("ctags")
            .args(["-R", "--languages=Java", "-f", "/dev/null"])
            .arg(root)
            .status()
            .ok()
            .filter(|s| s.success())
    };
    ctags()?;
    Some(median(runs, || {
        ctags();
    }))
}

fn bench_incremental(edits: usize) -> anyhow::Result<()> {
    let text = synthetic_java_file(0, 2000);
    let lines = text.lines().count();
    let path = "src/main/java/bench/Big.java";
    let mut store = DocumentStore::default();
    store.open(path, Language::Java, 0, text.clone());
    // Positions inside method bodies: lines that hold a statement.
    let body_lines: Vec<(u32, u32)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("total"))
        .map(|(i, l)| (i as u32, (l.len() - l.trim_start().len()) as u32))
        .collect();
    let mut rng = Lcg(7);
    let mut valid = Vec::with_capacity(edits);
    let mut broken = Vec::with_capacity(edits);
    let mut settles = Vec::new();
    let mut at = Position {
        line: 0,
        character: 0,
    };
    for version in 1..=edits as i32 {
        // Pairs of edits: type a character at the start of a statement, then delete it again.
        // Every other pair types `x` (the statement stays valid: `xtotal = ...`), the others
        // `(` (a syntax error until it is deleted), as typing does mid-word.
        let change = if version % 2 == 1 {
            let (line, indent) = body_lines[rng.below(body_lines.len())];
            at = Position {
                line,
                character: indent,
            };
            let typed = if version % 4 == 1 { "x" } else { "(" };
            TextChange {
                range: Some(Range { start: at, end: at }),
                text: typed.to_owned(),
            }
        } else {
            let end = Position {
                line: at.line,
                character: at.character + 1,
            };
            TextChange {
                range: Some(Range { start: at, end }),
                text: String::new(),
            }
        };
        let started = Instant::now();
        store.apply_changes(path, version, &[change])?;
        let took = started.elapsed();
        let has_errors = !store
            .get(path)
            .context("document is open")?
            .warnings
            .is_empty();
        if has_errors {
            broken.push(took)
        } else {
            valid.push(took)
        }
        // The language server settles a broken document when typing pauses.
        if store.is_unsettled(path) {
            let started = Instant::now();
            store.settle(path);
            settles.push(started.elapsed());
        }
    }
    let mut all: Vec<Duration> = valid.iter().chain(&broken).copied().collect();
    println!();
    println!(
        "incremental update of a {lines}-line file ({edits} single-character edits in method bodies)"
    );
    print_percentiles("all edits", &mut all);
    print_percentiles("file stays valid", &mut valid);
    print_percentiles("file has a syntax error", &mut broken);
    print_percentiles("settle (cold parse)", &mut settles);
    Ok(())
}

/// The language server's handlers as plain functions on a session, as the server calls them
/// (without the transport). Memory is the whole process's, read after indexing and analysing.
fn bench_lsp(repo: &Path, edits: usize) -> anyhow::Result<()> {
    use acdp_index::TextPositions;
    use acdp_lsp::convert;
    use acdp_lsp::notifications::{did_change::did_change, did_open::did_open};
    use acdp_lsp::requests::{code_action::code_actions, hover::hover};
    use acdp_lsp::session::{Session, Settings};
    use tower_lsp_server::ls_types as lsp;

    let copy = tempfile::tempdir()?;
    copy_tree(repo, copy.path())?;
    let root = copy.path().to_path_buf();
    let big_path = "src/main/java/bench/Big.java";
    let big_text = synthetic_java_file(0, 2000);
    std::fs::create_dir_all(root.join("src/main/java/bench"))?;
    std::fs::write(root.join(big_path), &big_text)?;

    let mut session = Session::new(vec![root.clone()], Settings::default());
    let started = Instant::now();
    for job in session.start_indexing() {
        session.install_index(job.run())?;
    }
    let indexed = started.elapsed();
    let started = Instant::now();
    for job in session.take_analysis_jobs() {
        let (workspace, snapshot) = job.run();
        session.install_analysis(workspace, snapshot);
    }
    let analysed = started.elapsed();
    let (files, chunks) = session.counts();
    let snapshot = session
        .snapshot(0)
        .context("the folder was analysed")?
        .clone();
    println!(
        "acdp bench --lsp on {} (+ a generated 2,000-line file)",
        repo.display()
    );
    println!(
        "  indexed {files} files, {chunks} chunks in {:.0} ms; analysed ({} rules, {} flows) in {:.0} ms",
        ms(indexed),
        snapshot.analysis.rules.len(),
        snapshot.analysis.flows.len(),
        ms(analysed)
    );
    println!("  memory after indexing + analysis: {}", memory_status());

    // One position per chunk: its first byte.
    let mut targets = Vec::new();
    for file in &snapshot.index.files {
        let positions = TextPositions::new(&file.text);
        let uri = convert::file_uri(&root, &file.path).context("a file URI")?;
        for chunk in &file.chunks {
            if let Some(at) = positions.position(chunk.start_byte) {
                targets.push((
                    uri.clone(),
                    convert::position_to_lsp(at),
                    file.path == big_path,
                ));
            }
        }
    }
    let rounds = (2000 / targets.len().max(1)).max(1);
    let (mut hovers, mut actions, mut big_hovers, mut big_actions) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        for (uri, position, big) in &targets {
            let at = lsp::TextDocumentPositionParams::new(
                lsp::TextDocumentIdentifier::new(uri.clone()),
                *position,
            );
            let params = lsp::HoverParams {
                text_document_position_params: at,
                work_done_progress_params: Default::default(),
            };
            let started = Instant::now();
            let answer = hover(&session, &params);
            let took = started.elapsed();
            anyhow::ensure!(matches!(answer, Ok(Some(_))), "no hover at a chunk's start");
            if *big {
                big_hovers.push(took)
            } else {
                hovers.push(took)
            }
            let params = lsp::CodeActionParams {
                text_document: lsp::TextDocumentIdentifier::new(uri.clone()),
                range: lsp::Range::new(*position, *position),
                context: lsp::CodeActionContext::default(),
                work_done_progress_params: Default::default(),
                partial_result_params: Default::default(),
            };
            let started = Instant::now();
            let answer = code_actions(&session, &params);
            let took = started.elapsed();
            anyhow::ensure!(matches!(answer, Ok(Some(_))), "no code action on a chunk");
            if *big {
                big_actions.push(took)
            } else {
                actions.push(took)
            }
        }
    }
    println!(
        "  handlers, {} positions x {rounds} rounds (one per chunk start)",
        targets.len()
    );
    print_percentiles("hover (repository)", &mut hovers);
    print_percentiles("hover (2,000-line file)", &mut big_hovers);
    print_percentiles("codeAction (repository)", &mut actions);
    print_percentiles("codeAction (2,000 lines)", &mut big_actions);

    // didChange on the open 2,000-line file: type a character in a statement, delete it.
    let uri = convert::file_uri(&root, big_path).context("a file URI")?;
    did_open(
        &mut session,
        lsp::DidOpenTextDocumentParams {
            text_document: lsp::TextDocumentItem::new(
                uri.clone(),
                "java".into(),
                0,
                big_text.clone(),
            ),
        },
    );
    let body_lines: Vec<(u32, u32)> = big_text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("total"))
        .map(|(i, l)| (i as u32, (l.len() - l.trim_start().len()) as u32))
        .collect();
    let mut rng = Lcg(11);
    let mut changes = Vec::with_capacity(edits);
    let mut at = lsp::Position::new(0, 0);
    for version in 1..=edits as i32 {
        let change = if version % 2 == 1 {
            let (line, indent) = body_lines[rng.below(body_lines.len())];
            at = lsp::Position::new(line, indent);
            lsp::TextDocumentContentChangeEvent {
                range: Some(lsp::Range::new(at, at)),
                range_length: None,
                text: "x".to_owned(),
            }
        } else {
            lsp::TextDocumentContentChangeEvent {
                range: Some(lsp::Range::new(
                    at,
                    lsp::Position::new(at.line, at.character + 1),
                )),
                range_length: None,
                text: String::new(),
            }
        };
        let params = lsp::DidChangeTextDocumentParams {
            text_document: lsp::VersionedTextDocumentIdentifier::new(uri.clone(), version),
            content_changes: vec![change],
        };
        let started = Instant::now();
        // Returns once the document store holds the new chunks.
        let outcome = did_change(&mut session, params);
        changes.push(started.elapsed());
        anyhow::ensure!(
            outcome.log.is_empty(),
            "didChange refused: {:?}",
            outcome.log
        );
    }
    println!("  didChange to updated index, {edits} single-character edits");
    print_percentiles("didChange (2,000 lines)", &mut changes);
    println!("  memory at the end: {}", memory_status());
    Ok(())
}

/// `VmRSS` and `VmHWM` of this process, from /proc/self/status (Linux).
fn memory_status() -> String {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return "unknown (no /proc/self/status)".to_owned();
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| "?".to_owned())
    };
    format!("VmRSS {}, VmHWM {}", field("VmRSS:"), field("VmHWM:"))
}

fn print_percentiles(label: &str, samples: &mut [Duration]) {
    if samples.is_empty() {
        return;
    }
    samples.sort();
    let pick = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    println!(
        "  {:<24} n={:<5} p50 {:>6.2} ms   p99 {:>6.2} ms   max {:>6.2} ms",
        label,
        samples.len(),
        ms(pick(0.5)),
        ms(pick(0.99)),
        ms(pick(1.0))
    );
}

fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_owned();
    }
    let tail: String = s
        .chars()
        .rev()
        .take(width - 1)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_name() == ".acdp" {
            continue;
        }
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// A deterministic generator, so runs compare like with like.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// Writes `files` Java files of about 170 lines each (the average of a real 526-file Spring +
/// MyBatis repository: 85k lines) under `root/src/main/java`.
fn write_synthetic_repository(root: &Path, files: usize) -> std::io::Result<()> {
    for i in 0..files {
        let dir = root.join(format!("src/main/java/bench/module{}", i % 20));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join(format!("Service{i}.java")),
            synthetic_java_file(i, 170),
        )?;
    }
    Ok(())
}

/// A Spring-style service class of about `lines` lines.
fn synthetic_java_file(seed: usize, lines: usize) -> String {
    let module = seed % 20;
    let mut out = format!(
        "package bench.module{module};\n\nimport java.math.BigDecimal;\nimport java.util.List;\n\n\
         /**\n * Generated service {seed} (订单服务).\n */\n@Service\npublic class Service{seed} {{\n    \
         @Autowired\n    private OrderMapper orderMapper;\n    private static final int MAX = {seed};\n\n"
    );
    let mut method = 0;
    while out.lines().count() + 16 < lines {
        out.push_str(&format!(
            "    /** Step {method}: checks and updates the order. */\n    \
             @Transactional\n    \
             public BigDecimal handle{method}(Long orderId, List<Long> items) {{\n        \
             Order order = orderMapper.selectByPrimaryKey(orderId);\n        \
             if (order == null || order.getStatus() != {status}) {{\n            \
             throw new ApiException(\"order \" + orderId + \" cannot be handled\");\n        \
             }}\n        \
             BigDecimal total = BigDecimal.ZERO;\n        \
             for (Long item : items) {{\n            \
             total = total.add(order.getPrice().multiply(new BigDecimal(item)));\n        \
             }}\n        \
             total = total.subtract(order.getCouponAmount());\n        \
             order.setStatus({next});\n        \
             orderMapper.updateByPrimaryKey(order);\n        \
             return total.max(BigDecimal.valueOf(MAX));\n    }}\n\n",
            status = method % 5,
            next = (method + 1) % 5,
        ));
        method += 1;
    }
    out.push_str("}\n");
    out
}
