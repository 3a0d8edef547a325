//! How a sample becomes a conversation: the system prompt, the user turn (question or
//! requirement with the evidence, each chunk headed by its id) and the assistant turn (answer
//! or design, then the reasoning steps with their citations).
//!
//! Strict inference builds its prompt with the same functions, so a tuned model sees at
//! answer time exactly the shape it was trained on: chunks headed `[chunk_id]`, citations in
//! square brackets.

use crate::{ComponentAction, Design, Evidence, Sample, SampleBody, SampleLanguage};

/// The system prompt for a repository.
pub fn system_prompt(repo_name: &str, language: SampleLanguage) -> String {
    match language {
        SampleLanguage::En => format!(
            "You are an expert on the code of the repository `{repo_name}`. Answer from the \
             evidence chunks given with the question only. Cite every claim with the id of the \
             chunk it rests on, in square brackets, like [c0123456789ab]. If the evidence does \
             not answer the question, say so."
        ),
        SampleLanguage::Zh => format!(
            "你是代码仓库 `{repo_name}` 的专家。只根据问题附带的证据代码块回答。每个结论都要用方括号\
             标注其依据的代码块 id，例如 [c0123456789ab]。如果证据不足以回答，请直接说明。"
        ),
    }
}

/// One evidence chunk as the model sees it.
pub fn render_chunk(
    chunk_id: &str,
    path: &str,
    start_line: u32,
    end_line: u32,
    symbol: &str,
    code: &str,
) -> String {
    let fence = if path.ends_with(".xml") {
        "xml"
    } else {
        "java"
    };
    format!("[{chunk_id}] {path}:{start_line}-{end_line} {symbol}\n```{fence}\n{code}\n```\n")
}

/// A chunk as a prompt shows it: what [`render_chunk`] needs, borrowed from a sample's
/// evidence or from retrieved chunks.
pub struct PromptChunk<'a> {
    pub chunk_id: &'a str,
    pub path: &'a str,
    pub start_line: u32,
    pub end_line: u32,
    pub symbol: &'a str,
    pub code: &'a str,
}

/// The user turn: the question or requirement, then the evidence.
pub fn user_turn(prompt: &str, evidence: &[Evidence], language: SampleLanguage) -> String {
    user_turn_with(
        prompt,
        evidence.iter().map(|e| PromptChunk {
            chunk_id: e.chunk_id.as_str(),
            path: &e.path,
            start_line: e.start_line,
            end_line: e.end_line,
            symbol: &e.symbol,
            code: &e.code,
        }),
        language,
    )
}

/// [`user_turn`] over any chunks: strict inference builds its prompt with this, so a tuned
/// model sees the shape it was trained on.
pub fn user_turn_with<'a>(
    prompt: &str,
    chunks: impl IntoIterator<Item = PromptChunk<'a>>,
    language: SampleLanguage,
) -> String {
    let heading = match language {
        SampleLanguage::En => "Evidence:",
        SampleLanguage::Zh => "证据：",
    };
    let mut out = format!("{prompt}\n\n{heading}\n");
    for c in chunks {
        out.push_str(&render_chunk(
            c.chunk_id,
            c.path,
            c.start_line,
            c.end_line,
            c.symbol,
            c.code,
        ));
    }
    out
}

/// The assistant turn: the answer or design, then the reasoning with citations.
pub fn assistant_turn(sample: &Sample) -> String {
    let zh = sample.language == SampleLanguage::Zh;
    let mut out = match &sample.body {
        SampleBody::Qa { answer, .. } => answer.clone(),
        SampleBody::Design {
            design,
            assumptions,
            risks,
            ..
        } => render_design(design, assumptions, risks, zh),
    };
    out.push_str(&format!(
        "\n\n{}\n",
        if zh { REASONING.1 } else { REASONING.0 }
    ));
    for (n, step) in sample.trace.iter().enumerate() {
        let cites: Vec<String> = step.evidence.iter().map(|id| format!("[{id}]")).collect();
        out.push_str(&format!("{}. {} {}\n", n + 1, step.claim, cites.join(" ")));
    }
    out.trim_end().to_owned()
}

