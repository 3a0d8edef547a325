//! Composed QA samples: questions a developer asks about more than one line of code, each
//! answered from several analysis facts across methods, with a trace step per fact citing the
//! chunk it rests on.
//!
//! Families (the `source.kind` of each sample):
//! - `method-checks`: every check of one method that makes it fail, in order, each with its
//!   full path condition;
//! - `endpoint-failures`: the failures an entry point can end in, across the methods it calls;
//! - `error-response`: how one business error reaches the API client (throw -> the
//!   `@ExceptionHandler` Spring picks -> what it returns);
//! - `flow-writes`: which tables an entry point changes and under which conditions;
//! - `async-work`: what an entry point hands to other threads;
//! - `status-lifecycle`: how a status field moves through its values and which methods move it;
//! - `endpoint-access`: who may call each endpoint of a controller (module `access`);
//! - `scheduled-job`: what a scheduled job does and when.
//!
//! Every sentence about existing code comes from the same path facts as the single-fact
//! samples (`analysis::path_text`); nothing is said that the facts do not hold.

use acdp_analysis::handlers::handler_for;
use acdp_analysis::path_text::{when_en, when_zh};
use acdp_analysis::{Analysis, Flow, Rule, RuleKind, StateMachine};
use acdp_index::ChunkId;
use acdp_sample::{SampleLanguage, SampleSource, TraceStep};

use super::Written;
use super::composed_parts::{
    Listed, MAX_FACTS, cut_note, flow_failure_rules, is_failure_rule, never_reached_lines,
    numbered, rule_sentence, trigger, written,
};
use super::evidence::{ChunkLookup, EvidenceSet, class_of, short_method};
use super::qa::{
    clause_chunks, generated_statement_call, is_plumbing, machine_domain, step, step_name,
    step_path_clause, value_label,
};
use super::text::one_line;

pub fn composed_samples(
    analysis: &Analysis,
    lookup: &ChunkLookup<'_>,
    languages: &[SampleLanguage],
) -> Vec<Written> {
    let mut out = Vec::new();
    let by_method = failure_rules_by_method(analysis);
    for &language in languages {
        for (symbol, rules) in &by_method {
            out.extend(method_checks(analysis, symbol, rules, lookup, language));
        }
        for flow in &analysis.flows {
            let rules = flow_failure_rules(analysis, flow);
            out.extend(endpoint_failures(analysis, flow, &rules, lookup, language));
            out.extend(error_response(analysis, flow, &rules, lookup, language));
            out.extend(flow_writes(flow, lookup, language));
            out.extend(async_work(flow, lookup, language));
            out.extend(scheduled_job(analysis, flow, lookup, language));
        }
        for machine in &analysis.states {
            out.extend(status_lifecycle(analysis, machine, lookup, language));
        }
        out.extend(super::access::endpoint_access_samples(
            analysis, lookup, language,
        ));
        out.extend(super::transaction::transaction_samples(
            analysis, lookup, language,
        ));
        out.extend(super::request_validation::validation_samples(
            analysis, lookup, language,
        ));
    }
    out
}

/// Failure rules grouped by method, in source order; methods with at least two.
fn failure_rules_by_method(analysis: &Analysis) -> Vec<(String, Vec<&Rule>)> {
    let mut groups: Vec<(String, Vec<&Rule>)> = Vec::new();
    for rule in analysis.rules.iter().filter(|r| is_failure_rule(r)) {
        match groups.iter_mut().find(|(s, _)| *s == rule.symbol) {
            Some((_, rules)) => rules.push(rule),
            None => groups.push((rule.symbol.clone(), vec![rule])),
        }
    }
    // Two checks at least, one of them more than plumbing.
    groups.retain(|(_, rules)| rules.len() >= 2 && rules.iter().any(|r| !is_plumbing(r)));
    for (_, rules) in &mut groups {
        rules.sort_by_key(|r| r.start_line);
    }
    groups
}

/// The chunks of the methods that lead to a step, its direct caller first, up to the entry.
pub(super) fn caller_chain<'f>(flow: &'f Flow, step: &acdp_analysis::FlowStep) -> Vec<&'f ChunkId> {
    let mut out = Vec::new();
    let mut caller = step.called_from.as_str();
    for _ in 0..16 {
        if caller == flow.entry.symbol {
            out.extend(flow.entry.chunk_id.as_ref());
            break;
        }
        let Some(parent) = flow.steps.iter().find(|s| s.symbol == caller) else {
            break;
        };
        out.extend(parent.chunk_id.as_ref());
        caller = parent.called_from.as_str();
    }
    out
}

