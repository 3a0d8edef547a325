//! Design samples: a requirement -> a design that follows the repository's own architecture.
//!
//! The design is anchored on an existing flow of the requirement's domain: the entry point
//! (controller method and its response wrapper), the service implementation that does the
//! work, the mapper statements it runs, the transaction and status rules on the way. New
//! components are named after the conventions found there (suffixes, layering), existing ones
//! are cited by chunk id. Requirements come from the domain map (derived) or from the user.

use std::sync::LazyLock;

use regex::Regex;

use acdp_analysis::{Analysis, Flow, Rule, RuleKind};
use acdp_index::ChunkId;
use acdp_index::Symbol;
use acdp_sample::{
    ComponentAction, ComponentChange, Design, ReusedComponent, SampleBody, SampleLanguage,
    SampleSource, Task, TraceStep,
};

use super::design_anchor_text as text;
use super::evidence::{ChunkLookup, EvidenceSet, class_of, short_method, simple_name};
use super::{SampleRequest, Written};

static RETURN_TYPE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"public\s+([A-Z][A-Za-z0-9_]*)\s*(?:<[^()]*>)?\s+[a-z][A-Za-z0-9_]*\s*\(")
        .expect("valid regex")
});

/// A flow that writes data: the anchor a design extends.
struct Anchor<'f> {
    flow: &'f Flow,
    /// The service implementation step that issues the write (first method step).
    service: Option<&'f acdp_analysis::FlowStep>,
    /// The first writing statement.
    write: &'f acdp_analysis::FlowStep,
    /// The domain the design is for (the flow's, or the one whose table it writes).
    domain: &'f str,
}

fn anchor(flow: &Flow) -> Option<Anchor<'_>> {
    // Designs extend requests: a scheduled job or a listener has no mapping or response.
    if flow.entry.kind != "http" {
        return None;
    }
    // A write on the request's main line (only failing guards before it): a write in an
    // optional branch (`resetDefault` when a flag is set) is not "the" write a design hooks.
    let write = flow.steps.iter().find(|s| {
        s.kind == "statement"
            && matches!(s.operation.as_deref(), Some("insert" | "update" | "delete"))
            && s.table.is_some()
            && s.when.is_main_line()
            && s.outer.is_main_line()
    })?;
    let service = service_of(flow, write).filter(|s| !s.alternative);
    Some(Anchor {
        flow,
        service,
        write,
        domain: &flow.domain,
    })
}

/// The methods from the one issuing `write` up to (not including) the entry.
fn write_chain(flow: &Flow, write: &acdp_analysis::FlowStep) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = write.called_from.as_str();
    for _ in 0..16 {
        if current == flow.entry.symbol {
            break;
        }
        out.push(current.to_owned());
        match flow.steps.iter().find(|s| s.symbol == current) {
            Some(step) => current = step.called_from.as_str(),
            None => break,
        }
    }
    out
}

/// The method the entry calls on the way to `write`: the service that does the work (not a
/// private helper of the controller that only validates).
fn service_of<'f>(
    flow: &'f Flow,
    write: &acdp_analysis::FlowStep,
) -> Option<&'f acdp_analysis::FlowStep> {
    let mut current = write.called_from.as_str();
    for _ in 0..16 {
        let step = flow.steps.iter().find(|s| s.symbol == current)?;
        if step.called_from == flow.entry.symbol {
            return Some(step);
        }
        current = step.called_from.as_str();
    }
    None
}

/// The first flow step that writes one of `domain`'s tables, with the domain's own method
/// that issues it as the service.
fn borrowed_anchor<'f>(
    analysis: &'f Analysis,
    domain: &'f acdp_analysis::Domain,
) -> Option<Anchor<'f>> {
    let class_of = |symbol: &str| Symbol::parse(symbol).type_path.map(str::to_owned);
    analysis
        .flows
        .iter()
        .filter(|f| f.entry.kind == "http")
        .find_map(|flow| {
            let write_at = flow.steps.iter().position(|s| {
                s.kind == "statement"
                    && matches!(s.operation.as_deref(), Some("insert" | "update" | "delete"))
                    && s.table.as_ref().is_some_and(|t| domain.tables.contains(t))
            })?;
            let service = flow.steps[..write_at].iter().rev().find(|s| {
                s.kind == "method"
                    && class_of(&s.symbol).is_some_and(|c| domain.classes.contains(&c))
            })?;
            Some(Anchor {
                flow,
                service: Some(service),
                write: &flow.steps[write_at],
                domain: &domain.name,
            })
        })
}

