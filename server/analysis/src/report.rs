//! Human-readable renderings of an [`Analysis`]: a markdown report and Mermaid diagrams of the
//! domain map, each flow and each state machine. Pure string building, no I/O.

use acdp_index::Symbol;
use std::fmt::Write;

use super::{Analysis, Flow, StateMachine};

/// Mermaid ids must be plain words.
fn node_id(prefix: &str, index: usize) -> String {
    format!("{prefix}{index}")
}

fn label(text: &str) -> String {
    text.replace('"', "'").replace(['<', '>'], "")
}

/// The last two segments of a symbol: `OmsOrderServiceImpl.close(List,String)`.
fn short(symbol: &str) -> String {
    let symbol = Symbol::parse(symbol);
    match symbol.type_path {
        Some(_) => format!("{}.{}", symbol.owner(), symbol.signature()),
        None => symbol.signature().to_owned(),
    }
}

/// `graph LR` of domains, their tables and the calls between domains.
pub fn domains_mermaid(analysis: &Analysis) -> String {
    let mut out = String::from("graph LR\n");
    for (i, d) in analysis.domains.domains.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {}[\"{} ({} classes, {} entry points, {} rules)\"]",
            node_id("d", i),
            label(&d.name),
            d.classes.len(),
            d.entry_points.len(),
            d.rules
        );
        for (j, t) in d.tables.iter().enumerate() {
            let _ = writeln!(
                out,
                "  {} --> {}[(\"{}\")]",
                node_id("d", i),
                node_id(&format!("t{i}_"), j),
                label(t)
            );
        }
    }
    // Domain -> domain edges from flow steps.
    let mut edges: Vec<(usize, usize)> = Vec::new();
    let domain_index = |name: &str| analysis.domains.domains.iter().position(|d| d.name == name);
    for flow in &analysis.flows {
        let Some(from) = domain_index(&flow.domain) else {
            continue;
        };
        for step in &flow.steps {
            let owner = analysis.domains.domains.iter().position(|d| {
                d.classes
                    .iter()
                    .any(|c| step.symbol.starts_with(&format!("{c}.")))
            });
            if let Some(to) = owner
                && to != from
                && !edges.contains(&(from, to))
            {
                edges.push((from, to));
            }
        }
    }
    edges.sort_unstable();
    for (a, b) in edges {
        let _ = writeln!(out, "  {} -.calls.-> {}", node_id("d", a), node_id("d", b));
    }
    out
}

/// `sequenceDiagram`-like flowchart of one flow: entry, then steps by depth.
pub fn flow_mermaid(flow: &Flow) -> String {
    let mut out = String::from("graph TD\n");
    let title = match (&flow.entry.verb, &flow.entry.path, &flow.entry.timing) {
        (Some(verb), Some(path), _) => format!("{verb} {path}"),
        (_, _, Some(timing)) => format!("{} ({timing})", flow.entry.kind),
        _ => flow.entry.kind.clone(),
    };
    let _ = writeln!(
        out,
        "  e[\"{}<br/>{}\"]",
        label(&title),
        label(&short(&flow.entry.symbol))
    );
    // Parent of each step: the last step with a smaller depth.
    let mut stack: Vec<(u32, String)> = vec![(0, "e".to_owned())];
    for (i, step) in flow.steps.iter().enumerate() {
        let id = node_id("s", i);
        let text = match (&step.operation, &step.table) {
            (Some(op), Some(table)) => format!(
                "{}<br/>{} {}",
                short(&step.symbol),
                op.to_uppercase(),
                table
            ),
            _ => short(&step.symbol),
        };
        let shape = if step.kind == "statement" {
            format!("{id}[(\"{}\")]", label(&text))
        } else {
            format!("{id}[\"{}\"]", label(&text))
        };
        while stack.last().is_some_and(|(d, _)| *d >= step.depth) {
            stack.pop();
        }
        let parent = stack.last().map_or("e".to_owned(), |(_, p)| p.clone());
        let arrow = if step.alternative { "-.->" } else { "-->" };
        let _ = writeln!(out, "  {parent} {arrow} {shape}");
        stack.push((step.depth, id));
    }
    out
}

pub fn state_mermaid(machine: &StateMachine) -> String {
    let mut out = String::from("stateDiagram-v2\n");
    let name = |v: i64| {
        machine
            .values
            .iter()
            .find(|x| x.value == v)
            .and_then(|x| x.name.clone())
            .map_or(format!("S{v}"), |n| {
                format!("{n}_{v}").replace(|c: char| !c.is_ascii_alphanumeric() && c != '_', "_")
            })
    };
    for t in &machine.transitions {
        let method = label(&short(&t.method)).replace(':', " ");
        if t.creation {
            let _ = writeln!(out, "  [*] --> {} : {method}", name(t.to));
        } else if t.from.is_empty() {
            let _ = writeln!(out, "  {} : set by {method} (no guard)", name(t.to));
        }
        for &f in &t.from {
            let _ = writeln!(out, "  {} --> {} : {method}", name(f), name(t.to));
        }
    }
    out
}

