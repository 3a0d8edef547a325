//! QA samples written from the analysis: one family of questions per fact kind (rules, flows,
//! state values, transitions), several phrasings each, in English and Chinese. Answers name the
//! identifiers and values the code uses and every trace step cites the chunk it rests on.

use acdp_analysis::path_text::{
    context_en, context_zh, outcome_en, outcome_zh, rule_sentence_en, rule_sentence_zh, when_en,
    when_zh,
};
use acdp_analysis::rules::{RuleSource, shorten};
use acdp_analysis::{Analysis, Flow, Rule, RuleKind, StateMachine, Transition};
use acdp_index::ChunkId;
use acdp_index::Symbol;
use acdp_sample::validate::ungrounded_terms;
use acdp_sample::{Evidence, SampleBody, SampleLanguage, SampleSource, Task, TraceStep};

use super::composed::caller_chain;
use super::evidence::{ChunkLookup, EvidenceSet, short_method, simple_name};
use super::text::{by_lang, fill, one_line, pick};
use super::{SampleRequest, Written};

/// Longest condition quoted verbatim in a question.
const MAX_QUOTED: usize = 140;
/// Most chunks a flow answer walks through.
const MAX_FLOW_EVIDENCE: usize = 10;

pub fn qa_samples(
    analysis: &Analysis,
    lookup: &ChunkLookup<'_>,
    seed: u64,
    languages: &[SampleLanguage],
) -> Vec<Written> {
    // A check whose condition is written twice in one method (the same test in two branches)
    // cannot be asked about by its condition alone: "what happens when C" has two answers, and
    // an answer giving one path reads as the only one. Those checks are asked about in the
    // method's list of checks, where each comes with its own path.
    let mut written_twice: std::collections::HashMap<(&str, String), usize> =
        std::collections::HashMap::new();
    for rule in &analysis.rules {
        *written_twice
            .entry((rule.symbol.as_str(), one_line(&rule.condition)))
            .or_default() += 1;
    }
    let mut out = Vec::new();
    for &language in languages {
        for rule in &analysis.rules {
            let ambiguous = written_twice
                .get(&(rule.symbol.as_str(), one_line(&rule.condition)))
                .is_some_and(|&n| n > 1);
            if ambiguous && rule.kind != RuleKind::Computation {
                continue;
            }
            out.extend(rule_samples(rule, lookup, seed, language));
        }
        for flow in &analysis.flows {
            out.extend(flow_sample(flow, lookup, seed, language));
        }
        for machine in &analysis.states {
            let domain = machine_domain(analysis, machine);
            out.extend(state_values_sample(machine, &domain, lookup, language));
            for transition in &machine.transitions {
                // "What does `m` set the status to" has one answer only when `m` makes one
                // change to it; several are listed together in the status lifecycle.
                let changes_in_method = machine
                    .transitions
                    .iter()
                    .filter(|t| t.method == transition.method)
                    .count();
                if changes_in_method > 1 {
                    continue;
                }
                out.extend(transition_sample(
                    machine, transition, &domain, lookup, seed, language,
                ));
            }
        }
    }
    out
}

pub(super) fn request(
    language: SampleLanguage,
    domain: &str,
    prompt: String,
    evidence: EvidenceSet<'_, '_>,
    source: SampleSource,
) -> SampleRequest {
    SampleRequest {
        task: Task::Qa,
        language,
        domain: domain.to_owned(),
        prompt,
        evidence: evidence.into_vec(),
        source,
    }
}

pub(super) fn step(claim: String, ids: &[&ChunkId]) -> TraceStep {
    TraceStep {
        claim,
        evidence: ids.iter().map(|id| (*id).clone()).collect(),
    }
}

/// Header chunks of the types whose constants the rule resolved (`OrderStatus.WAIT_PAY` ->
/// the `OrderStatus` header), found by simple name.
fn constant_headers(
    rule: &Rule,
    lookup: &ChunkLookup<'_>,
    evidence: &mut EvidenceSet<'_, '_>,
) -> Vec<(String, String, ChunkId)> {
    let mut found = Vec::new();
    for value in &rule.values {
        let owner = value
            .name
            .rsplit_once('.')
            .map(|(owner, _)| owner)
            .unwrap_or("");
        let Some(header) = lookup.header_by_simple_name(simple_name(owner)) else {
            continue;
        };
        if let Some(id) = evidence.add(header) {
            found.push((value.name.clone(), value.value.clone(), id));
        }
    }
    found
}