/// Requirements derived from the domain map: for each domain, its first writing HTTP flow.
pub fn derived_designs(
    analysis: &Analysis,
    lookup: &ChunkLookup<'_>,
    languages: &[SampleLanguage],
) -> Vec<Written> {
    let mut out = Vec::new();
    for domain in &analysis.domains.domains {
        // HTTP entry points first: a requirement phrased around an endpoint reads naturally.
        let mut anchors: Vec<Anchor<'_>> = analysis
            .flows
            .iter()
            .filter(|f| f.domain == domain.name)
            .filter_map(anchor)
            .collect();
        anchors.sort_by_key(|a| a.flow.entry.kind != "http");
        // A domain without entry points of its own (a coupon or points service called from
        // the order flow) is anchored where another domain's flow writes one of its tables.
        let borrowed = anchors
            .is_empty()
            .then(|| borrowed_anchor(analysis, domain))
            .flatten();
        // The first anchor whose design can be written (and cited) in every language.
        let candidates = anchors.iter().chain(borrowed.iter());
        for anchor in candidates {
            let designs: Vec<Written> = languages
                .iter()
                .filter_map(|&language| {
                    let table = anchor.write.table.as_deref().unwrap_or_default();
                    let trigger = trigger(anchor.flow);
                    let requirement = match language {
                        SampleLanguage::En => format!(
                            "Record an audit entry (operator, time, old and new values) every time {trigger} changes `{table}`, and let administrators list the entries of one record."
                        ),
                        SampleLanguage::Zh => format!(
                            "每次 {trigger} 修改 `{table}` 时记录一条审计日志（操作人、时间、修改前后的值），并允许管理员查询某条记录的审计日志。"
                        ),
                    };
                    design_for(analysis, lookup, anchor, &requirement, "derived-audit", language)
                })
                .collect();
            if designs.len() == languages.len() {
                out.extend(designs);
                break;
            }
        }
    }
    out
}