/// The first trace step of a flow question: where the request enters.
fn entry_step(flow: &Flow, entry_id: &ChunkId, language: SampleLanguage) -> TraceStep {
    let trigger = trigger(flow);
    let entry = short_method(&flow.entry.symbol);
    step(
        match language {
            SampleLanguage::En => format!("{trigger} enters at `{entry}`."),
            SampleLanguage::Zh => format!("{trigger} 从 `{entry}` 进入。"),
        },
        &[entry_id],
    )
}

/// The source of a sample about one flow, in family `kind`.
fn flow_source(kind: &str, flow: &Flow, rule_ids: Vec<String>) -> SampleSource {
    SampleSource {
        kind: kind.to_owned(),
        rule_ids,
        flow_ids: vec![flow.flow_id.clone()],
        twin_key: format!("{}:{kind}", flow.flow_id),
        ..Default::default()
    }
}

fn method_checks(
    analysis: &Analysis,
    symbol: &str,
    rules: &[&Rule],
    lookup: &ChunkLookup<'_>,
    language: SampleLanguage,
) -> Option<Written> {
    let first = rules.first()?;
    let mut evidence = EvidenceSet::new(lookup);
    let primary = evidence.add(first.chunk_ids.first()?)?;
    let method = short_method(symbol);
    let mut lines = Vec::new();
    let mut trace = Vec::new();
    for rule in rules.iter().take(MAX_FACTS) {
        let sentence = rule_sentence(rule, language)?;
        trace.push(step(sentence.clone(), &[&primary]));
        lines.push(sentence);
    }
    let question = match language {
        SampleLanguage::En => {
            format!("Which checks can make `{method}` fail, and what happens in each case?")
        }
        SampleLanguage::Zh => format!("`{method}` 中有哪些校验会导致失败？各自的结果是什么？"),
    };
    let more = cut_note(rules.len() > lines.len(), Listed::Checks, language);
    let (never, never_steps) = never_reached_lines(analysis, &[symbol], &mut evidence, language);
    trace.extend(never_steps);
    let answer = match language {
        SampleLanguage::En => format!(
            "The checks written in `{method}` itself, in source order (not part of this list: checks inside the methods it calls, returns of a result computed elsewhere (such as an error a validator returned), throws a catch may take, and what catch blocks do):\n{}{more}{never}",
            numbered(&lines)
        ),
        SampleLanguage::Zh => format!(
            "`{method}` 自身按源码顺序的校验如下（不在此列：其调用的方法中的校验、返回别处算出的结果（如校验方法返回的错误）、可能被 catch 捕获的抛出，以及 catch 块中的处理）：\n{}{more}{never}",
            numbered(&lines)
        ),
    };
    let source = SampleSource {
        kind: "method-checks".into(),
        rule_ids: rules.iter().map(|r| r.rule_id.clone()).collect(),
        twin_key: format!("{symbol}:method-checks"),
        ..Default::default()
    };
    written(
        language,
        &first.domain,
        question,
        answer,
        evidence,
        trace,
        source,
    )
}