fn rule_samples(
    rule: &Rule,
    lookup: &ChunkLookup<'_>,
    seed: u64,
    language: SampleLanguage,
) -> Vec<Written> {
    let mut written = Vec::new();
    let method = short_method(&rule.symbol);
    let condition = one_line(&rule.condition);
    // The rule's own condition in the polarity under which its consequence happens.
    let firing = rule
        .when
        .as_ref()
        .and_then(|w| w.conditions.last())
        .map(|c| c.as_expression());
    // A computation inside a branch is asked about in that branch.
    let scope = rule
        .when
        .as_ref()
        .filter(|w| !w.conditions.is_empty() && rule.kind == RuleKind::Computation)
        .map(|w| {
            w.conditions
                .iter()
                .map(|c| c.as_expression())
                .collect::<Vec<_>>()
                .join(" && ")
        });
    let scope_en = scope
        .as_ref()
        .map(|s| format!(" when `{s}`"))
        .unwrap_or_default();
    let scope_zh = scope
        .as_ref()
        .map(|s| format!(" 在 `{s}` 时"))
        .unwrap_or_default();
    let templates: Vec<(&str, &str)> = match rule.kind {
        RuleKind::Guard
        | RuleKind::StatusCheck
        | RuleKind::StockCheck
        | RuleKind::AmountCheck
        | RuleKind::Locking => {
            // A guard that only restates CRUD plumbing (`if (count > 0) return success; return
            // failed();`, a bare null check) teaches nothing about the business: no sample.
            if is_plumbing(rule) {
                return written;
            }
            let mut t = Vec::new();
            // Asked about the condition under which the consequence happens, in that polarity,
            // never about the `if` as written (its consequence may run when it is false).
            if firing.is_some() {
                t.push((
                    "what-happens-if",
                    by_lang(
                        language,
                        pick(
                            seed,
                            &rule.rule_id,
                            &[
                                "What happens in `{method}` when `{firing}`?",
                                "In `{method}`, what does the code do if `{firing}`?",
                            ],
                        ),
                        "在 `{method}` 中，当 `{firing}` 时会发生什么？",
                    ),
                ));
            }
            let topic = match (rule.kind, language) {
                (RuleKind::StatusCheck, SampleLanguage::En) => {
                    "Which status check does `{method}` make, and what follows from it?"
                }
                // Stock and amount are told by words in the condition: a question that names
                // the topic could presuppose what the check is not about.
                (RuleKind::StockCheck | RuleKind::AmountCheck, SampleLanguage::En) => {
                    "Which check on `{condition}` does `{method}` make, and what follows from it?"
                }
                (RuleKind::Locking, SampleLanguage::En) => {
                    "How does `{method}` guard against concurrent or repeated execution?"
                }
                (_, SampleLanguage::En) => {
                    "Which precondition does `{method}` enforce here, and with what result?"
                }
                (RuleKind::StatusCheck, SampleLanguage::Zh) => {
                    "`{method}` 做了哪些状态判断？结果如何？"
                }
                (RuleKind::StockCheck | RuleKind::AmountCheck, SampleLanguage::Zh) => {
                    "`{method}` 对 `{condition}` 做了什么判断？结果如何？"
                }
                (RuleKind::Locking, SampleLanguage::Zh) => "`{method}` 如何防止并发或重复执行？",
                (_, SampleLanguage::Zh) => "`{method}` 在这里校验了什么前置条件？结果如何？",
            };
            // One question per check: the same answer twice under two phrasings teaches
            // nothing new. The family is picked by seed so both stay in the mix.
            let what_if = t.pop();
            let prefer_what_if = pick(seed, &rule.rule_id, &["a", "b"]) == "a";
            match what_if {
                Some(w) if prefer_what_if => t.push(w),
                _ => t.push(("rule-check", topic)),
            }
            if rule.comment.is_some() {
                t.push((
                    "why",
                    by_lang(
                        language,
                        "Why does `{method}` check `{condition}`?",
                        "`{method}` 为什么要检查 `{condition}`？",
                    ),
                ));
            }
            t
        }
        RuleKind::Computation => vec![(
            "computation",
            by_lang(
                language,
                pick(
                    seed,
                    &rule.rule_id,
                    &[
                        "How does `{method}` compute `{target}`{scope}?",
                        "Which terms make up `{target}` in `{method}`{scope}?",
                    ],
                ),
                "`{method}`{scope_zh}如何计算 `{target}`？",
            ),
        )],
        // Asked per endpoint that binds the type, or per type (module `request_validation`).
        RuleKind::Validation => Vec::new(),
        // Its own family, with what rolls the transaction back (module `transaction`).
        RuleKind::Transaction => Vec::new(),
        RuleKind::Schedule => vec![(
            "schedule",
            by_lang(
                language,
                "When does `{method}` run?",
                "`{method}` 什么时候执行？",
            ),
        )],
    };
    for (kind, template) in templates {
        let firing = firing.clone().unwrap_or_default();
        if (template.contains("{condition}") && condition.chars().count() > MAX_QUOTED)
            || (template.contains("{firing}") && firing.chars().count() > MAX_QUOTED)
        {
            continue;
        }
        let mut evidence = EvidenceSet::new(lookup);
        let ids: Vec<ChunkId> = rule
            .chunk_ids
            .iter()
            .filter_map(|id| evidence.add(id))
            .collect();
        let Some(primary) = ids.first().cloned() else {
            continue;
        };
        let constants = constant_headers(rule, lookup, &mut evidence);
        let field = match (&rule.field, language) {
            (Some(f), SampleLanguage::En) => format!(" of `{f}`"),
            (Some(f), SampleLanguage::Zh) => format!("（字段 `{f}`）"),
            (None, _) => String::new(),
        };
        let class = simple_name(
            Symbol::parse(&rule.symbol)
                .type_path
                .unwrap_or(&rule.symbol),
        )
        .to_owned();
        let symbol_short = if rule.kind == RuleKind::Validation {
            simple_name(&rule.symbol).to_owned()
        } else {
            class
        };
        let prompt = fill(
            template,
            &[
                ("method", &method),
                ("condition", &condition),
                ("firing", &firing),
                ("target", rule.field.as_deref().unwrap_or("the amount")),
                ("scope", &scope_en),
                ("scope_zh", &scope_zh),
                ("symbol", &symbol_short),
                ("field", &field),
            ],
        );
        let (answer, mut trace) = rule_answer(
            rule,
            &method,
            &condition,
            kind,
            &primary,
            language,
            evidence.items(),
            &prompt,
        );
        for (name, value, id) in &constants {
            trace.push(step(
                match language {
                    SampleLanguage::En => format!("`{name}` stands for the value {value}."),
                    SampleLanguage::Zh => format!("`{name}` 对应的值是 {value}。"),
                },
                &[id],
            ));
        }
        for id in ids.iter().skip(1) {
            if let Some(e) = evidence.get(id) {
                trace.push(step(
                    match language {
                        SampleLanguage::En => {
                            format!("The rule also rests on `{}`.", short_method(&e.symbol))
                        }
                        SampleLanguage::Zh => {
                            format!("该规则还依赖 `{}`。", short_method(&e.symbol))
                        }
                    },
                    &[id],
                ));
            }
        }
        let mut answer = answer;
        if !constants.is_empty() {
            let named: Vec<String> = constants
                .iter()
                .map(|(n, v, _)| format!("`{n}` = {v}"))
                .collect();
            answer.push_str(&match language {
                SampleLanguage::En => format!(" Here {}.", named.join(", ")),
                SampleLanguage::Zh => format!(" 其中 {}。", named.join("，")),
            });
        }
        let source = SampleSource {
            kind: kind.to_owned(),
            rule_ids: vec![rule.rule_id.clone()],
            twin_key: format!("{}:{kind}", rule.rule_id),
            ..Default::default()
        };
        let body = SampleBody::Qa {
            question: prompt.clone(),
            answer,
        };
        written.push(Written {
            request: request(language, &rule.domain, prompt, evidence, source),
            body,
            trace,
        });
    }
    written
}