/// The steps of an answer's `Reasoning:` section as [`assistant_turn`] writes it: the numbered
/// lines after the heading (either language), each with its citations, numbers removed. Empty
/// when the answer has no such section.
pub fn reasoning_steps(text: &str) -> Vec<&str> {
    use std::sync::LazyLock;
    static NUMBERED: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"^\s*\d+[.)]\s*(.*)$").expect("valid regex"));
    let mut lines = text.lines();
    if !lines.any(|l| [REASONING.0, REASONING.1].contains(&l.trim())) {
        return Vec::new();
    }
    lines
        .filter_map(|l| NUMBERED.captures(l))
        .filter_map(|c| c.get(1))
        .map(|m| m.as_str())
        .collect()
}

/// Section headings of a rendered design (English, Chinese): [`render_design`] writes them and
/// [`parse_design`] reads them back.
const COMPONENTS: (&str, &str) = ("Components:", "组件改动：");
const API_CHANGES: (&str, &str) = ("API changes:", "接口变更：");
const DATA_CHANGES: (&str, &str) = ("Data changes:", "数据变更：");
const FLOW: (&str, &str) = ("Flow:", "流程：");
const CONSISTENCY: (&str, &str) = ("Consistency and concurrency:", "一致性与并发：");
const REUSED: (&str, &str) = ("Reused:", "复用：");
const ASSUMPTIONS: (&str, &str) = ("Assumptions:", "假设：");
const RISKS: (&str, &str) = ("Risks:", "风险：");
const REASONING: (&str, &str) = ("Reasoning:", "推理依据：");

fn render_design(design: &Design, assumptions: &[String], risks: &[String], zh: bool) -> String {
    let label = |(en, cn): (&'static str, &'static str)| if zh { cn } else { en };
    let mut out = format!("{}\n", design.summary);
    let mut section = |title: &str, items: Vec<String>| {
        if !items.is_empty() {
            out.push_str(&format!("\n{title}\n"));
            for item in items {
                out.push_str(&format!("- {item}\n"));
            }
        }
    };
    section(
        label(COMPONENTS),
        design
            .components
            .iter()
            .map(|c| {
                let action = match (c.action, zh) {
                    (ComponentAction::Add, false) => "add",
                    (ComponentAction::Modify, false) => "change",
                    (ComponentAction::Add, true) => "新增",
                    (ComponentAction::Modify, true) => "修改",
                };
                format!(
                    "[{}] {action} `{}`: {}",
                    c.layer, c.component, c.description
                )
            })
            .collect(),
    );
    section(label(API_CHANGES), design.api_changes.clone());
    section(label(DATA_CHANGES), design.data_changes.clone());
    section(label(FLOW), design.flow.clone());
    section(label(CONSISTENCY), design.consistency.clone());
    section(
        label(REUSED),
        design
            .reused
            .iter()
            .map(|r| format!("`{}` [{}]: {}", r.symbol, r.chunk_id, r.how))
            .collect(),
    );
    section(label(ASSUMPTIONS), assumptions.to_vec());
    section(label(RISKS), risks.to_vec());
    out.trim_end().to_owned()
}

/// A component line of a design read back: `- [layer] add|change `Component`: description`.
#[derive(Clone, Debug, PartialEq)]
pub struct ComponentLine {
    pub layer: String,
    /// `None` when the line does not say add or change.
    pub action: Option<ComponentAction>,
    pub component: String,
    pub line: String,
}

/// A reused line read back: `- `symbol` [chunk_id]: how`.
#[derive(Clone, Debug, PartialEq)]
pub struct ReusedLine {
    pub symbol: String,
    pub chunk_id: Option<String>,
    pub line: String,
}

/// A design answer read back from the text [`assistant_turn`] renders for a design, in either
/// language: what strict inference checks a proposed design against.
#[derive(Clone, Debug, Default)]
pub struct DesignText {
    pub summary: String,
    pub components: Vec<ComponentLine>,
    pub reused: Vec<ReusedLine>,
    /// API and data changes: where a design names what does not exist yet.
    pub changes: Vec<String>,
    /// Flow, consistency, assumptions, risks and reasoning lines.
    pub other: Vec<String>,
}