fn endpoint_failures(
    analysis: &Analysis,
    flow: &Flow,
    rules: &[&Rule],
    lookup: &ChunkLookup<'_>,
    language: SampleLanguage,
) -> Option<Written> {
    // Composed means across methods: at least two rules, not all in the entry (the answer
    // follows the endpoint into what it calls, which its own code does not show).
    if rules.len() < 2
        || rules.iter().all(|r| r.symbol == flow.entry.symbol)
        || rules.iter().all(|r| is_plumbing(r))
    {
        return None;
    }
    let mut evidence = EvidenceSet::new(lookup);
    let entry_id = evidence.add(flow.entry.chunk_id.as_ref()?)?;
    let trigger = trigger(flow);
    let entry = short_method(&flow.entry.symbol);
    let mut trace = vec![entry_step(flow, &entry_id, language)];
    let mut lines = Vec::new();
    let mut used = Vec::new();
    for rule in rules.iter().take(MAX_FACTS) {
        let Some(id) = rule.chunk_ids.first().and_then(|id| evidence.add(id)) else {
            continue;
        };
        let sentence = rule_sentence(rule, language)?;
        trace.push(step(sentence.clone(), &[&id]));
        lines.push(sentence);
        used.push(rule.rule_id.clone());
    }
    if lines.len() < 2 {
        return None;
    }
    let more = cut_note(rules.len() > lines.len(), Listed::Checks, language);
    let listed_methods: Vec<&str> = rules.iter().map(|r| r.symbol.as_str()).collect();
    let (never, never_steps) =
        never_reached_lines(analysis, &listed_methods, &mut evidence, language);
    trace.extend(never_steps);
    let (question, answer) = match language {
        SampleLanguage::En => (
            format!("Which checks along {trigger} make it fail, and with what result?"),
            format!(
                "The checks written in `{entry}` and the service methods it calls, grouped by method with `{entry}`'s own first (a method's checks run when it is called, so a callee's may come before its caller's later ones; not listed: checks in other code it reaches, in methods called inside a try block, returns of a result computed elsewhere, throws a catch may take, and what catch blocks do):\n{}{more}{never}",
                numbered(&lines)
            ),
        ),
        SampleLanguage::Zh => (
            format!("{trigger} 沿途有哪些校验会导致失败？结果分别是什么？"),
            format!(
                "`{entry}` 及其调用的服务方法中的校验，按方法分组、`{entry}` 自身的在前（被调用方法的校验在调用时执行，可能早于调用方后面的校验；未列出：其他代码中的校验、在 try 块内调用的方法中的校验、返回别处算出的结果、可能被 catch 捕获的抛出，以及 catch 块中的处理）：\n{}{more}{never}",
                numbered(&lines)
            ),
        ),
    };
    let source = flow_source("endpoint-failures", flow, used);
    written(
        language,
        &flow.domain,
        question,
        answer,
        evidence,
        trace,
        source,
    )
}

fn error_response(
    analysis: &Analysis,
    flow: &Flow,
    rules: &[&Rule],
    lookup: &ChunkLookup<'_>,
    language: SampleLanguage,
) -> Option<Written> {
    if flow.entry.kind != "http" {
        return None;
    }
    let controller = class_of(&flow.entry.symbol)?.to_owned();
    // The first failure that throws with a message and that a handler catches.
    let (rule, handler) = rules.iter().find_map(|r| {
        r.message.as_ref()?;
        let h = handler_for(
            &analysis.handlers,
            &analysis.applications,
            &controller,
            &r.throws_chain,
        )?;
        Some((*r, h))
    })?;
    let thrown = rule.throws.as_deref()?;
    if handler.returns.is_empty() {
        return None;
    }
    let returns = handler
        .returns
        .iter()
        .map(|r| format!("`{r}`"))
        .collect::<Vec<_>>();
    let returns = match language {
        SampleLanguage::En if returns.len() > 1 => {
            format!(
                "one of {} (depending on its own checks)",
                returns.join(", ")
            )
        }
        SampleLanguage::Zh if returns.len() > 1 => {
            format!("{} 之一（取决于它自身的判断）", returns.join("、"))
        }
        _ => returns.join(""),
    };
    let mut evidence = EvidenceSet::new(lookup);
    let entry_id = evidence.add(flow.entry.chunk_id.as_ref()?)?;
    let rule_id = evidence.add(rule.chunk_ids.first()?)?;
    let handler_id = evidence.add(handler.chunk_id.as_ref()?)?;
    let trigger = trigger(flow);
    let handler_name = short_method(&handler.symbol);
    let message = rule.message.as_deref().unwrap_or_default();
    let sentence = rule_sentence(rule, language)?;
    let caught = handler
        .handles
        .iter()
        .find(|h| rule.throws_chain.contains(h))
        .cloned()
        .unwrap_or_else(|| thrown.to_owned());
    let (question, answer, handler_claim) = match language {
        SampleLanguage::En => {
            let claim = format!(
                "`{handler_name}` is the exception handler for `{caught}` and returns {returns}."
            );
            (
                format!(
                    "When {trigger} fails with \"{message}\", what does the API client receive?"
                ),
                format!(
                    "{sentence} That failure is a `{thrown}`. Spring passes it to `{handler_name}`, the `@ExceptionHandler` for `{caught}`{}, which returns {returns}: that is the response body the client receives.",
                    if handler.global {
                        " in the global advice"
                    } else {
                        " of the controller"
                    }
                ),
                claim,
            )
        }
        SampleLanguage::Zh => {
            let claim = format!("`{handler_name}` 处理 `{caught}`，返回 {returns}。");
            (
                format!("{trigger} 因 \"{message}\" 失败时，调用方会收到什么？"),
                format!(
                    "{sentence}该失败是一个 `{thrown}`。Spring 把它交给处理 `{caught}` 的 `@ExceptionHandler` 方法 `{handler_name}`，它返回 {returns}，这就是调用方收到的响应。"
                ),
                claim,
            )
        }
    };
    let trace = vec![
        entry_step(flow, &entry_id, language),
        step(sentence.clone(), &[&rule_id]),
        step(handler_claim, &[&handler_id]),
    ];
    let source = flow_source("error-response", flow, vec![rule.rule_id.clone()]);
    written(
        language,
        &flow.domain,
        question,
        answer,
        evidence,
        trace,
        source,
    )
}