/// A guard with no business value: no message, no named constant, not a status, stock or
/// amount check.
pub(super) fn is_plumbing(rule: &Rule) -> bool {
    rule.kind == RuleKind::Guard && rule.message.is_none() && rule.values.is_empty()
}

#[allow(clippy::too_many_arguments)]
fn rule_answer(
    rule: &Rule,
    method: &str,
    condition: &str,
    kind: &str,
    primary: &ChunkId,
    language: SampleLanguage,
    evidence: &[Evidence],
    prompt: &str,
) -> (String, Vec<TraceStep>) {
    let at = format!("`{}`", rule.path);
    let sql = rule.source == RuleSource::Sql;
    let zh = language == SampleLanguage::Zh;
    // Checks and computations say what happens under the full path from method entry.
    let path_sentence = rule.when.as_ref().map(|when| {
        let code = rule
            .consequence
            .as_deref()
            .map(one_line)
            .unwrap_or_default();
        let code = shorten(&code, 120);
        match (rule.kind, zh) {
            (RuleKind::Computation, false) => rule.statement.clone(),
            (RuleKind::Computation, true) => {
                let mut a = format!("`{method}` 计算 `{condition}`");
                if let Some(w) = when_zh(when) {
                    a = format!("{w}，{a}");
                }
                for c in context_zh(when) {
                    a = format!("{c}，{a}");
                }
                a.push('。');
                a
            }
            (_, false) => rule_sentence_en(
                method,
                &outcome_en(rule.outcome, &code, rule.message.as_deref()),
                when,
            ),
            (_, true) => rule_sentence_zh(
                method,
                &outcome_zh(rule.outcome, &code, rule.message.as_deref()),
                when,
            ),
        }
    });
    let mut answer = match (&path_sentence, language) {
        (Some(sentence), _) => sentence.clone(),
        (None, SampleLanguage::En) => {
            let mut a = rule.statement.clone();
            if !ungrounded_terms(&a, evidence, prompt).is_empty() {
                // The analysis' sentence names something the evidence does not show (a value
                // resolved elsewhere): name the code itself instead.
                a = format!("`{method}` has the rule `{condition}`.");
            }
            if let (RuleKind::Schedule, Some(timing)) = (rule.kind, &rule.timing) {
                a.push_str(&format!(" Its timing is `{}`.", one_line(timing)));
            }
            a
        }
        (None, SampleLanguage::Zh) => {
            let mut a = match rule.kind {
                _ if sql => format!(
                    "`{method}` 的 WHERE 子句包含 `{condition}`，不满足该条件的行不会被修改。"
                ),
                _ => format!("`{method}` 的规则为 `{condition}`。"),
            };
            if let Some(message) = &rule.message {
                a.push_str(&format!("提示信息为 \"{message}\"。"));
            }
            if let Some(timing) = &rule.timing {
                a.push_str(&format!("执行时间为 `{}`。", one_line(timing)));
            }
            a
        }
    };
    if rule.kind == RuleKind::Computation && !rule.terms.is_empty() {
        let terms = rule
            .terms
            .iter()
            .map(|t| format!("`{t}`"))
            .collect::<Vec<_>>();
        answer.push_str(&match language {
            SampleLanguage::En => format!(" The terms are {}.", terms.join(", ")),
            SampleLanguage::Zh => format!("涉及 {}。", terms.join("、")),
        });
    }
    answer.push_str(&match language {
        SampleLanguage::En => format!(" See `{method}` in {at}."),
        SampleLanguage::Zh => format!("代码位置：{at}。"),
    });
    if kind == "why"
        && let Some(comment) = &rule.comment
    {
        answer = match language {
            SampleLanguage::En => format!(
                "The comment next to the check says: \"{}\". {answer}",
                one_line(comment)
            ),
            SampleLanguage::Zh => format!("代码旁的注释说明：\"{}\"。{answer}", one_line(comment)),
        };
    }
    let mut trace = Vec::new();
    match (&rule.when, language) {
        (Some(when), _) if !when.conditions.is_empty() => {
            // One step per condition on the way, outermost first, then what happens.
            for c in &when.conditions {
                let e = c.as_expression();
                trace.push(step(
                    match language {
                        SampleLanguage::En => format!("On this path `{e}` holds in `{method}`."),
                        SampleLanguage::Zh => format!("在这条路径上，`{method}` 中 `{e}` 成立。"),
                    },
                    &[primary],
                ));
            }
        }
        (_, SampleLanguage::En) if sql => trace.push(step(
            format!(
                "The WHERE clause of `{method}` contains `{condition}`, so a row that fails it is not changed."
            ),
            &[primary],
        )),
        (_, SampleLanguage::Zh) if sql => trace.push(step(
            format!("`{method}` 的 WHERE 子句包含 `{condition}`，不满足条件的行不会被修改。"),
            &[primary],
        )),
        (_, SampleLanguage::En) => {
            trace.push(step(format!("`{method}` declares `{condition}`."), &[primary]))
        }
        (_, SampleLanguage::Zh) => {
            trace.push(step(format!("`{method}` 声明了 `{condition}`。"), &[primary]))
        }
    }
    if let Some(sentence) = path_sentence {
        trace.push(step(sentence, &[primary]));
    } else if sql {
        trace.push(step(
            match language {
                SampleLanguage::En => format!(
                    "`{method}` only changes rows where `{condition}`; other rows are left as they are."
                ),
                SampleLanguage::Zh => format!("`{method}` 只修改满足 `{condition}` 的行，其他行保持不变。"),
            },
            &[primary],
        ));
    } else {
        trace.push(step(
            match language {
                SampleLanguage::En => {
                    format!("This is a {} rule of `{method}`.", rule.kind.as_str())
                }
                SampleLanguage::Zh => format!("规则类型为 {}。", rule.kind.as_str()),
            },
            &[primary],
        ));
    }
    (answer, trace)
}

