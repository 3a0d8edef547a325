//! What the composed families share: how a fact becomes a sentence and a cited step, how a
//! cut list says it was cut, and the shape of a written sample. The families live in
//! [`super::composed`], [`super::access`], [`super::request_validation`] and
//! [`super::transaction`]; this module calls none of them.

use acdp_analysis::path_text::{outcome_en, outcome_zh, rule_sentence_en, rule_sentence_zh};
use acdp_analysis::rules::shorten;
use acdp_analysis::{Analysis, Flow, Rule, RuleKind};
use acdp_index::ChunkId;
use acdp_sample::{SampleBody, SampleLanguage, SampleSource, TraceStep};

use super::Written;
use super::evidence::{EvidenceSet, short_method};
use super::qa::{request, step};
use super::text::one_line;

/// Most facts one composed answer lists (answers stay readable and within model context).
pub(super) const MAX_FACTS: usize = 8;

/// A rule that makes its method fail, with its full path: the facts failure questions use.
/// Trivial guards count too: a list that says "these are the checks" must hold all of them.
pub(super) fn is_failure_rule(rule: &Rule) -> bool {
    rule.when.is_some()
        && rule.outcome.is_some_and(|o| o.is_failure())
        && rule.kind != RuleKind::Computation
}

pub(super) fn rule_sentence(rule: &Rule, language: SampleLanguage) -> Option<String> {
    let when = rule.when.as_ref()?;
    let method = short_method(&rule.symbol);
    let code = shorten(
        &one_line(rule.consequence.as_deref().unwrap_or_default()),
        120,
    );
    Some(match language {
        SampleLanguage::En => rule_sentence_en(
            &method,
            &outcome_en(rule.outcome, &code, rule.message.as_deref()),
            when,
        ),
        SampleLanguage::Zh => rule_sentence_zh(
            &method,
            &outcome_zh(rule.outcome, &code, rule.message.as_deref()),
            when,
        ),
    })
}

pub(super) fn written(
    language: SampleLanguage,
    domain: &str,
    question: String,
    answer: String,
    evidence: EvidenceSet<'_, '_>,
    trace: Vec<TraceStep>,
    source: SampleSource,
) -> Option<Written> {
    if trace.len() < 2 {
        return None;
    }
    Some(Written {
        request: request(language, domain, question.clone(), evidence, source),
        body: SampleBody::Qa { question, answer },
        trace,
    })
}

/// What a cut list holds, for the note that says it was cut.
#[derive(Clone, Copy)]
pub(super) enum Listed {
    Checks,
    Writes,
    Failures,
    Constraints,
}

/// The note after a list that was cut (at [`MAX_FACTS`] or because an item could not be
/// cited): a cut list must not read as complete. Empty when nothing was left out.
pub(super) fn cut_note(cut: bool, listed: Listed, language: SampleLanguage) -> &'static str {
    if !cut {
        return "";
    }
    match (listed, language) {
        (Listed::Checks, SampleLanguage::En) => {
            "\n(Further checks follow that are not listed here.)"
        }
        (Listed::Checks, SampleLanguage::Zh) => "\n（后面还有校验未在此列出。）",
        (Listed::Writes, SampleLanguage::En) => "\n(Further writes are not listed here.)",
        (Listed::Writes, SampleLanguage::Zh) => "\n（还有其他写入未在此列出。）",
        (Listed::Failures, SampleLanguage::En) => "\n(Further failures are not listed here.)",
        (Listed::Failures, SampleLanguage::Zh) => "\n（还有其他失败未在此列出。）",
        (Listed::Constraints, SampleLanguage::En) => "\n(Further constraints are not listed here.)",
        (Listed::Constraints, SampleLanguage::Zh) => "\n（还有其他约束未在此列出。）",
    }
}

pub(super) fn numbered(lines: &[String]) -> String {
    lines
        .iter()
        .enumerate()
        .map(|(n, l)| format!("{}. {l}", n + 1))
        .collect::<Vec<_>>()
        .join("\n")
}

pub(super) fn trigger(flow: &Flow) -> String {
    match (&flow.entry.verb, &flow.entry.path) {
        (Some(verb), Some(path)) => format!("`{verb} {path}`"),
        _ => format!("`{}`", short_method(&flow.entry.symbol)),
    }
}

/// The failures written in `methods` that no execution reaches (their value was loaded by a
/// query that already rules them out), as sentences and trace steps citing the method and the
/// finder: a list of a method's checks names them rather than stating them as outcomes or
/// silently leaving out code the reader can see.
pub(super) fn never_reached_lines(
    analysis: &Analysis,
    methods: &[&str],
    evidence: &mut EvidenceSet<'_, '_>,
    language: SampleLanguage,
) -> (String, Vec<TraceStep>) {
    let mut lines = Vec::new();
    let mut trace = Vec::new();
    for rule in analysis
        .never_reached
        .iter()
        .filter(|r| methods.contains(&r.symbol.as_str()))
    {
        let Some(finder) = rule.never_reached_by.as_deref().map(short_method) else {
            continue;
        };
        let ids: Vec<ChunkId> = rule
            .chunk_ids
            .iter()
            .filter_map(|id| evidence.add(id))
            .collect();
        if ids.len() != rule.chunk_ids.len() {
            continue;
        }
        let method = short_method(&rule.symbol);
        let condition = one_line(&rule.condition);
        let code = shorten(
            &one_line(rule.consequence.as_deref().unwrap_or_default()),
            120,
        );
        let line = match language {
            SampleLanguage::En => format!(
                "`{method}` also has `{code}` for `{condition}`, but no execution reaches it: `{finder}` loaded the value with a query that already requires the opposite."
            ),
            SampleLanguage::Zh => format!(
                "`{method}` 中还写有 `{code}`（条件 `{condition}`），但不会被执行：`{finder}` 加载该值的查询已经要求相反的条件。"
            ),
        };
        let cite: Vec<&ChunkId> = ids.iter().collect();
        trace.push(step(line.clone(), &cite));
        lines.push(line);
    }
    let text = if lines.is_empty() {
        String::new()
    } else {
        format!("\n{}", lines.join("\n"))
    };
    (text, trace)
}

/// The failure rules of a flow's entry and method steps, in step order.
/// A method reached through a call inside a `try` (at its call site or above) is left out: a
/// `catch` there may take what it throws, so its failures need not be the entry's.
pub(super) fn flow_failure_rules<'a>(analysis: &'a Analysis, flow: &Flow) -> Vec<&'a Rule> {
    let methods = std::iter::once(flow.entry.symbol.as_str()).chain(
        flow.steps
            .iter()
            .filter(|s| s.kind == "method" && !s.when.in_try() && !s.outer.in_try())
            .map(|s| s.symbol.as_str()),
    );
    let mut out = Vec::new();
    for symbol in methods {
        let mut rules: Vec<&Rule> = analysis
            .rules
            .iter()
            .filter(|r| r.symbol == symbol && is_failure_rule(r))
            .collect();
        rules.sort_by_key(|r| r.start_line);
        out.extend(rules);
    }
    out
}