fn flow_writes(flow: &Flow, lookup: &ChunkLookup<'_>, language: SampleLanguage) -> Option<Written> {
    let writes: Vec<_> = flow
        .steps
        .iter()
        .filter(|s| {
            s.kind == "statement"
                && matches!(s.operation.as_deref(), Some("insert" | "update" | "delete"))
        })
        .collect();
    // A single unconditional write is what flow-steps already says.
    let conditional = writes.iter().any(|s| !s.is_unconditional());
    if writes.is_empty() || (writes.len() < 2 && !conditional) {
        return None;
    }
    let mut evidence = EvidenceSet::new(lookup);
    let entry_id = evidence.add(flow.entry.chunk_id.as_ref()?)?;
    let trigger = trigger(flow);
    let mut trace = vec![entry_step(flow, &entry_id, language)];
    let mut lines = Vec::new();
    let mut left_out = writes.len().saturating_sub(MAX_FACTS);
    for write in writes.iter().take(MAX_FACTS) {
        let op = write.operation.as_deref().unwrap_or_default();
        let table = write.table.as_deref().unwrap_or_default();
        let clause = step_path_clause(write, language);
        // Generated SQL is not evidence: the call to it in its caller is, and the line names
        // that call instead of the table (which only the uncited SQL shows).
        let (id, line) = match write.chunk_id.as_ref().and_then(|id| evidence.add(id)) {
            Some(id) => (
                id,
                match language {
                    SampleLanguage::En => {
                        format!("`{}` ({op}) changes `{table}`{clause}", write.symbol)
                    }
                    SampleLanguage::Zh => {
                        format!("`{}`（{op}）修改 `{table}`{clause}", write.symbol)
                    }
                },
            ),
            None => match generated_statement_call(flow, write, &mut evidence) {
                Some((id, method)) => {
                    let caller = short_method(&write.called_from);
                    let line = match language {
                        SampleLanguage::En => format!(
                            "`{caller}` calls the generated mapper method `{method}` ({op}){clause}"
                        ),
                        SampleLanguage::Zh => {
                            format!("`{caller}` 调用生成的 mapper 方法 `{method}`（{op}）{clause}")
                        }
                    };
                    (id, line)
                }
                None => {
                    left_out += 1;
                    continue;
                }
            },
        };
        // The conditions are written in the callers, from the entry down: cite them all.
        let callers: Vec<ChunkId> = caller_chain(flow, write)
            .into_iter()
            .filter_map(|id| evidence.add(id))
            .collect();
        let mut ids = vec![&id];
        ids.extend(callers.iter());
        trace.push(step(format!("{line}."), &ids));
        lines.push(line);
    }
    if lines.is_empty() {
        return None;
    }
    let more = cut_note(left_out > 0, Listed::Writes, language);
    let (question, answer) = match language {
        SampleLanguage::En => (
            format!("Which tables does {trigger} change, and under which conditions?"),
            format!(
                "{trigger} writes through these mapper statements (writes behind calls whose target cannot be told from the source, made through reflection, or through helpers outside the project's components are not listed):\n{}{more}",
                numbered(&lines)
            ),
        ),
        SampleLanguage::Zh => (
            format!("{trigger} 会修改哪些表？分别在什么条件下？"),
            format!(
                "{trigger} 通过以下 mapper 语句写库（无法从源码确定调用目标的、通过反射或非组件工具类进行的写入未列出）：\n{}{more}",
                numbered(&lines)
            ),
        ),
    };
    let source = flow_source("flow-writes", flow, Vec::new());
    written(
        language,
        &flow.domain,
        question,
        answer,
        evidence,
        trace,
        source,
    )
}