fn flow_sample(
    flow: &Flow,
    lookup: &ChunkLookup<'_>,
    seed: u64,
    language: SampleLanguage,
) -> Option<Written> {
    let mut evidence = EvidenceSet::new(lookup);
    let entry_id = evidence.add(flow.entry.chunk_id.as_ref()?)?;
    let entry = short_method(&flow.entry.symbol);
    let trigger = match (&flow.entry.verb, &flow.entry.path) {
        (Some(verb), Some(path)) => format!("`{verb} {path}`"),
        _ => format!("`{entry}`"),
    };
    let mut trace = vec![step(
        match (flow.entry.kind.as_str(), language) {
            ("http", SampleLanguage::En) => format!("{trigger} is handled by `{entry}`."),
            ("http", SampleLanguage::Zh) => format!("{trigger} 由 `{entry}` 处理。"),
            (_, SampleLanguage::En) => {
                format!("`{entry}` is the entry point ({}).", flow.entry.kind)
            }
            (_, SampleLanguage::Zh) => format!("入口为 `{entry}`（{}）。", flow.entry.kind),
        },
        &[&entry_id],
    )];
    let mut lines = Vec::new();
    let mut omitted = 0;
    for (n, flow_step) in flow.steps.iter().enumerate() {
        if evidence.len() >= MAX_FLOW_EVIDENCE {
            // The list is cut: say so, never let it read as the whole flow.
            omitted = flow.steps.len() - n;
            break;
        }
        let own = flow_step.chunk_id.as_ref().and_then(|id| evidence.add(id));
        // A generated mapper statement is not evidence; the call to it in the caller is.
        let generated_call = match (&own, flow_step.kind.as_str()) {
            (None, "statement") => generated_statement_call(flow, flow_step, &mut evidence),
            _ => None,
        };
        let Some(id) = own.or_else(|| generated_call.as_ref().map(|(id, _)| id.clone())) else {
            continue;
        };
        let name = step_name(flow_step);
        let line = match (&generated_call, &flow_step.operation, language) {
            (Some((_, method)), Some(op), SampleLanguage::En) => Some(format!(
                "`{}` calls the generated mapper method `{method}` ({op})",
                short_method(&flow_step.called_from)
            )),
            (Some((_, method)), Some(op), SampleLanguage::Zh) => Some(format!(
                "`{}` 调用生成的 mapper 方法 `{method}`（{op}）",
                short_method(&flow_step.called_from)
            )),
            _ => None,
        };
        let line =
            line.unwrap_or_else(
                || match (&flow_step.table, &flow_step.operation, language) {
                    (Some(table), Some(op), SampleLanguage::En) => {
                        format!(
                            "`{name}` runs {} {op} on `{table}`",
                            if op.starts_with(['a', 'e', 'i', 'o', 'u']) {
                                "an"
                            } else {
                                "a"
                            }
                        )
                    }
                    (Some(table), Some(op), SampleLanguage::Zh) => {
                        format!("`{name}` 对 `{table}` 执行 {op}")
                    }
                    (_, _, SampleLanguage::En) => format!("`{name}` is called"),
                    (_, _, SampleLanguage::Zh) => format!("调用 `{name}`"),
                },
            );
        let clause = step_path_clause(flow_step, language);
        let line = format!("{line}{clause}");
        let line = if flow_step.alternative {
            format!(
                "{line}{}",
                by_lang(
                    language,
                    " (one of several implementations)",
                    "（多个实现之一）"
                )
            )
        } else {
            line
        };
        // The other callers the line names ("`B` calls it too") are cited with it.
        let others: Vec<ChunkId> = flow_step
            .also_called_from
            .iter()
            .filter_map(|caller| {
                let chunk = if *caller == flow.entry.symbol {
                    flow.entry.chunk_id.as_ref()
                } else {
                    flow.steps
                        .iter()
                        .find(|s| s.kind == "method" && &s.symbol == caller)
                        .and_then(|s| s.chunk_id.as_ref())
                };
                chunk.and_then(|c| evidence.add(c))
            })
            .collect();
        let callers = clause_chunks(flow, flow_step, &clause, &mut evidence);
        let mut cited = vec![&id];
        cited.extend(callers.iter().filter(|c| **c != id));
        cited.extend(others.iter().filter(|c| !callers.contains(c) && **c != id));
        trace.push(step(format!("{line}."), &cited));
        lines.push(line);
    }
    // A request that only reads, on every path (`list` -> selects), restates its wiring.
    let plain = flow.steps.iter().all(|s| s.is_unconditional());
    let reads_only = flow
        .steps
        .iter()
        .all(|s| s.kind != "statement" || s.operation.as_deref() == Some("select"));
    if lines.is_empty() || (plain && (lines.len() < 3 || reads_only)) {
        return None;
    }
    let prompt = match (flow.entry.kind.as_str(), language) {
        ("http", SampleLanguage::En) => fill(
            pick(
                seed,
                &flow.flow_id,
                &[
                    "What happens, step by step, when a client calls {trigger}?",
                    "Trace the request {trigger} from the controller down to the database.",
                    "Which classes and SQL statements take part in handling {trigger}?",
                ],
            ),
            &[("trigger", &trigger)],
        ),
        ("http", SampleLanguage::Zh) => fill(
            "调用 {trigger} 时，从控制器到数据库依次发生了什么？",
            &[("trigger", &trigger)],
        ),
        (_, SampleLanguage::En) => format!("What does `{entry}` do, step by step?"),
        (_, SampleLanguage::Zh) => format!("`{entry}` 依次做了哪些事情？"),
    };
    let mut answer = match language {
        SampleLanguage::En => format!(
            "{trigger} enters at `{entry}`. The project methods and SQL statements it goes through, in call order (calls made through reflection or through helpers outside the project's components are not followed):\n"
        ),
        SampleLanguage::Zh => format!(
            "{trigger} 从 `{entry}` 进入，依次经过以下项目方法和 SQL 语句（通过反射或非组件工具类的调用未跟踪）：\n"
        ),
    };
    for (n, line) in lines.iter().enumerate() {
        answer.push_str(&format!("{}. {line}\n", n + 1));
    }
    if omitted > 0 {
        answer.push_str(&match language {
            SampleLanguage::En => "(Further steps follow that are not listed here.)\n".to_owned(),
            SampleLanguage::Zh => "（后续还有步骤未在此列出。）\n".to_owned(),
        });
    }
    let source = SampleSource {
        kind: "flow-steps".to_owned(),
        flow_ids: vec![flow.flow_id.clone()],
        twin_key: format!("{}:flow", flow.flow_id),
        ..Default::default()
    };
    let body = SampleBody::Qa {
        question: prompt.clone(),
        answer: answer.trim_end().to_owned(),
    };
    Some(Written {
        request: request(language, &flow.domain, prompt, evidence, source),
        body,
        trace,
    })
}

