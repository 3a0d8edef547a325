//! Design samples: a requirement -> a design that follows the repository's own architecture.
//!
//! The design is anchored on an existing flow of the requirement's domain: the entry point
//! (controller method and its response wrapper), the service implementation that does the
//! work, the mapper statements it runs, the transaction and status rules on the way. New
//! components are named after the conventions found there (suffixes, layering), existing ones
//! are cited by chunk id. Requirements come from the domain map (derived) or from the user.

use std::sync::LazyLock;

use regex::Regex;

use acdp_analysis::{Analysis, Flow, RuleKind};
use acdp_index::ChunkId;
use acdp_sample::{
    ComponentAction, ComponentChange, Design, ReusedComponent, SampleBody, SampleLanguage,
    SampleSource, Task, TraceStep,
};

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
    let class_of = |symbol: &str| {
        symbol
            .split('(')
            .next()
            .and_then(|s| s.rsplit_once('.'))
            .map(|(c, _)| c.to_owned())
    };
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

fn design_for(
    analysis: &Analysis,
    lookup: &ChunkLookup<'_>,
    anchor: &Anchor<'_>,
    requirement: &str,
    kind: &str,
    language: SampleLanguage,
) -> Option<Written> {
    let zh = language == SampleLanguage::Zh;
    let t = |en: String, cn: String| if zh { cn } else { en };
    let flow = anchor.flow;
    let mut evidence = EvidenceSet::new(lookup);
    let entry_id = evidence.add(flow.entry.chunk_id.as_ref()?)?;
    let entry = short_method(&flow.entry.symbol);
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
    let service = anchor.service.map(|s| short_method(&s.symbol));
    let service_class = anchor
        .service
        .and_then(|s| s.symbol.split('(').next())
        .and_then(|s| s.rsplit_once('.'))
        .map(|(c, _)| c.to_owned());

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
    let service_symbol = anchor
        .service
        .map(|s| s.symbol.as_str())
        .unwrap_or_default();
    // On the method, inherited from its interface method (a rule of the method), or on its
    // class (a rule of the class).
    let service_type = service_symbol
        .split('(')
        .next()
        .and_then(|s| s.rsplit_once('.'));
    // Any method on the way from the service down to the write may open the transaction.
    let chain = write_chain(flow, anchor.write);
    let transaction_rule = analysis.rules.iter().find(|r| {
        r.kind == RuleKind::Transaction
            && !r.statement.contains("without a transaction")
            && (r.symbol == service_symbol
                || service_type.is_some_and(|(t, _)| r.symbol == t)
                || chain.iter().any(|m| {
                    *m == r.symbol
                        || m.split('(')
                            .next()
                            .and_then(|s| s.rsplit_once('.'))
                            .is_some_and(|(t, _)| r.symbol == t)
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
    let transactional = transaction_rule.is_some() && !transaction_ids.is_empty();
    // The method (or class) whose `@Transactional` the write runs in.
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

    let mut components = vec![
        ComponentChange {
            layer: "controller".into(),
            component: controller_class.clone(),
            action: ComponentAction::Modify,
            description: t(
                // Only a wrapper the repository defines is "the same": a plain `String`
                // (payment callbacks) or `void` is not one.
                match &wrapper_id.as_ref().and(wrapper.as_ref()) {
                    Some(w) => format!("add `GET /{base_path}/audit/{{id}}` returning the entries in `{w}`, as `{entry}` returns its result"),
                    None => format!("add `GET /{base_path}/audit/{{id}}` returning the entries of one record"),
                },
                match &wrapper_id.as_ref().and(wrapper.as_ref()) {
                    Some(w) => format!("新增 `GET /{base_path}/audit/{{id}}`，与 `{entry}` 一样用 `{w}` 返回"),
                    None => format!("新增 `GET /{base_path}/audit/{{id}}`，返回某条记录的审计日志"),
                },
            ),
        },
        ComponentChange {
            layer: "model".into(),
            component: new_model.clone(),
            action: ComponentAction::Add,
            description: t(format!("one row of `{new_table}`"), format!("对应 `{new_table}` 表的一行")),
        },
        ComponentChange {
            layer: "mapper".into(),
            component: new_dao.clone(),
            action: ComponentAction::Add,
            description: t(
                "insert and list-by-record statements, with their SQL in a mapper XML like the others".into(),
                "新增插入与按记录查询的语句，SQL 写在与现有一致的 mapper XML 中".into(),
            ),
        },
    ];
    if let Some(class) = &service_class {
        components.insert(
            1,
            ComponentChange {
                layer: "service_impl".into(),
                component: class.clone(),
                action: ComponentAction::Modify,
                description: t(
                    format!(
                        "after the write in `{}`, insert one audit row",
                        service.clone().unwrap_or_default()
                    ),
                    format!(
                        "在 `{}` 写库之后插入一条审计记录",
                        service.clone().unwrap_or_default()
                    ),
                ),
            },
        );
    }

    let mut consistency = vec![if transactional {
        t(
            format!(
                "write the audit row inside the existing `@Transactional` boundary of `{tx_owner}` so it commits or rolls back with the change"
            ),
            format!(
                "审计记录在 `{tx_owner}` 已有的 `@Transactional` 事务内写入，与业务修改一起提交或回滚"
            ),
        )
    } else {
        t(
            format!(
                "the write path has no `@Transactional` today: add it to `{}` so the change and its audit row commit together",
                service.clone().unwrap_or_else(|| entry.clone())
            ),
            format!(
                "当前写入路径没有 `@Transactional`：在 `{}` 上添加事务，保证修改与审计记录一起提交",
                service.clone().unwrap_or_else(|| entry.clone())
            ),
        )
    }];
    if let Some(rule) = status_rule {
        consistency.push(t(
            format!(
                "keep the existing status check in front of the write: {}",
                status_rule_text(rule, SampleLanguage::En).trim_end_matches('.')
            ),
            format!(
                "保留写库前现有的状态校验：{}",
                status_rule_text(rule, SampleLanguage::Zh)
            ),
        ));
    }

    let mut reused = vec![ReusedComponent {
        chunk_id: entry_id.clone(),
        symbol: flow.entry.symbol.clone(),
        how: t(
            "the new endpoint sits beside it and follows its mapping and response style".into(),
            "新接口与其并列，沿用相同的映射与返回风格".into(),
        ),
    }];
    let mut trace = vec![step(
        t(
            format!(
                "{} is handled by `{entry}` in `{}`.",
                trigger(flow),
                simple_name(&controller_class)
            ),
            format!(
                "{} 由 `{}` 中的 `{entry}` 处理。",
                trigger(flow),
                simple_name(&controller_class)
            ),
        ),
        &entry_id,
    )];
    if let (Some(id), Some(service)) = (&service_id, &service) {
        reused.push(ReusedComponent {
            chunk_id: id.clone(),
            symbol: service_symbol.to_owned(),
            how: t(
                format!("the audit row is written on this path, after the write of `{table}`"),
                format!("在这条路径上、`{table}` 写入之后写审计记录"),
            ),
        });
        trace.push(step(
            t(
                format!("`{entry}` calls `{service}` on the way to the write of `{table}`."),
                format!("`{entry}` 在写入 `{table}` 的路径上调用 `{service}`。"),
            ),
            id,
        ));
    }
    if let Some(id) = &write_id {
        reused.push(ReusedComponent {
            chunk_id: id.clone(),
            symbol: anchor.write.symbol.clone(),
            how: t(
                format!("its key columns identify the `{table}` row the audit entry refers to"),
                format!("其关键列用于标识审计记录对应的 `{table}` 行"),
            ),
        });
        trace.push(step(
            t(
                format!("`{}` writes `{table}`.", anchor.write.symbol),
                format!("`{}` 写入 `{table}` 表。", anchor.write.symbol),
            ),
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
    if write_id.is_none()
        && let Some(id) = writer.and_then(|id| evidence.add(id))
        && let Some(code) = evidence.get(&id).map(|e| e.code.clone())
    {
        let statement_id = anchor.write.symbol.rsplit('.').next().unwrap_or_default();
        let caller = short_method(&anchor.write.called_from);
        if code.contains(&format!(".{statement_id}(")) {
            trace.push(step(
                t(
                    format!(
                        "`{caller}` writes `{table}` by calling the generated mapper method `{statement_id}`."
                    ),
                    format!("`{caller}` 通过调用生成的 mapper 方法 `{statement_id}` 写入 `{table}` 表。"),
                ),
                &id,
            ));
        }
    }
    if let (Some(id), Some(w)) = (&wrapper_id, &wrapper) {
        reused.push(ReusedComponent {
            chunk_id: id.clone(),
            symbol: simple_name(&evidence.get(id)?.symbol).to_owned(),
            how: t(
                "the new endpoint returns its results in this wrapper".into(),
                "新接口使用该统一返回对象".into(),
            ),
        });
        trace.push(step(
            t(
                format!("Endpoints return `{w}`, the repository's response wrapper."),
                format!("接口统一返回 `{w}`。"),
            ),
            id,
        ));
    }
    if let Some(rule) = status_rule
        && let Some(id) = service_id.as_ref().filter(|id| rule.chunk_ids.contains(id))
    {
        trace.push(step(
            t(
                status_rule_text(rule, SampleLanguage::En),
                status_rule_text(rule, SampleLanguage::Zh),
            ),
            id,
        ));
    }
    if let Some(rule) = transaction_rule
        && let Some(id) = transaction_ids.last()
    {
        let claim = match &rule.inherited_from {
            Some(from) => t(
                format!(
                    "`{tx_owner}` carries no `@Transactional` itself; `{}` declares `{}`, which Spring applies to it, so the write runs in that transaction.",
                    short_method(from),
                    rule.condition
                ),
                format!(
                    "`{tx_owner}` 自身没有 `@Transactional`；`{}` 声明了 `{}`，Spring 会应用到实现类，写库在该事务中进行。",
                    short_method(from),
                    rule.condition
                ),
            ),
            None => t(
                format!(
                    "`{tx_owner}` is annotated `{}`, so the write runs in its transaction.",
                    rule.condition
                ),
                format!(
                    "`{tx_owner}` 标注了 `{}`，写库在其事务中进行。",
                    rule.condition
                ),
            ),
        };
        trace.push(step(claim, id));
    }
    if trace.len() < Task::Design.min_trace_steps() {
        return None;
    }
    // The audit row points at the changed record by its id.
    let key_columns = format!("{table}_id");
    let design = Design {
        summary: t(
            format!(
                "Extend the existing {} flow: after `{}` writes `{table}`, insert a row into a new `{new_table}` table through a new `{new_dao}`, and expose the entries beside `{entry}`.",
                anchor.domain,
                service.clone().unwrap_or_else(|| entry.clone())
            ),
            format!(
                "扩展现有的 {} 流程：`{}` 写入 `{table}` 后，通过新增的 `{new_dao}` 向新表 `{new_table}` 插入一行，并在 `{entry}` 旁提供查询接口。",
                anchor.domain,
                service.clone().unwrap_or_else(|| entry.clone())
            ),
        ),
        components,
        api_changes: vec![t(
            format!(
                "`GET /{base_path}/audit/{{id}}`: the audit entries of one `{table}` row, newest first"
            ),
            format!("`GET /{base_path}/audit/{{id}}`：按时间倒序返回某条 `{table}` 记录的审计日志"),
        )],
        data_changes: vec![t(
            format!(
                "new table `{new_table}` (id, {key_columns}, operator, operated_at, old_value, new_value), indexed by {key_columns}"
            ),
            format!(
                "新表 `{new_table}`（id, {key_columns}, operator, operated_at, old_value, new_value），按 {key_columns} 建索引"
            ),
        )],
        flow: vec![
            t(
                format!("{} reaches `{entry}` as today", trigger(flow)),
                format!("{} 照常进入 `{entry}`", trigger(flow)),
            ),
            t(
                format!(
                    "`{}` performs the existing write on `{table}`",
                    service.clone().unwrap_or_else(|| entry.clone())
                ),
                format!(
                    "`{}` 执行现有的 `{table}` 写操作",
                    service.clone().unwrap_or_else(|| entry.clone())
                ),
            ),
            t(
                format!("then it builds a `{new_model}` and calls `{new_dao}.insert`"),
                format!("随后构造 `{new_model}` 并调用 `{new_dao}.insert`"),
            ),
        ],
        consistency,
        reused,
    };
    let assumptions = vec![
        // Whether the endpoint requires a login is often configured outside the code read
        // here (URL whitelists): the design says what it needs instead of claiming it.
        t(
            "the operator is taken from the authenticated user when the endpoint requires a login; a call open to anonymous users is recorded without an operator".into(),
            "接口需要登录时，操作人取自登录用户；允许匿名访问的调用记录为无操作人".into(),
        ),
        t(
            format!("audit rows are never updated or deleted; `{new_table}` only grows"),
            format!("审计记录只增不改，`{new_table}` 只追加"),
        ),
    ];
    let risks = vec![t(
        format!("`{new_table}` grows with every change of `{table}`: plan archiving"),
        format!("`{new_table}` 会随 `{table}` 的每次修改增长，需要归档策略"),
    )];
    let (design, assumptions, risks) = if kind == "derived-audit" {
        (design, assumptions, risks)
    } else {
        // A requirement we cannot interpret is placed, not designed in detail: the design says
        // where it goes in this repository's layering and which existing rules it must keep.
        let dao_class = anchor
            .write
            .symbol
            .rsplit_once('.')
            .map_or(anchor.write.symbol.clone(), |(class, _)| class.to_owned());
        let service_name = service.clone().unwrap_or_else(|| entry.clone());
        let wrapped = wrapper
            .as_deref()
            .map_or(String::new(), |w| format!(" returning `{w}`"));
        let mut components = vec![ComponentChange {
            layer: "controller".into(),
            component: controller_class.clone(),
            action: ComponentAction::Modify,
            description: t(
                format!("add or extend the endpoint next to `{entry}`{wrapped}"),
                format!("在 `{entry}` 旁新增或扩展接口{wrapped}"),
            ),
        }];
        if let Some(class) = &service_class {
            components.push(ComponentChange {
                layer: "service_impl".into(),
                component: class.clone(),
                action: ComponentAction::Modify,
                description: t(
                    format!("put the new business rule in `{service_name}`, beside its existing checks and before its write"),
                    format!("在 `{service_name}` 中、现有校验旁、写库之前加入新的业务规则"),
                ),
            });
        }
        components.push(ComponentChange {
            layer: "mapper".into(),
            component: dao_class.clone(),
            action: ComponentAction::Modify,
            description: t(
                format!("add the statements the rule needs beside `{}`, with their SQL in the mapper XML", anchor.write.symbol),
                format!("在 `{}` 旁新增所需语句，SQL 写在 mapper XML 中", anchor.write.symbol),
            ),
        });
        let user_design = Design {
            summary: t(
                format!(
                    "Implement the requirement in the existing {} flow {}: follow its layering, `{entry}` (controller) -> `{service_name}` (service) -> `{}` (mapper on `{table}`), and keep its response wrapper, transaction and status checks.",
                    anchor.domain,
                    trigger(flow),
                    anchor.write.symbol
                ),
                format!(
                    "在现有的 {} 流程 {} 中实现该需求：沿用其分层，`{entry}`（控制器）-> `{service_name}`（服务）-> `{}`（`{table}` 的 mapper），并保留其统一返回、事务与状态校验。",
                    anchor.domain,
                    trigger(flow),
                    anchor.write.symbol
                ),
            ),
            components,
            api_changes: vec![t(
                format!("an endpoint next to {}{wrapped}", trigger(flow)),
                format!("在 {} 旁的接口{wrapped}", trigger(flow)),
            )],
            data_changes: vec![t(
                format!(
                    "`{table}` changes only if the requirement needs new columns; state them in a migration"
                ),
                format!("仅当需求需要新列时才修改 `{table}`，并写迁移脚本"),
            )],
            flow: vec![
                t(
                    format!("{} reaches `{entry}`", trigger(flow)),
                    format!("{} 进入 `{entry}`", trigger(flow)),
                ),
                t(
                    format!("`{service_name}` checks the new rule before it writes"),
                    format!("`{service_name}` 在写库前校验新规则"),
                ),
                t(
                    format!("the write goes through `{}` as today", anchor.write.symbol),
                    format!("照常通过 `{}` 写库", anchor.write.symbol),
                ),
            ],
            consistency: design.consistency,
            reused: design.reused,
        };
        let assumptions = vec![t(
            format!(
                "the requirement belongs to the {} domain and extends the flow {}",
                anchor.domain,
                trigger(flow)
            ),
            format!(
                "该需求属于 {} 领域，扩展流程 {}",
                anchor.domain,
                trigger(flow)
            ),
        )];
        let risks = vec![t(
            format!("every caller of `{service_name}` is affected by the new rule: review them"),
            format!("`{service_name}` 的所有调用方都会受新规则影响，需要逐一确认"),
        )];
        (user_design, assumptions, risks)
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