fn async_work(flow: &Flow, lookup: &ChunkLookup<'_>, language: SampleLanguage) -> Option<Written> {
    let steps: Vec<_> = flow.steps.iter().filter(|s| s.when.is_async()).collect();
    if steps.is_empty() {
        return None;
    }
    let mut evidence = EvidenceSet::new(lookup);
    let entry_id = evidence.add(flow.entry.chunk_id.as_ref()?)?;
    let trigger = trigger(flow);
    let mut trace = vec![entry_step(flow, &entry_id, language)];
    let mut lines = Vec::new();
    for s in steps.iter().take(MAX_FACTS) {
        // The hand-off is written in the caller: that is the evidence.
        let caller = caller_chain(flow, s)
            .first()
            .and_then(|id| evidence.add(id));
        let Some(caller) = caller else { continue };
        // The step's own chunk names it (and shows an `@Async` on it).
        let own = s.chunk_id.as_ref().and_then(|id| evidence.add(id));
        let name = step_name(s);
        let clause = step_path_clause(s, language);
        let line = format!("`{name}`{clause}");
        let mut ids = vec![&caller];
        ids.extend(own.iter());
        trace.push(step(format!("{line}."), &ids));
        lines.push(line);
    }
    if lines.is_empty() {
        return None;
    }
    let (question, answer) = match language {
        SampleLanguage::En => (
            format!("Which work of {trigger} runs asynchronously, and how is it started?"),
            format!(
                "These calls of {trigger} are handed to another thread where they are called, so they do not run in order with the rest of the request (tasks built first and submitted later through a variable are not traced):\n{}",
                numbered(&lines)
            ),
        ),
        SampleLanguage::Zh => (
            format!("{trigger} 中哪些工作是异步执行的？如何启动？"),
            format!(
                "{trigger} 中以下调用在调用处被交给另一个线程，不与请求的其余部分按顺序执行（先构造任务、再通过变量提交的情况未跟踪）：\n{}",
                numbered(&lines)
            ),
        ),
    };
    let source = flow_source("async-work", flow, Vec::new());
    written(
        language,
        &flow.domain,
        question,
        answer,
        evidence,
        trace,
        source,
    )
}

fn scheduled_job(
    analysis: &Analysis,
    flow: &Flow,
    lookup: &ChunkLookup<'_>,
    language: SampleLanguage,
) -> Option<Written> {
    if flow.entry.kind != "scheduled" || flow.steps.is_empty() {
        return None;
    }
    let schedule = analysis
        .rules
        .iter()
        .find(|r| r.kind == RuleKind::Schedule && r.symbol == flow.entry.symbol)?;
    let mut evidence = EvidenceSet::new(lookup);
    let entry_id = evidence.add(flow.entry.chunk_id.as_ref()?)?;
    let entry = short_method(&flow.entry.symbol);
    let timing = one_line(&schedule.condition);
    let mut trace = vec![step(
        match language {
            SampleLanguage::En => format!("`{entry}` is annotated `{timing}`."),
            SampleLanguage::Zh => format!("`{entry}` 标注了 `{timing}`。"),
        },
        &[&entry_id],
    )];
    let mut lines = Vec::new();
    for s in flow.steps.iter() {
        if lines.len() >= MAX_FACTS {
            break;
        }
        let Some(id) = s.chunk_id.as_ref().and_then(|id| evidence.add(id)) else {
            continue;
        };
        let name = step_name(s);
        let what = match (&s.table, &s.operation, language) {
            (Some(t), Some(op), SampleLanguage::En) => format!("`{name}` ({op} on `{t}`)"),
            (Some(t), Some(op), SampleLanguage::Zh) => format!("`{name}`（对 `{t}` 执行 {op}）"),
            _ => format!("`{name}`"),
        };
        let clause = step_path_clause(s, language);
        let line = format!("{what}{clause}");
        let callers = clause_chunks(flow, s, &clause, &mut evidence);
        let mut ids = vec![&id];
        ids.extend(callers.iter().filter(|c| **c != id));
        trace.push(step(format!("{line}."), &ids));
        lines.push(line);
    }
    if lines.is_empty() {
        return None;
    }
    let (question, answer) = match language {
        SampleLanguage::En => (
            format!("What does the scheduled job `{entry}` do, and when does it run?"),
            format!(
                "`{entry}` runs on the schedule `{timing}`. Each run calls, in order:\n{}",
                numbered(&lines)
            ),
        ),
        SampleLanguage::Zh => (
            format!("定时任务 `{entry}` 做什么？什么时候执行？"),
            format!(
                "`{entry}` 按 `{timing}` 执行，每次依次调用：\n{}",
                numbered(&lines)
            ),
        ),
    };
    let source = flow_source("scheduled-job", flow, vec![schedule.rule_id.clone()]);
    written(
        language,
        &flow.domain,
        question,
        answer,
        evidence,
        trace,
        source,
    )
}