/// A design for a requirement the user wrote: anchored on the writing flow whose entry path,
/// symbols and tables share the most words with the requirement.
pub fn user_design(
    analysis: &Analysis,
    lookup: &ChunkLookup<'_>,
    requirement: &str,
    language: SampleLanguage,
) -> Option<Written> {
    let words: Vec<String> = split_words(requirement);
    let candidates: Vec<(Anchor<'_>, Vec<String>)> = analysis
        .flows
        .iter()
        .filter(|f| f.entry.kind == "http")
        .filter_map(anchor)
        .map(|a| {
            let mut text = format!(
                "{} {} {}",
                a.flow.domain,
                a.flow.entry.path.as_deref().unwrap_or(""),
                a.flow.symbol
            );
            // Doc comments carry the words of the business, often in Chinese.
            let docs = a
                .flow
                .chunk_ids
                .iter()
                .filter_map(|id| lookup.index.chunk(id)?.1.doc.as_deref());
            for doc in docs {
                text.push(' ');
                text.push_str(doc);
            }
            for s in &a.flow.steps {
                text.push(' ');
                text.push_str(&s.symbol);
                text.push(' ');
                text.push_str(s.table.as_deref().unwrap_or(""));
            }
            (a, split_words(&text))
        })
        .collect();
    // Words shared by many flows (`order` in an order service) say little: weight each matched
    // word by the inverse of how many flows contain it.
    let weight = |word: &String| {
        let flows = candidates.iter().filter(|(_, w)| w.contains(word)).count();
        if flows == 0 { 0.0 } else { 1.0 / flows as f64 }
    };
    let best = candidates
        .iter()
        .map(|(a, flow_words)| {
            let score: f64 = words
                .iter()
                .filter(|w| flow_words.contains(w))
                .map(weight)
                .sum();
            (score, a)
        })
        .filter(|(score, _)| *score > 0.0)
        .max_by(|(x, a), (y, b)| {
            x.total_cmp(y)
                .then_with(|| b.flow.flow_id.cmp(&a.flow.flow_id))
        })?;
    design_for(analysis, lookup, best.1, requirement, "user", language)
}

/// A design for a requirement the user wrote, anchored on a writing flow that runs through
/// `chunk` ("design from this code" in the editor): among those flows, HTTP entries first, the
/// one sharing the most words with the requirement. `None` when no writing flow runs through
/// the chunk.
pub fn design_through_chunk(
    analysis: &Analysis,
    lookup: &ChunkLookup<'_>,
    chunk: &ChunkId,
    requirement: &str,
    language: SampleLanguage,
) -> Option<Written> {
    let words = split_words(requirement);
    let best = analysis
        .flows
        .iter()
        .filter(|f| f.chunk_ids.contains(chunk))
        .filter_map(anchor)
        .max_by_key(|a| {
            let text = format!(
                "{} {}",
                a.flow.entry.path.as_deref().unwrap_or(""),
                a.flow.symbol
            );
            let flow_words = split_words(&text);
            let score = words.iter().filter(|w| flow_words.contains(w)).count();
            (
                a.flow.entry.kind == "http",
                score,
                std::cmp::Reverse(a.flow.flow_id.clone()),
            )
        })?;
    design_for(analysis, lookup, &best, requirement, "user", language)
}

/// Lower-case words of a text, identifiers split at case changes and `_`; Chinese text as
/// character pairs (it has no spaces).
fn split_words(text: &str) -> Vec<String> {
    let is_cjk = |c: char| ('\u{4e00}'..='\u{9fff}').contains(&c);
    let cjk: Vec<char> = text.chars().collect();
    let mut words: Vec<String> = cjk
        .windows(2)
        .filter(|pair| is_cjk(pair[0]) && is_cjk(pair[1]))
        .map(|pair| pair.iter().collect())
        .collect();
    let mut current = String::new();
    let mut prev_lower = false;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && prev_lower && !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            prev_lower = c.is_ascii_lowercase();
            current.push(c.to_ascii_lowercase());
        } else {
            if current.len() > 2 {
                words.push(std::mem::take(&mut current));
            }
            current.clear();
            prev_lower = false;
        }
    }
    if current.len() > 2 {
        words.push(current);
    }
    words.retain(|w| w.len() > 2);
    words
}

fn trigger(flow: &Flow) -> String {
    match (&flow.entry.verb, &flow.entry.path) {
        // The verb stays outside the backticks: the code spells it `@PostMapping` or
        // `RequestMethod.POST`, so only the path is quoted as code.
        (Some(verb), Some(path)) => format!("{verb} `{path}`"),
        _ => format!("`{}`", short_method(&flow.entry.symbol)),
    }
}

fn step(claim: String, id: &ChunkId) -> TraceStep {
    TraceStep {
        claim,
        evidence: vec![id.clone()],
    }
}