/// Reads a design written in the shape of [`assistant_turn`]; lines before the first heading
/// are the summary.
pub fn parse_design(text: &str) -> DesignText {
    use std::sync::LazyLock;
    static COMPONENT: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"^[-*]\s*\[([^\]]+)\]\s*(add|change|新增|修改)?\s*`([^`]+)`")
            .expect("valid regex")
    });
    static REUSE: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(&format!(
            r"^[-*]\s*`([^`]+)`\s*(?:\[({})\])?",
            acdp_index::CHUNK_ID_PATTERN
        ))
        .expect("valid regex")
    });
    #[derive(PartialEq)]
    enum Section {
        Summary,
        Components,
        Changes,
        Reused,
        Other,
    }
    let heading = |line: &str| -> Option<Section> {
        let is = |(en, zh): (&str, &str)| line == en || line == zh;
        Some(if is(COMPONENTS) {
            Section::Components
        } else if is(API_CHANGES) || is(DATA_CHANGES) {
            Section::Changes
        } else if is(REUSED) {
            Section::Reused
        } else if is(FLOW) || is(CONSISTENCY) || is(ASSUMPTIONS) || is(RISKS) || is(REASONING) {
            Section::Other
        } else {
            return None;
        })
    };
    let mut out = DesignText::default();
    let mut section = Section::Summary;
    let mut summary = Vec::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(next) = heading(line) {
            section = next;
            continue;
        }
        match section {
            Section::Summary => summary.push(line),
            Section::Components => out.components.push(match COMPONENT.captures(line) {
                Some(c) => ComponentLine {
                    layer: c[1].to_string(),
                    action: c.get(2).map(|a| match a.as_str() {
                        "add" | "新增" => ComponentAction::Add,
                        _ => ComponentAction::Modify,
                    }),
                    component: c[3].to_string(),
                    line: line.to_string(),
                },
                None => ComponentLine {
                    layer: String::new(),
                    action: None,
                    component: String::new(),
                    line: line.to_string(),
                },
            }),
            Section::Reused => out.reused.push(match REUSE.captures(line) {
                Some(c) => ReusedLine {
                    symbol: c[1].to_string(),
                    chunk_id: c.get(2).map(|m| m.as_str().to_string()),
                    line: line.to_string(),
                },
                None => ReusedLine {
                    symbol: String::new(),
                    chunk_id: None,
                    line: line.to_string(),
                },
            }),
            Section::Changes => out.changes.push(line.to_string()),
            Section::Other => out.other.push(line.to_string()),
        }
    }
    out.summary = summary.join(" ");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ComponentChange, ReusedComponent};
    use acdp_index::ChunkId;

    #[test]
    fn a_rendered_design_reads_back_in_both_languages() {
        let design = Design {
            summary: "Add a refund step.".into(),
            components: vec![
                ComponentChange {
                    layer: "service".into(),
                    component: "RefundService".into(),
                    action: ComponentAction::Add,
                    description: "new".into(),
                },
                ComponentChange {
                    layer: "controller".into(),
                    component: "OrderController".into(),
                    action: ComponentAction::Modify,
                    description: "adds an endpoint".into(),
                },
            ],
            api_changes: vec!["POST /order/refund".into()],
            data_changes: vec!["new column `refund_amount`".into()],
            flow: vec!["check the order".into()],
            consistency: vec![],
            reused: vec![ReusedComponent {
                chunk_id: ChunkId::compute("A.java", acdp_index::ChunkKind::Method, "A.b()"),
                symbol: "A.b()".into(),
                how: "reads the order".into(),
            }],
        };
        for zh in [false, true] {
            let text = render_design(&design, &["one".into()], &[], zh);
            let parsed = parse_design(&text);
            assert_eq!(parsed.summary, "Add a refund step.");
            assert_eq!(parsed.components.len(), 2);
            assert_eq!(parsed.components[0].action, Some(ComponentAction::Add));
            assert_eq!(parsed.components[1].component, "OrderController");
            assert_eq!(parsed.components[1].action, Some(ComponentAction::Modify));
            assert_eq!(parsed.reused[0].symbol, "A.b()");
            assert_eq!(
                parsed.reused[0].chunk_id.as_deref(),
                Some(design.reused[0].chunk_id.as_str())
            );
            assert_eq!(parsed.changes.len(), 2);
            assert_eq!(parsed.other.len(), 2);
        }
    }
}