/// How a flow step is named in prose: a mapper statement by its `namespace.id`, a method as
/// `Type.method`.
pub(super) fn step_name(flow_step: &acdp_analysis::FlowStep) -> String {
    if flow_step.kind == "statement" {
        flow_step.symbol.clone()
    } else {
        short_method(&flow_step.symbol)
    }
}

/// For a statement step whose own chunk cannot be evidence (generated mapper XML): the chunk of
/// the method that calls it, when its code shows the call, and the mapper method's name.
pub(super) fn generated_statement_call(
    flow: &Flow,
    flow_step: &acdp_analysis::FlowStep,
    evidence: &mut EvidenceSet<'_, '_>,
) -> Option<(ChunkId, String)> {
    let method = flow_step.symbol.rsplit('.').next()?.to_owned();
    let caller = if flow_step.called_from == flow.entry.symbol {
        flow.entry.chunk_id.as_ref()
    } else {
        flow.steps
            .iter()
            .find(|s| s.symbol == flow_step.called_from)
            .and_then(|s| s.chunk_id.as_ref())
    }?;
    let id = evidence.add(caller)?;
    let shows = evidence
        .get(&id)
        .is_some_and(|e| e.code.contains(&format!(".{method}(")));
    shows.then_some((id, method))
}

/// The chunks a trace step stating a flow step's call with `clause` ([`step_path_clause`])
/// cites beside the step's own: the call is written in the caller, the clause's conditions and
/// context in the callers from the entry down, so the direct caller alone when there is no
/// clause, the whole chain when there is. Each step's own chunks then hold what it says.
pub(super) fn clause_chunks(
    flow: &Flow,
    flow_step: &acdp_analysis::FlowStep,
    clause: &str,
    evidence: &mut EvidenceSet<'_, '_>,
) -> Vec<ChunkId> {
    caller_chain(flow, flow_step)
        .into_iter()
        .take(if clause.is_empty() { 1 } else { usize::MAX })
        .filter_map(|c| evidence.add(c))
        .collect()
}