fn pascal(name: &str) -> String {
    name.split(['_', '-'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut chars = p.chars();
            chars.next().map_or(String::new(), |c| {
                c.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// A status rule from its path facts, without the constant values the rule statement adds
/// (their declarations are not part of a design's evidence).
fn status_rule_text(rule: &acdp_analysis::Rule, language: SampleLanguage) -> String {
    use acdp_analysis::path_text::{outcome_en, outcome_zh, rule_sentence_en, rule_sentence_zh};
    let code = rule
        .consequence
        .as_deref()
        .map(|c| c.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let code = acdp_analysis::rules::shorten(&code, 120);
    let method = short_method(&rule.symbol);
    match (&rule.when, language) {
        (Some(when), SampleLanguage::En) => rule_sentence_en(
            &method,
            &outcome_en(rule.outcome, &code, rule.message.as_deref()),
            when,
        ),
        (Some(when), SampleLanguage::Zh) => rule_sentence_zh(
            &method,
            &outcome_zh(rule.outcome, &code, rule.message.as_deref()),
            when,
        ),
        (None, SampleLanguage::En) => format!("`{method}` checks `{}`.", rule.condition),
        (None, SampleLanguage::Zh) => format!("`{method}` 校验 `{}`。", rule.condition),
    }
}

/// What a design anchored on a flow's write rests on, gathered once: the entry, the service
/// and the write with their evidence, the response wrapper, the transaction and status check
/// the write runs under, and the names of what the audit design adds.
struct AnchorFacts<'f> {
    entry_id: ChunkId,
    /// `Type.method` of the entry point.
    entry: String,
    controller_class: String,
    table: String,
    write_id: Option<ChunkId>,
    service_id: Option<ChunkId>,
    /// `Type.method` of the service method, and its qualified class.
    service: Option<String>,
    service_class: Option<String>,
    service_symbol: &'f str,
    /// The entry's return type, and its header's chunk when the repository defines it.
    wrapper: Option<String>,
    wrapper_id: Option<ChunkId>,
    transaction_rule: Option<&'f Rule>,
    transaction_ids: Vec<ChunkId>,
    /// The method (or class) whose `@Transactional` the write runs in.
    tx_owner: String,
    status_rule: Option<&'f Rule>,
    new_model: String,
    new_table: String,
    new_dao: String,
    /// The path prefix the new endpoint shares with the anchor.
    base_path: String,
}

impl AnchorFacts<'_> {
    /// The method that writes: the service method when there is one, else the entry.
    fn writer(&self) -> String {
        self.service.clone().unwrap_or_else(|| self.entry.clone())
    }

    /// The wrapper, only when the repository defines it: a plain `String` (payment callbacks)
    /// or `void` is not one.
    fn defined_wrapper(&self) -> Option<&str> {
        self.wrapper_id.as_ref().and(self.wrapper.as_deref())
    }
}

fn anchor_facts<'f>(
    analysis: &'f Analysis,
    lookup: &ChunkLookup<'_>,
    anchor: &Anchor<'f>,
    evidence: &mut EvidenceSet<'_, '_>,
) -> Option<AnchorFacts<'f>> {
    let flow = anchor.flow;
    let entry_id = evidence.add(flow.entry.chunk_id.as_ref()?)?;
    let controller_class = class_of(&flow.entry.symbol)?.to_owned();
    let table = anchor.write.table.clone()?;
    let write_id = anchor
        .write
        .chunk_id
        .as_ref()
        .and_then(|id| evidence.add(id));
    let service_id = anchor
        .service
        .and_then(|s| s.chunk_id.as_ref())
        .and_then(|id| evidence.add(id));
    let service_symbol = anchor
        .service
        .map(|s| s.symbol.as_str())
        .unwrap_or_default();

    // The response wrapper: the return type of the entry method, when the repository defines it.
    let entry_code = evidence.get(&entry_id)?.code.clone();
    let wrapper = RETURN_TYPE
        .captures(&entry_code)
        .map(|c| c[1].to_owned())
        .filter(|name| name != "void" && name != "String");
    let wrapper_id = wrapper
        .as_deref()
        .and_then(|w| lookup.header_by_simple_name(w))
        .and_then(|id| evidence.add(id));

    // Rules on the service method: transactions and status checks the design must respect.
    // On the method, inherited from its interface method (a rule of the method), or on its
    // class (a rule of the class).
    let service_type = Symbol::parse(service_symbol).type_path;
    // Any method on the way from the service down to the write may open the transaction.
    let chain = write_chain(flow, anchor.write);
    let transaction_rule = analysis.rules.iter().find(|r| {
        r.kind == RuleKind::Transaction
            && !r.statement.contains("without a transaction")
            && (r.symbol == service_symbol
                || service_type.is_some_and(|t| r.symbol == t)
                || chain.iter().any(|m| {
                    *m == r.symbol || Symbol::parse(m).type_path.is_some_and(|t| r.symbol == t)
                }))
    });
    // The chunks that show the annotation (the interface method's, when it is inherited) are
    // evidence: the design names `@Transactional` on their authority.
    let transaction_ids: Vec<ChunkId> = transaction_rule
        .map(|r| {
            r.chunk_ids
                .iter()
                .filter_map(|id| evidence.add(id))
                .collect()
        })
        .unwrap_or_default();
    let tx_owner = transaction_rule
        .map(|r| {
            if r.symbol.contains('(') {
                short_method(&r.symbol)
            } else {
                simple_name(&r.symbol).to_owned()
            }
        })
        .unwrap_or_default();
    let status_rule = analysis
        .rules
        .iter()
        .find(|r| r.kind == RuleKind::StatusCheck && r.symbol == service_symbol);

    let new_model = format!("{}AuditLog", pascal(&table));
    let new_table = format!("{table}_audit_log");
    let dao_suffix = if anchor.write.symbol.contains("Mapper.") {
        "Mapper"
    } else {
        "Dao"
    };
    let new_dao = format!("{new_model}{dao_suffix}");
    // The new endpoint sits beside the anchor: same path prefix, last segment replaced.
    let base_path = flow
        .entry
        .path
        .as_deref()
        .and_then(|p| {
            p.trim_matches('/')
                .rsplit_once('/')
                .map(|(prefix, _)| prefix.to_owned())
        })
        .unwrap_or_else(|| anchor.domain.to_owned());
    Some(AnchorFacts {
        entry_id,
        entry: short_method(&flow.entry.symbol),
        controller_class,
        table,
        write_id,
        service_id,
        service: anchor.service.map(|s| short_method(&s.symbol)),
        service_class: anchor
            .service
            .and_then(|s| Symbol::parse(&s.symbol).type_path)
            .map(str::to_owned),
        service_symbol,
        wrapper,
        wrapper_id,
        transaction_rule,
        transaction_ids,
        tx_owner,
        status_rule,
        new_model,
        new_table,
        new_dao,
        base_path,
    })
}

/// How the write stays consistent: inside the transaction it already runs in, or one to add;
/// and the status check to keep in front of it.
fn consistency(facts: &AnchorFacts<'_>, language: SampleLanguage) -> Vec<String> {
    let transactional = facts.transaction_rule.is_some() && !facts.transaction_ids.is_empty();
    let mut consistency = vec![if transactional {
        text::inside_transaction(language, &facts.tx_owner)
    } else {
        text::without_transaction(language, &facts.writer())
    }];
    if let Some(rule) = facts.status_rule {
        consistency.push(text::keep_status_check(
            language,
            status_rule_text(rule, SampleLanguage::En).trim_end_matches('.'),
            &status_rule_text(rule, SampleLanguage::Zh),
        ));
    }
    consistency
}

/// What the design reuses and the trace that shows it, each step citing the chunk it rests on.
fn reused_and_trace(
    facts: &AnchorFacts<'_>,
    anchor: &Anchor<'_>,
    evidence: &mut EvidenceSet<'_, '_>,
    language: SampleLanguage,
) -> Option<(Vec<ReusedComponent>, Vec<TraceStep>)> {
    let flow = anchor.flow;
    let (entry, table) = (&facts.entry, &facts.table);
    let mut reused = vec![ReusedComponent {
        chunk_id: facts.entry_id.clone(),
        symbol: flow.entry.symbol.clone(),
        how: text::reuse_entry(language),
    }];
    let mut trace = vec![step(
        text::entry_step(
            language,
            &trigger(flow),
            entry,
            simple_name(&facts.controller_class),
        ),
        &facts.entry_id,
    )];
    if let (Some(id), Some(service)) = (&facts.service_id, &facts.service) {
        reused.push(ReusedComponent {
            chunk_id: id.clone(),
            symbol: facts.service_symbol.to_owned(),
            how: text::reuse_service(language, table),
        });
        // The call is in the entry's code, the service in its own, the table in the write's:
        // the step cites them all.
        trace.push(TraceStep {
            claim: text::service_step(language, entry, service, table),
            evidence: [Some(&facts.entry_id), Some(id), facts.write_id.as_ref()]
                .into_iter()
                .flatten()
                .cloned()
                .collect(),
        });
    }
    if let Some(id) = &facts.write_id {
        reused.push(ReusedComponent {
            chunk_id: id.clone(),
            symbol: anchor.write.symbol.clone(),
            how: text::reuse_write(language, table),
        });
        trace.push(step(
            text::write_step(language, &anchor.write.symbol, table),
            id,
        ));
    }
    // A generated mapper statement is not evidence: the method whose call issues it is.
    let writer = flow
        .steps
        .iter()
        .find(|s| s.symbol == anchor.write.called_from)
        .and_then(|s| s.chunk_id.as_ref())
        .or(flow
            .entry
            .chunk_id
            .as_ref()
            .filter(|_| anchor.write.called_from == flow.entry.symbol));
    if facts.write_id.is_none()
        && let Some(id) = writer.and_then(|id| evidence.add(id))
        && let Some(code) = evidence.get(&id).map(|e| e.code.clone())
    {
        let statement_id = anchor.write.symbol.rsplit('.').next().unwrap_or_default();
        let caller = short_method(&anchor.write.called_from);
        if code.contains(&format!(".{statement_id}(")) {
            trace.push(step(
                text::generated_write_step(language, &caller, table, statement_id),
                &id,
            ));
        }
    }
    if let (Some(id), Some(w)) = (&facts.wrapper_id, &facts.wrapper) {
        reused.push(ReusedComponent {
            chunk_id: id.clone(),
            symbol: simple_name(&evidence.get(id)?.symbol).to_owned(),
            how: text::reuse_wrapper(language),
        });
        trace.push(step(text::wrapper_step(language, w), id));
    }
    if let Some(rule) = facts.status_rule
        && let Some(id) = facts
            .service_id
            .as_ref()
            .filter(|id| rule.chunk_ids.contains(id))
    {
        trace.push(step(status_rule_text(rule, language), id));
    }
    if let Some(rule) = facts.transaction_rule
        && !facts.transaction_ids.is_empty()
    {
        let from = rule.inherited_from.as_deref().map(short_method);
        // Every chunk that shows the annotation, and where it is inherited the implementation
        // the step says carries none: each name the step uses is in a chunk it cites.
        let mut evidence = facts.transaction_ids.clone();
        if from.is_some()
            && let Some(id) = &facts.service_id
            && !evidence.contains(id)
        {
            evidence.insert(0, id.clone());
        }
        trace.push(TraceStep {
            claim: text::transaction_step(
                language,
                &facts.tx_owner,
                from.as_deref(),
                &rule.condition,
            ),
            evidence,
        });
    }
    Some((reused, trace))
}

/// The audit-log design: a new table, model and mapper, a row written after the existing
/// write, an endpoint beside the anchor.
fn audit_design(
    facts: &AnchorFacts<'_>,
    anchor: &Anchor<'_>,
    reused: Vec<ReusedComponent>,
    language: SampleLanguage,
) -> (Design, Vec<String>, Vec<String>) {
    let flow = anchor.flow;
    let (entry, table, new_table) = (&facts.entry, &facts.table, &facts.new_table);
    let mut components = vec![
        ComponentChange {
            layer: "controller".into(),
            component: facts.controller_class.clone(),
            action: ComponentAction::Modify,
            description: text::audit_endpoint(
                language,
                &facts.base_path,
                facts.defined_wrapper(),
                entry,
            ),
        },
        ComponentChange {
            layer: "model".into(),
            component: facts.new_model.clone(),
            action: ComponentAction::Add,
            description: text::audit_model(language, new_table),
        },
        ComponentChange {
            layer: "mapper".into(),
            component: facts.new_dao.clone(),
            action: ComponentAction::Add,
            description: text::audit_mapper(language),
        },
    ];
    if let Some(class) = &facts.service_class {
        components.insert(
            1,
            ComponentChange {
                layer: "service_impl".into(),
                component: class.clone(),
                action: ComponentAction::Modify,
                description: text::audit_service(
                    language,
                    &facts.service.clone().unwrap_or_default(),
                ),
            },
        );
    }
    // The audit row points at the changed record by its id.
    let key_columns = format!("{table}_id");
    let design = Design {
        summary: text::audit_summary(
            language,
            anchor.domain,
            &facts.writer(),
            table,
            new_table,
            &facts.new_dao,
            entry,
        ),
        components,
        api_changes: vec![text::audit_api(language, &facts.base_path, table)],
        data_changes: vec![text::audit_table(language, new_table, &key_columns)],
        flow: text::audit_flow(
            language,
            &trigger(flow),
            entry,
            &facts.writer(),
            table,
            &facts.new_model,
            &facts.new_dao,
        ),
        consistency: consistency(facts, language),
        reused,
    };
    let assumptions = text::audit_assumptions(language, new_table);
    let risks = vec![text::audit_risk(language, new_table, table)];
    (design, assumptions, risks)
}

/// A requirement we cannot interpret is placed, not designed in detail: the design says where
/// it goes in this repository's layering and which existing rules it must keep.
fn placed_design(
    facts: &AnchorFacts<'_>,
    anchor: &Anchor<'_>,
    reused: Vec<ReusedComponent>,
    language: SampleLanguage,
) -> (Design, Vec<String>, Vec<String>) {
    let flow = anchor.flow;
    let write = &anchor.write.symbol;
    let dao_class = write
        .rsplit_once('.')
        .map_or(write.clone(), |(class, _)| class.to_owned());
    let service_name = facts.writer();
    let wrapped = facts
        .wrapper
        .as_deref()
        .map_or(String::new(), |w| format!(" returning `{w}`"));
    let trigger = trigger(flow);
    let mut components = vec![ComponentChange {
        layer: "controller".into(),
        component: facts.controller_class.clone(),
        action: ComponentAction::Modify,
        description: text::placed_endpoint(language, &facts.entry, &wrapped),
    }];
    if let Some(class) = &facts.service_class {
        components.push(ComponentChange {
            layer: "service_impl".into(),
            component: class.clone(),
            action: ComponentAction::Modify,
            description: text::placed_service(language, &service_name),
        });
    }
    components.push(ComponentChange {
        layer: "mapper".into(),
        component: dao_class,
        action: ComponentAction::Modify,
        description: text::placed_mapper(language, write),
    });
    let design = Design {
        summary: text::placed_summary(
            language,
            anchor.domain,
            &trigger,
            &facts.entry,
            &service_name,
            write,
            &facts.table,
        ),
        components,
        api_changes: vec![text::placed_api(language, &trigger, &wrapped)],
        data_changes: vec![text::placed_data(language, &facts.table)],
        flow: text::placed_flow(language, &trigger, &facts.entry, &service_name, write),
        consistency: consistency(facts, language),
        reused,
    };
    let assumptions = vec![text::placed_assumption(language, anchor.domain, &trigger)];
    let risks = vec![text::placed_risk(language, &service_name)];
    (design, assumptions, risks)
}

/// The design for `requirement` anchored on `anchor`: the audit-log design for the derived
/// `derived-audit` kind, a placed design for a requirement a user wrote.
fn design_for(
    analysis: &Analysis,
    lookup: &ChunkLookup<'_>,
    anchor: &Anchor<'_>,
    requirement: &str,
    kind: &str,
    language: SampleLanguage,
) -> Option<Written> {
    let flow = anchor.flow;
    let mut evidence = EvidenceSet::new(lookup);
    let facts = anchor_facts(analysis, lookup, anchor, &mut evidence)?;
    let (reused, trace) = reused_and_trace(&facts, anchor, &mut evidence, language)?;
    if trace.len() < Task::Design.min_trace_steps() {
        return None;
    }
    let (design, assumptions, risks) = if kind == "derived-audit" {
        audit_design(&facts, anchor, reused, language)
    } else {
        placed_design(&facts, anchor, reused, language)
    };
    let source = SampleSource {
        kind: kind.to_owned(),
        flow_ids: vec![flow.flow_id.clone()],
        twin_key: format!("{}:{kind}", flow.flow_id),
        ..Default::default()
    };
    let request = SampleRequest {
        task: Task::Design,
        language,
        domain: anchor.domain.to_owned(),
        prompt: requirement.to_owned(),
        evidence: evidence.into_vec(),
        source,
    };
    let body = SampleBody::Design {
        requirement: requirement.to_owned(),
        design,
        assumptions,
        risks,
    };
    Some(Written {
        request,
        body,
        trace,
    })
}