fn status_lifecycle(
    analysis: &Analysis,
    machine: &StateMachine,
    lookup: &ChunkLookup<'_>,
    language: SampleLanguage,
) -> Option<Written> {
    if machine.transitions.len() < 2 {
        return None;
    }
    let field = format!("{}.{}", machine.entity, machine.field);
    let mut evidence = EvidenceSet::new(lookup);
    let mut trace = Vec::new();
    let mut lines = Vec::new();
    for t in machine.transitions.iter().take(MAX_FACTS) {
        let Some(id) = t.chunk_ids.first().and_then(|id| evidence.add(id)) else {
            continue;
        };
        let extra: Vec<ChunkId> = t
            .chunk_ids
            .iter()
            .skip(1)
            .filter_map(|c| evidence.add(c))
            .collect();
        let method = short_method(&t.method);
        let to = value_label(machine, t.to);
        let from: Vec<String> = t.from.iter().map(|v| value_label(machine, *v)).collect();
        let site = match language {
            SampleLanguage::En => when_en(&t.when).map(|w| format!(" {w}")),
            SampleLanguage::Zh => when_zh(&t.when).map(|w| format!("（{w}）")),
        }
        .unwrap_or_default();
        let line = match (t.creation, from.is_empty(), language) {
            (true, _, SampleLanguage::En) => format!("`{method}` creates it with {to}{site}"),
            (true, _, SampleLanguage::Zh) => format!("`{method}`{site}创建时设为 {to}"),
            (false, true, SampleLanguage::En) => format!("`{method}` sets it to {to}{site}"),
            (false, true, SampleLanguage::Zh) => format!("`{method}`{site}将其设为 {to}"),
            (false, false, SampleLanguage::En) => {
                format!(
                    "`{method}` moves it from {} to {to}{site}",
                    from.join(" or ")
                )
            }
            (false, false, SampleLanguage::Zh) => {
                format!("`{method}`{site}将其从 {} 改为 {to}", from.join(" 或 "))
            }
        };
        let ids: Vec<&ChunkId> = std::iter::once(&id).chain(extra.iter()).collect();
        trace.push(step(format!("{line}."), &ids));
        lines.push(line);
    }
    if lines.len() < 2 {
        return None;
    }
    let (question, answer) = match language {
        SampleLanguage::En => (
            format!("How does `{field}` move through its values, and which methods move it?"),
            format!(
                "Writes of `{field}` in the code, each with the values it accepts before the change (other writes may exist):\n{}",
                numbered(&lines)
            ),
        ),
        SampleLanguage::Zh => (
            format!("`{field}` 的状态如何流转？由哪些方法修改？"),
            format!(
                "代码中对 `{field}` 的写入如下（含修改前允许的取值）：\n{}",
                numbered(&lines)
            ),
        ),
    };
    let key = format!("{}.{}", machine.symbol, machine.field);
    let source = SampleSource {
        kind: "status-lifecycle".into(),
        state_ids: vec![key.clone()],
        twin_key: format!("{key}:lifecycle"),
        ..Default::default()
    };
    let domain = machine_domain(analysis, machine);
    written(language, &domain, question, answer, evidence, trace, source)
}