/// Where a flow step's call happens when that is not on every run: ", in `caller`, only when
/// `c`", ", inside `for (...)`", ", asynchronously ...", and what must hold above the caller.
pub(super) fn step_path_clause(
    flow_step: &acdp_analysis::FlowStep,
    language: SampleLanguage,
) -> String {
    let when = &flow_step.when;
    let outer = &flow_step.outer;
    let caller = short_method(&flow_step.called_from);
    let mut clause = String::new();
    match language {
        SampleLanguage::En => {
            if let Some(w) = when_en(when) {
                clause.push_str(&format!(
                    " (in `{caller}`, only {})",
                    w.trim_start_matches("only ")
                ));
            } else if !when.complete {
                clause.push_str(&format!(" (in `{caller}`, on some paths only)"));
            }
            for c in context_en(when) {
                clause.push_str(&format!(", {c}"));
            }
            if let Some(w) = when_en(outer) {
                clause.push_str(&format!(
                    "; `{caller}` itself is reached only {}",
                    w.trim_start_matches("only ")
                ));
            } else if !outer.complete {
                clause.push_str(&format!(
                    "; `{caller}` itself is reached on some paths only"
                ));
            }
            for c in context_en(outer) {
                clause.push_str(&format!("; `{caller}` itself runs {c}"));
            }
            for other in &flow_step.also_called_from {
                clause.push_str(&format!("; `{}` calls it too", short_method(other)));
            }
        }
        SampleLanguage::Zh => {
            if let Some(w) = when_zh(when) {
                clause.push_str(&format!("（在 `{caller}` 中，{w}才调用）"));
            } else if !when.complete {
                clause.push_str(&format!("（在 `{caller}` 中，仅在部分路径上调用）"));
            }
            for c in context_zh(when) {
                clause.push_str(&format!("，{c}"));
            }
            if let Some(w) = when_zh(outer) {
                clause.push_str(&format!("；`{caller}` 本身仅{w}才会执行"));
            } else if !outer.complete {
                clause.push_str(&format!("；`{caller}` 本身仅在部分路径上执行"));
            }
            for c in context_zh(outer) {
                clause.push_str(&format!("；`{caller}` 本身{c}执行"));
            }
            for other in &flow_step.also_called_from {
                clause.push_str(&format!("；`{}` 也会调用它", short_method(other)));
            }
        }
    }
    clause
}

pub(super) fn value_label(machine: &StateMachine, value: i64) -> String {
    match machine.values.iter().find(|v| v.value == value) {
        Some(v) => match (&v.name, &v.meaning) {
            (Some(name), Some(meaning)) => format!("{value} (`{name}`, {meaning})"),
            (Some(name), None) => format!("{value} (`{name}`)"),
            (None, Some(meaning)) => format!("{value} ({meaning})"),
            (None, None) => value.to_string(),
        },
        None => value.to_string(),
    }
}

/// The domain of a state machine: that of the class of its first transition, else of the
/// entity.
pub(super) fn machine_domain(analysis: &Analysis, machine: &StateMachine) -> String {
    let class_of = |symbol: &str| Symbol::parse(symbol).type_path.map(str::to_owned);
    let candidates = machine
        .transitions
        .iter()
        .filter_map(|t| class_of(&t.method))
        .chain([machine.symbol.clone()]);
    for class in candidates {
        if let Some(domain) = analysis
            .domains
            .domains
            .iter()
            .find(|d| d.classes.contains(&class))
        {
            return domain.name.clone();
        }
    }
    "general".to_owned()
}

