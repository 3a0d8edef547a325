//! `acdp analyze <repo> --out DIR`: index, analyse, and write the results as files (each
//! written atomically), with a summary on stderr.

use std::path::{Path, PathBuf};
use std::time::Instant;

use acdp_analysis::{Analysis, analyze, report};
use acdp_config::ProjectConfig;
use acdp_durable::write_atomic;
use acdp_index::index_workspace_with_trees;
use anyhow::Context;
use clap::Args;
use serde::Serialize;

use super::index::SelectionArgs;

#[derive(Args)]
pub struct AnalyzeArgs {
    /// Root of the repository to analyse.
    pub repo: PathBuf,
    /// Directory for domain_map.json, rules.jsonl, flows.jsonl, states.jsonl, report.md and
    /// diagrams/ (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Also cite generated code (MyBatis Generator output, `*Example` classes) as rule evidence.
    #[arg(long)]
    pub include_generated: bool,
    #[command(flatten)]
    pub selection: SelectionArgs,
}

pub fn run(args: AnalyzeArgs) -> anyhow::Result<()> {
    let options = args.selection.options(&args.repo)?;
    let mut settings = ProjectConfig::load(&args.repo)?.analysis;
    settings.include_generated |= args.include_generated;
    let mut index = index_workspace_with_trees(&args.repo, &options)?;
    let started = Instant::now();
    let analysis = analyze(&index, &settings);
    index.drop_trees();
    let analysis_ms = started.elapsed().as_secs_f64() * 1000.0;
    let repo_name = args
        .repo
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| args.repo.display().to_string());
    write_outputs(&args.out, &analysis, &repo_name)?;
    print_summary(&analysis, index.stats.elapsed_ms, analysis_ms, &args.out);
    Ok(())
}

fn write_outputs(out: &Path, analysis: &Analysis, repo_name: &str) -> anyhow::Result<()> {
    let diagrams = out.join("diagrams");
    std::fs::create_dir_all(&diagrams).with_context(|| {
        format!(
            "cannot create {}: check the --out path and its permissions",
            diagrams.display()
        )
    })?;
    let write = |name: &Path, bytes: &[u8]| {
        write_atomic(name, bytes).with_context(|| format!("cannot write {}", name.display()))
    };
    let mut domain_map = serde_json::to_vec_pretty(&analysis.domains)?;
    domain_map.push(b'\n');
    write(&out.join("domain_map.json"), &domain_map)?;
    write(&out.join("rules.jsonl"), &jsonl(&analysis.rules)?)?;
    write(&out.join("flows.jsonl"), &jsonl(&analysis.flows)?)?;
    write(&out.join("states.jsonl"), &jsonl(&analysis.states)?)?;
    write(
        &out.join("report.md"),
        report::markdown(analysis, repo_name).as_bytes(),
    )?;
    write(
        &diagrams.join("domains.mmd"),
        report::domains_mermaid(analysis).as_bytes(),
    )?;
    for (i, flow) in analysis.flows.iter().enumerate() {
        write(
            &diagrams.join(format!("flow-{}.mmd", i + 1)),
            report::flow_mermaid(flow).as_bytes(),
        )?;
    }
    for (i, machine) in analysis.states.iter().enumerate() {
        write(
            &diagrams.join(format!("state-{}.mmd", i + 1)),
            report::state_mermaid(machine).as_bytes(),
        )?;
    }
    // Diagrams of flows that no longer exist would mislead: remove leftovers of a larger run.
    if let Ok(entries) = std::fs::read_dir(&diagrams) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let stale = |prefix: &str, count: usize| {
                name.strip_prefix(prefix)
                    .and_then(|rest| rest.strip_suffix(".mmd"))
                    .and_then(|n| n.parse::<usize>().ok())
                    .is_some_and(|n| n > count)
            };
            if stale("flow-", analysis.flows.len()) || stale("state-", analysis.states.len()) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    Ok(())
}

fn jsonl<T: Serialize>(records: &[T]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    for record in records {
        serde_json::to_writer(&mut out, record)?;
        out.push(b'\n');
    }
    Ok(out)
}

fn print_summary(analysis: &Analysis, index_ms: f64, analysis_ms: f64, out: &Path) {
    let s = &analysis.stats;
    let cg = &s.call_graph;
    eprintln!(
        "analysed {} Java files ({} types, {} generated; {} generated criteria files skipped), {} mapper statements",
        s.java_files, s.types, s.generated_types, s.criteria_files_skipped, s.mapper_statements
    );
    eprintln!(
        "call graph: {} call sites, {} resolved ({} to mapper statements, {} fanned out to all implementations), {} external, {} unresolved",
        cg.call_sites,
        cg.resolved,
        cg.to_mapper_statements,
        cg.to_all_implementations,
        cg.external,
        cg.unresolved
    );
    let mut kinds: std::collections::BTreeMap<&str, usize> = Default::default();
    for rule in &analysis.rules {
        *kinds.entry(rule.kind.as_str()).or_default() += 1;
    }
    let by_kind: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
    eprintln!("rules: {} ({})", s.rules, by_kind.join(", "));
    eprintln!(
        "flows: {}, state machines: {} ({} transitions), domains: {}",
        s.flows,
        s.state_machines,
        s.transitions,
        analysis.domains.domains.len()
    );
    let passes: Vec<String> = s
        .pass_ms
        .iter()
        .map(|(pass, ms)| format!("{pass} {ms:.1}"))
        .collect();
    eprintln!(
        "index {index_ms:.1} ms, analysis {analysis_ms:.1} ms ({}); wrote {}",
        passes.join(", "),
        out.display()
    );
    for warning in &analysis.warnings {
        eprintln!("warning: {warning}");
    }
}
