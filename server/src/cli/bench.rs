//! `acdp bench`: prints indexing figures (never asserted in tests).
//!
//! - cold index (no stored state) and warm index (stored state, nothing changed) of a
//!   repository, beside `ctags -R --languages=Java` on the same tree when ctags is installed;
//! - the same on generated repositories of N files, for scaling curves;
//! - p50/p99 of incremental document updates on a generated 2,000-line file.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use acdp::index::{
    DocumentStore, IndexOptions, Language, Position, Range, TextChange, index_workspace,
};
use anyhow::Context;
use clap::Args;

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
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let runs = args.runs.max(1);
    println!(
        "acdp bench ({} runs each, median; {} threads)",
        runs,
        rayon::current_num_threads()
    );
    println!(
        "{:<28} {:>6} {:>8} {:>10} {:>9} {:>9} {:>9} {:>7} {:>7}",
        "repository", "files", "MB", "cold ms", "files/s", "MB/s", "warm ms", "ctags", "cold/ct"
    );
    let repo = args.repo.clone().or_else(|| {
        let shop = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/shop");
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
    let ctags = ctags_time(root, runs);
    let mb = index.stats.bytes as f64 / 1e6;
    let secs = cold.as_secs_f64();
    println!(
        "{:<28} {:>6} {:>8.2} {:>10.1} {:>9.0} {:>9.1} {:>9.1} {:>7} {:>7}",
        truncate(label, 28),
        index.stats.files,
        mb,
        ms(cold),
        index.stats.files as f64 / secs,
        mb / secs,
        ms(warm),
        ctags.map_or("-".to_owned(), |t| format!("{:.1}", ms(t))),
        ctags.map_or("-".to_owned(), |t| format!(
            "{:.2}x",
            secs / t.as_secs_f64()
        )),
    );
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