fn state_values_sample(
    machine: &StateMachine,
    domain: &str,
    lookup: &ChunkLookup<'_>,
    language: SampleLanguage,
) -> Option<Written> {
    // The values must be named where the evidence shows them: a constants type. Literals spread
    // over the setters are asked about in the transitions that write them.
    if machine.values.is_empty() || machine.constants.is_none() {
        return None;
    }
    let mut evidence = EvidenceSet::new(lookup);
    let constants = machine
        .constants
        .as_deref()
        .and_then(|c| lookup.header(c))
        .and_then(|id| evidence.add(id));
    let entity_ids: Vec<ChunkId> = machine
        .chunk_ids
        .iter()
        .filter_map(|id| evidence.add(id))
        .collect();
    let first = constants.clone().or_else(|| entity_ids.first().cloned())?;
    let field = format!("{}.{}", machine.entity, machine.field);
    let prompt = match language {
        SampleLanguage::En => format!("What values can `{field}` take, and what does each mean?"),
        SampleLanguage::Zh => format!("`{field}` 有哪些取值？分别表示什么？"),
    };
    let values: Vec<String> = machine
        .values
        .iter()
        .map(|v| value_label(machine, v.value))
        .collect();
    let answer = match language {
        SampleLanguage::En => format!("`{field}` takes these values: {}.", values.join("; ")),
        SampleLanguage::Zh => format!("`{field}` 的取值为：{}。", values.join("；")),
    };
    let mut trace = vec![step(
        match (&machine.constants, language) {
            (Some(c), SampleLanguage::En) => {
                format!("The values are named in `{}`.", simple_name(c))
            }
            (Some(c), SampleLanguage::Zh) => format!("取值定义在 `{}` 中。", simple_name(c)),
            (None, SampleLanguage::En) => {
                format!("The values are written as literals where `{field}` is set.")
            }
            (None, SampleLanguage::Zh) => {
                format!("取值以字面量形式出现在设置 `{field}` 的代码中。")
            }
        },
        &[&first],
    )];
    for id in &entity_ids {
        if Some(id) == constants.as_ref() {
            continue;
        }
        trace.push(step(
            match language {
                SampleLanguage::En => {
                    format!("`{}` holds the `{}` field.", machine.entity, machine.field)
                }
                SampleLanguage::Zh => {
                    format!("`{}` 中保存了 `{}` 字段。", machine.entity, machine.field)
                }
            },
            &[id],
        ));
    }
    if trace.len() < 2 {
        return None;
    }
    let key = format!("{}.{}", machine.symbol, machine.field);
    let source = SampleSource {
        kind: "state-values".to_owned(),
        state_ids: vec![key.clone()],
        twin_key: format!("{key}:values"),
        ..Default::default()
    };
    let body = SampleBody::Qa {
        question: prompt.clone(),
        answer,
    };
    Some(Written {
        request: request(language, domain, prompt, evidence, source),
        body,
        trace,
    })
}

