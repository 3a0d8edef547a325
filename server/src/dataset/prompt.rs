//! How a sample becomes a conversation: the system prompt, the user turn (question or
//! requirement with the evidence, each chunk headed by its id) and the assistant turn (answer
//! or design, then the reasoning steps with their citations).
//!
//! Strict inference builds its prompt with the same functions, so a tuned model sees at
//! answer time exactly the shape it was trained on: chunks headed `[chunk_id]`, citations in
//! square brackets.

use super::sample::{ComponentAction, Design, Evidence, Sample, SampleBody, SampleLanguage};

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

/// The user turn: the question or requirement, then the evidence.
pub fn user_turn(prompt: &str, evidence: &[Evidence], language: SampleLanguage) -> String {
    let heading = match language {
        SampleLanguage::En => "Evidence:",
        SampleLanguage::Zh => "证据：",
    };
    let mut out = format!("{prompt}\n\n{heading}\n");
    for e in evidence {
        out.push_str(&render_chunk(
            e.chunk_id.as_str(),
            &e.path,
            e.start_line,
            e.end_line,
            &e.symbol,
            &e.code,
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
    out.push_str(if zh {
        "\n\n推理依据：\n"
    } else {
        "\n\nReasoning:\n"
    });
    for (n, step) in sample.trace.iter().enumerate() {
        let cites: Vec<String> = step.evidence.iter().map(|id| format!("[{id}]")).collect();
        out.push_str(&format!("{}. {} {}\n", n + 1, step.claim, cites.join(" ")));
    }
    out.trim_end().to_owned()
}

fn render_design(design: &Design, assumptions: &[String], risks: &[String], zh: bool) -> String {
    let label = |en: &'static str, cn: &'static str| if zh { cn } else { en };
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
        label("Components:", "组件改动："),
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
    section(
        label("API changes:", "接口变更："),
        design.api_changes.clone(),
    );
    section(
        label("Data changes:", "数据变更："),
        design.data_changes.clone(),
    );
    section(label("Flow:", "流程："), design.flow.clone());
    section(
        label("Consistency and concurrency:", "一致性与并发："),
        design.consistency.clone(),
    );
    section(
        label("Reused:", "复用："),
        design
            .reused
            .iter()
            .map(|r| format!("`{}` [{}]: {}", r.symbol, r.chunk_id, r.how))
            .collect(),
    );
    section(label("Assumptions:", "假设："), assumptions.to_vec());
    section(label("Risks:", "风险："), risks.to_vec());
    out.trim_end().to_owned()
}