/// The whole report.
pub fn markdown(analysis: &Analysis, repo_name: &str) -> String {
    let mut out = String::new();
    let s = &analysis.stats;
    let _ = writeln!(out, "# Analysis of {repo_name}\n");
    let _ = writeln!(
        out,
        "{} Java files, {} types ({} generated), {} methods, {} mapper statements.  ",
        s.java_files, s.types, s.generated_types, s.methods, s.mapper_statements
    );
    let cg = &s.call_graph;
    let _ = writeln!(
        out,
        "Call graph: {} call sites, {} resolved ({} to mapper statements), {} external, {} unresolved.  ",
        cg.call_sites, cg.resolved, cg.to_mapper_statements, cg.external, cg.unresolved
    );
    let _ = writeln!(
        out,
        "Found {} rules, {} flows, {} state machines ({} transitions).\n",
        s.rules, s.flows, s.state_machines, s.transitions
    );
    for w in &analysis.warnings {
        let _ = writeln!(out, "> warning: {w}\n");
    }

    let _ = writeln!(
        out,
        "## Domains\n\n```mermaid\n{}```\n",
        domains_mermaid(analysis)
    );
    let _ = writeln!(
        out,
        "| domain | classes | entry points | tables | rules |\n|---|---|---|---|---|"
    );
    for d in &analysis.domains.domains {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            d.name,
            d.classes.len(),
            d.entry_points.len(),
            d.tables.join(", "),
            d.rules
        );
    }

    let _ = writeln!(out, "\n## Rules\n");
    let mut domains: Vec<&str> = analysis.rules.iter().map(|r| r.domain.as_str()).collect();
    domains.sort_unstable();
    domains.dedup();
    for domain in domains {
        let _ = writeln!(out, "### {domain}\n");
        for r in analysis.rules.iter().filter(|r| r.domain == domain) {
            let _ = writeln!(
                out,
                "- **{}** {} — `{}:{}` [{}] {}",
                r.kind.as_str(),
                r.statement.replace('\n', " "),
                r.path,
                r.start_line,
                r.rule_id,
                r.chunk_ids
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        out.push('\n');
    }

    let _ = writeln!(out, "## Flows\n");
    for (i, f) in analysis.flows.iter().enumerate() {
        let title = match (&f.entry.verb, &f.entry.path, &f.entry.timing) {
            (Some(verb), Some(path), _) => format!("{verb} {path}"),
            (_, _, Some(timing)) => format!("{} `{timing}`", f.entry.kind),
            _ => f.entry.kind.clone(),
        };
        let _ = writeln!(out, "### {}. {title} — {}\n", i + 1, short(&f.entry.symbol));
        for step in &f.steps {
            let indent = "  ".repeat(step.depth.saturating_sub(1) as usize);
            let sql = match (&step.operation, &step.table) {
                (Some(op), Some(t)) => format!(
                    " — {} `{t}` by {}",
                    op.to_uppercase(),
                    step.key_columns.join(", ")
                ),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "{indent}- `{}`{sql} ({})",
                step.symbol,
                step.chunk_id.as_ref().map_or("", |c| c.as_str())
            );
        }
        let _ = writeln!(out, "\n```mermaid\n{}```\n", flow_mermaid(f));
    }

    let _ = writeln!(out, "## State machines\n");
    for m in &analysis.states {
        let _ = writeln!(
            out,
            "### {}.{}{}\n",
            m.entity,
            m.field,
            m.table
                .as_ref()
                .map(|t| format!(" (table `{t}`)"))
                .unwrap_or_default()
        );
        for v in &m.values {
            let _ = writeln!(
                out,
                "- {} {} {}",
                v.value,
                v.name.as_deref().unwrap_or(""),
                v.meaning.as_deref().unwrap_or("").replace('\n', " ")
            );
        }
        out.push('\n');
        for t in &m.transitions {
            let _ = writeln!(
                out,
                "- {:?} -> {} by `{}`{}{}",
                t.from,
                t.to,
                short(&t.method),
                t.via
                    .as_ref()
                    .map(|v| format!(" via `{}`", short(v)))
                    .unwrap_or_default(),
                t.guard
                    .as_ref()
                    .map(|g| format!(" when `{g}` ({})", t.guard_in.as_deref().unwrap_or("")))
                    .unwrap_or_default()
            );
        }
        let _ = writeln!(out, "\n```mermaid\n{}```\n", state_mermaid(m));
    }
    out
}