fn transition_sample(
    machine: &StateMachine,
    transition: &Transition,
    domain: &str,
    lookup: &ChunkLookup<'_>,
    seed: u64,
    language: SampleLanguage,
) -> Option<Written> {
    let mut evidence = EvidenceSet::new(lookup);
    let ids: Vec<ChunkId> = transition
        .chunk_ids
        .iter()
        .filter_map(|id| evidence.add(id))
        .collect();
    let primary = ids.first()?.clone();
    let constants = machine
        .constants
        .as_deref()
        .and_then(|c| lookup.header(c))
        .and_then(|id| evidence.add(id));
    let method = short_method(&transition.method);
    let field = format!("{}.{}", machine.entity, machine.field);
    let to = value_label(machine, transition.to);
    let from: Vec<String> = transition
        .from
        .iter()
        .map(|v| value_label(machine, *v))
        .collect();
    let key = format!(
        "{}.{}:{:?}->{}:{}",
        machine.symbol, machine.field, transition.from, transition.to, transition.method
    );
    // Asked about one method, so the answer never reads as the list of every writer.
    let conditioned = transition.guard.is_some() || !transition.when.conditions.is_empty();
    let prompt = match (transition.creation, language) {
        (true, SampleLanguage::En) => format!(
            "When `{method}` creates a `{}`, which `{}` value does it start with?",
            machine.entity, machine.field
        ),
        (true, SampleLanguage::Zh) => format!(
            "`{method}` 创建 `{}` 时，`{}` 的初始值是什么？",
            machine.entity, machine.field
        ),
        // "Under which conditions" only when the answer names some: a guard or a condition
        // on the write's path (guards in MBG criteria are not read, so none found is no claim).
        (false, SampleLanguage::En) if conditioned => fill(
            pick(
                seed,
                &key,
                &[
                    "What does `{method}` set `{field}` to, and under which conditions?",
                    "How does `{method}` change `{field}`?",
                ],
            ),
            &[("field", &field), ("method", &method)],
        ),
        (false, SampleLanguage::Zh) if conditioned => {
            format!("`{method}` 会把 `{field}` 改成什么？在什么条件下？")
        }
        (false, SampleLanguage::En) => format!("Which value does `{method}` write to `{field}`?"),
        (false, SampleLanguage::Zh) => format!("`{method}` 会把 `{field}` 写成什么值？"),
    };
    let mut answer = match language {
        SampleLanguage::En => format!("`{method}` sets `{field}` to {to}"),
        SampleLanguage::Zh => format!("`{method}` 将 `{field}` 设为 {to}"),
    };
    // The write's own call site: its conditions and context (a loop, a scheduled batch).
    let site = match language {
        SampleLanguage::En => when_en(&transition.when),
        SampleLanguage::Zh => when_zh(&transition.when),
    };
    if let Some(site) = site {
        answer.push_str(&match language {
            SampleLanguage::En => format!(" {site}"),
            SampleLanguage::Zh => format!("（{site}）"),
        });
    }
    for c in match language {
        SampleLanguage::En => context_en(&transition.when),
        SampleLanguage::Zh => context_zh(&transition.when),
    } {
        answer.push_str(&match language {
            SampleLanguage::En => format!(", {c}"),
            SampleLanguage::Zh => format!("，{c}"),
        });
    }
    if !from.is_empty() {
        answer.push_str(&match language {
            SampleLanguage::En => format!(", only from {}", from.join(" or ")),
            SampleLanguage::Zh => format!("，仅当当前值为 {}", from.join(" 或 ")),
        });
    }
    // The guard as written: an `if` that stops other values (Java), the WHERE clause the row
    // must match (SQL), or the from-value passed to a compare-and-set statement.
    if let Some(guard) = &transition.guard {
        let guard = one_line(guard);
        answer.push_str(&match (transition.guard_in.as_deref(), language) {
            (Some("java"), SampleLanguage::En) => {
                format!(" (other values are stopped by the check `if ({guard})`)")
            }
            (Some("java"), SampleLanguage::Zh) => format!("（其他取值被 `if ({guard})` 拦下）"),
            (Some("sql"), SampleLanguage::En) => {
                format!(" (the statement's WHERE clause requires `{guard}`)")
            }
            (Some("sql"), SampleLanguage::Zh) => format!("（语句的 WHERE 条件要求 `{guard}`）"),
            (_, SampleLanguage::En) => format!(" (the from-value is passed in `{guard}`)"),
            (_, SampleLanguage::Zh) => format!("（原状态值通过 `{guard}` 传入）"),
        });
    }
    // Name the statement only when its code is part of the evidence (not generated code).
    let statement = transition
        .statement
        .as_ref()
        .filter(|s| evidence.items().iter().any(|e| &e.symbol == *s));
    if let Some(statement) = statement {
        answer.push_str(&match language {
            SampleLanguage::En => format!("; the write goes through `{statement}`."),
            SampleLanguage::Zh => format!("；通过 `{statement}` 写入数据库。"),
        });
    } else {
        answer.push('.');
    }
    let mut trace = vec![step(
        match (&transition.guard, language) {
            (Some(g), SampleLanguage::En) => {
                format!("`{method}` checks `{}` before the change.", one_line(g))
            }
            (Some(g), SampleLanguage::Zh) => format!("`{method}` 在修改前检查 `{}`。", one_line(g)),
            (None, SampleLanguage::En) if transition.creation => {
                format!("`{method}` sets the value when it creates the record.")
            }
            (None, SampleLanguage::Zh) if transition.creation => {
                format!("`{method}` 在创建记录时设置该值。")
            }
            (None, SampleLanguage::En) => format!("`{method}` sets the new value."),
            (None, SampleLanguage::Zh) => format!("`{method}` 设置新值。"),
        },
        // A guard in the statement's WHERE clause is in the statement's chunk: cited with it.
        &if transition.guard_in.as_deref() == Some("sql") {
            ids.iter().collect::<Vec<_>>()
        } else {
            vec![&primary]
        },
    )];
    for id in ids.iter().skip(1) {
        if let Some(e) = evidence.get(id) {
            trace.push(step(
                match language {
                    SampleLanguage::En => {
                        format!("The new value is written by `{}`.", short_method(&e.symbol))
                    }
                    SampleLanguage::Zh => format!("新值由 `{}` 写入。", short_method(&e.symbol)),
                },
                &[id],
            ));
        }
    }
    if let Some(c) = &constants {
        trace.push(step(
            match language {
                SampleLanguage::En => format!(
                    "`{}` names the values of `{field}`.",
                    simple_name(machine.constants.as_deref().unwrap_or_default())
                ),
                SampleLanguage::Zh => format!(
                    "`{}` 定义了 `{field}` 的取值。",
                    simple_name(machine.constants.as_deref().unwrap_or_default())
                ),
            },
            &[c],
        ));
    }
    if trace.len() < 2 {
        return None;
    }
    let source = SampleSource {
        kind: "state-transition".to_owned(),
        state_ids: vec![key.clone()],
        twin_key: key,
        ..Default::default()
    };
    let body = SampleBody::Qa {
        question: prompt.clone(),
        answer,
    };
    Some(Written {
        request: request(language, domain, prompt, evidence, source),
        body,
        trace,
    })
}
