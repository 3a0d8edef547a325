//! The `transaction` family: whether a method runs in a transaction, and which of its own
//! failures roll that transaction back.
//!
//! "It is `@Transactional`" alone restates one annotation. What a developer needs is what
//! Spring does with it: the transaction is rolled back only when an unchecked exception (or
//! one `rollbackFor` names) leaves the method, so a failure *returned* as a result commits what
//! was written before it, and a checked exception does too. Each failure written in the method
//! is listed with what it does to the transaction, from its outcome and the supertypes of what
//! it throws; where those are not known the answer says so instead of guessing.

use acdp_analysis::paths::{Context, Outcome};
use acdp_analysis::{Analysis, Rule, RuleKind};
use acdp_index::ChunkId;
use acdp_sample::{SampleBody, SampleLanguage, SampleSource, TraceStep};

use super::Written;
use super::composed_parts::{
    Listed, cut_note, is_failure_rule, never_reached_lines, numbered, rule_sentence,
};
use super::evidence::{ChunkLookup, EvidenceSet, short_method};
use super::qa::{request, step};
use super::text::one_line;

/// Most failures one answer lists.
const MAX_FAILURES: usize = 8;

pub(super) fn transaction_samples(
    analysis: &Analysis,
    lookup: &ChunkLookup<'_>,
    language: SampleLanguage,
) -> Vec<Written> {
    // Each method's own failures, in source order, gathered once.
    let mut failures_of: std::collections::HashMap<&str, Vec<&Rule>> =
        std::collections::HashMap::new();
    for rule in analysis.rules.iter().filter(|r| is_failure_rule(r)) {
        failures_of
            .entry(rule.symbol.as_str())
            .or_default()
            .push(rule);
    }
    for failures in failures_of.values_mut() {
        failures.sort_by_key(|r| r.start_line);
    }
    analysis
        .rules
        .iter()
        .filter(|r| r.kind == RuleKind::Transaction)
        // A transaction around no write says nothing a reader needs.
        .filter(|r| r.statement.contains("writes to") || r.inherited_from.is_some())
        .filter_map(|rule| {
            let failures = failures_of
                .get(rule.symbol.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default();
            transaction_sample(analysis, rule, failures, lookup, language)
        })
        .collect()
}

/// How the annotation's propagation makes the method run.
#[derive(Clone, Copy, PartialEq)]
enum Runs {
    InTransaction,
    Without,
    JoinsCaller,
}

fn transaction_sample(
    analysis: &Analysis,
    rule: &Rule,
    failures: &[&Rule],
    lookup: &ChunkLookup<'_>,
    language: SampleLanguage,
) -> Option<Written> {
    let method = short_method(&rule.symbol);
    let annotation = one_line(&rule.condition);
    let runs = if rule.statement.contains("without a transaction") {
        Runs::Without
    } else if rule.statement.contains("joins the caller") {
        Runs::JoinsCaller
    } else {
        Runs::InTransaction
    };
    let mut evidence = EvidenceSet::new(lookup);
    let ids: Vec<ChunkId> = rule
        .chunk_ids
        .iter()
        .filter_map(|id| evidence.add(id))
        .collect();
    let primary = ids.first()?.clone();
    let mut trace = declaration_steps(rule, &method, &annotation, &ids, language)?;
    let zh = language == SampleLanguage::Zh;
    let yes = match (runs, zh) {
        (Runs::Without, false) => "No".to_owned(),
        (Runs::JoinsCaller, false) => "Only inside a caller's transaction".to_owned(),
        (Runs::InTransaction, false) => "Yes".to_owned(),
        (Runs::Without, true) => "否".to_owned(),
        (Runs::JoinsCaller, true) => "仅当调用方已有事务时".to_owned(),
        (Runs::InTransaction, true) => "是".to_owned(),
    };
    let effect = match (runs, zh) {
        (Runs::Without, false) => "so it runs without a transaction".to_owned(),
        (Runs::JoinsCaller, false) => {
            "so it joins a caller's transaction when there is one and runs without one otherwise"
                .to_owned()
        }
        (Runs::InTransaction, false) => {
            "so what it writes is committed together, or rolled back together".to_owned()
        }
        (Runs::Without, true) => "因此它不在事务中执行".to_owned(),
        (Runs::JoinsCaller, true) => "因此有调用方事务时加入该事务，否则不在事务中执行".to_owned(),
        (Runs::InTransaction, true) => "因此它的写操作一起提交或一起回滚".to_owned(),
    };
    let declared = match (&rule.inherited_from, zh) {
        (Some(from), false) => format!(
            "`{method}` itself carries no annotation, but it implements `{}`, which is annotated `{annotation}`; Spring applies that to the implementation",
            short_method(from)
        ),
        (None, false) => format!("`{method}` is annotated `{annotation}`"),
        (Some(from), true) => format!(
            "`{method}` 本身没有注解，但它实现的 `{}` 标注了 `{annotation}`，Spring 会把它应用到实现类方法上",
            short_method(from)
        ),
        (None, true) => format!("`{method}` 标注了 `{annotation}`"),
    };
    let mut answer = match language {
        SampleLanguage::En => format!("{yes}. {declared}, {effect}."),
        SampleLanguage::Zh => format!("{yes}。{declared}，{effect}。"),
    };
    // A call from the same class bypasses Spring's proxy: on that route no transaction starts.
    if runs == Runs::InTransaction {
        for (caller, chunk) in &rule.self_invoked_from {
            let Some(id) = chunk.as_ref().and_then(|c| evidence.add(c)) else {
                continue;
            };
            let caller = short_method(caller);
            let sentence = match language {
                SampleLanguage::En => format!(
                    "`{caller}` calls it from the same class, which does not go through Spring's proxy: on that route the annotation does not apply, and `{method}` runs in whatever transaction `{caller}` runs in, if any."
                ),
                SampleLanguage::Zh => format!(
                    "`{caller}` 在同一个类中直接调用它，不经过 Spring 的代理：这条路径上该注解不起作用，`{method}` 只在 `{caller}` 所在的事务中执行（如果有）。"
                ),
            };
            answer.push(' ');
            answer.push_str(&sentence);
            trace.push(step(sentence, &[&id]));
        }
    }
    let mut rule_ids = vec![rule.rule_id.clone()];
    // What rolls it back, only for a transaction it starts or joins, and only where the
    // annotation's rollback settings are ones this reads fully.
    let rollback = rollback_settings(&rule.condition);
    let listed = match (runs, &rollback) {
        (Runs::InTransaction, Some(rollback_for)) => {
            answer.push(' ');
            answer.push_str(&rollback_rule(&method, rollback_for, language));
            let mut lines = Vec::new();
            for failure in failures.iter().take(MAX_FAILURES) {
                if !leaves_the_method(failure) {
                    continue;
                }
                let Some(sentence) = rule_sentence(failure, language) else {
                    continue;
                };
                let exception_header = failure
                    .throws
                    .as_deref()
                    .and_then(|t| lookup.header_by_simple_name(t))
                    .and_then(|id| evidence.add(id));
                let effect = failure_effect(
                    failure,
                    rollback_for,
                    exception_header
                        .as_ref()
                        .and_then(|id| evidence.get(id))
                        .map(|e| e.code.as_str()),
                    language,
                );
                let line = format!("{sentence} {effect}");
                let cite: Vec<&ChunkId> = std::iter::once(&primary)
                    .chain(exception_header.iter())
                    .collect();
                trace.push(step(line.clone(), &cite));
                lines.push(line);
                rule_ids.push(failure.rule_id.clone());
            }
            if !lines.is_empty() {
                answer.push_str(&match language {
                    SampleLanguage::En => format!(
                        "\nThe failures written in `{method}` itself (not listed: failures inside the methods it calls, throws inside a try block whose catch may take them, and what catch blocks do):\n{}",
                        numbered(&lines)
                    ),
                    SampleLanguage::Zh => format!(
                        "\n`{method}` 自身写出的失败（未列出：其调用的方法中的失败、可能被 catch 捕获的 try 块内的抛出，以及 catch 块中的处理）：\n{}",
                        numbered(&lines)
                    ),
                });
                answer.push_str(cut_note(
                    failures.len() > lines.len(),
                    Listed::Failures,
                    language,
                ));
                let (never, never_steps) =
                    never_reached_lines(analysis, &[rule.symbol.as_str()], &mut evidence, language);
                answer.push_str(&never);
                trace.extend(never_steps);
            }
            !lines.is_empty()
        }
        _ => false,
    };
    let question = match (runs, listed, &rollback, language) {
        (Runs::InTransaction, true, _, SampleLanguage::En) => {
            format!(
                "Does `{method}` run inside a transaction, and which of its failures roll it back?"
            )
        }
        (Runs::InTransaction, true, _, SampleLanguage::Zh) => {
            format!("`{method}` 是否在事务中执行？它的哪些失败会让事务回滚？")
        }
        (Runs::InTransaction, false, Some(_), SampleLanguage::En) => {
            format!("Does `{method}` run inside a transaction, and what rolls it back?")
        }
        (Runs::InTransaction, false, Some(_), SampleLanguage::Zh) => {
            format!("`{method}` 是否在事务中执行？什么情况下会回滚？")
        }
        (_, _, _, SampleLanguage::En) => format!("Does `{method}` run inside a transaction?"),
        (_, _, _, SampleLanguage::Zh) => format!("`{method}` 是否在事务中执行？"),
    };
    if trace.len() < 2 {
        trace.push(step(
            match language {
                SampleLanguage::En => format!("So {}.", effect.trim_start_matches("so ")),
                SampleLanguage::Zh => format!("{effect}。"),
            },
            &[&primary],
        ));
    }
    let source = SampleSource {
        kind: "transaction".into(),
        rule_ids,
        twin_key: format!("{}:transaction", rule.rule_id),
        ..Default::default()
    };
    Some(Written {
        request: request(language, &rule.domain, question.clone(), evidence, source),
        body: SampleBody::Qa { question, answer },
        trace,
    })
}

/// Where the annotation is written: on the method, or on the declaration it implements.
fn declaration_steps(
    rule: &Rule,
    method: &str,
    annotation: &str,
    ids: &[ChunkId],
    language: SampleLanguage,
) -> Option<Vec<TraceStep>> {
    let primary = ids.first()?;
    Some(match (&rule.inherited_from, ids.get(1)) {
        // "implements" rests on both chunks: the step cites both, so each name it uses is in
        // a chunk it cites.
        (Some(from), Some(declared)) => {
            let from = short_method(from);
            match language {
                SampleLanguage::En => vec![
                    step(
                        format!(
                            "`{method}` implements `{from}` and carries no transaction annotation itself."
                        ),
                        &[primary, declared],
                    ),
                    step(
                        format!(
                            "`{from}` carries `{annotation}`, and Spring applies it to `{method}`."
                        ),
                        &[declared, primary],
                    ),
                ],
                SampleLanguage::Zh => vec![
                    step(
                        format!("`{method}` 实现了 `{from}`，自身没有事务注解。"),
                        &[primary, declared],
                    ),
                    step(
                        format!("`{from}` 标注了 `{annotation}`，Spring 将其应用到 `{method}`。"),
                        &[declared, primary],
                    ),
                ],
            }
        }
        // Evidence must show an inherited annotation where it is written.
        (Some(_), None) => return None,
        (None, _) => vec![step(
            match language {
                SampleLanguage::En => format!("`{method}` carries `{annotation}`."),
                SampleLanguage::Zh => format!("`{method}` 标注了 `{annotation}`。"),
            },
            &[primary],
        )],
    })
}

/// The exception types `rollbackFor` names (empty when it is not set); `None` when the
/// annotation sets rollback by class name or excludes types (`noRollbackFor`), which this does
/// not spell out.
fn rollback_settings(annotation: &str) -> Option<Vec<String>> {
    if [
        "rollbackForClassName",
        "noRollbackFor",
        "noRollbackForClassName",
    ]
    .iter()
    .any(|k| annotation.contains(k))
    {
        return None;
    }
    let Some(at) = annotation.find("rollbackFor") else {
        return Some(Vec::new());
    };
    let value = annotation[at + "rollbackFor".len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    // The value runs to the next top-level `,` or the closing `)`.
    let mut depth = 0i32;
    let end = value
        .char_indices()
        .find(|&(_, c)| {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            depth <= 0 && (c == ',' || c == ')')
        })
        .map_or(value.len(), |(i, _)| i);
    let types: Vec<String> = value[..end]
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
        .filter_map(|t| t.strip_suffix(".class"))
        .map(|t| t.rsplit('.').next().unwrap_or(t).to_owned())
        .collect();
    (!types.is_empty()).then_some(types)
}

/// When Spring rolls the transaction back, by its documented default and `rollbackFor`.
fn rollback_rule(method: &str, rollback_for: &[String], language: SampleLanguage) -> String {
    let named = rollback_for
        .iter()
        .map(|t| format!("`{t}`"))
        .collect::<Vec<_>>();
    match (named.is_empty(), language) {
        (true, SampleLanguage::En) => format!(
            "Spring rolls the transaction back when an unchecked exception (a runtime exception or an error) propagates out of `{method}`; a checked exception or a return, even of a failure result, does not roll it back, and what `{method}` wrote before it is committed with the transaction."
        ),
        (true, SampleLanguage::Zh) => format!(
            "Spring 只在非受检异常（运行时异常或 Error）抛出 `{method}` 时回滚事务；受检异常或正常返回（即使返回的是失败结果）都不会回滚，`{method}` 在此之前的写操作随事务提交。"
        ),
        (false, SampleLanguage::En) => format!(
            "Spring rolls the transaction back when an unchecked exception (a runtime exception or an error), or an exception of a type `rollbackFor` names ({}), propagates out of `{method}`; a return, even of a failure result, does not roll it back, and what `{method}` wrote before it is committed with the transaction.",
            named.join(", ")
        ),
        (false, SampleLanguage::Zh) => format!(
            "Spring 在非受检异常（运行时异常或 Error）或 `rollbackFor` 指定类型（{}）的异常抛出 `{method}` 时回滚事务；正常返回（即使返回的是失败结果）不会回滚，`{method}` 在此之前的写操作随事务提交。",
            named.join("、")
        ),
    }
}

/// Whether a failure ends the method from where it is written: not on another thread, not in
/// a callback whose caller decides what happens to it. Inside a `try` the analysis already
/// decided: a throw there is a failure rule only when no `catch` can take it
/// (`rules::escapes_every_catch`), and a return leaves whatever the catches say.
fn leaves_the_method(rule: &Rule) -> bool {
    rule.when.as_ref().is_some_and(|w| {
        w.context.iter().all(|c| {
            matches!(
                c,
                Context::Loop { .. } | Context::Catch { .. } | Context::Try { .. }
            )
        })
    })
}

/// What one failure does to the transaction.
fn failure_effect(
    rule: &Rule,
    rollback_for: &[String],
    exception_class: Option<&str>,
    language: SampleLanguage,
) -> String {
    let zh = language == SampleLanguage::Zh;
    match rule.outcome {
        Some(Outcome::ReturnsFailure) => {
            if zh {
                "它是返回而不是异常，不会让事务回滚。".to_owned()
            } else {
                "It is a return, not an exception, so the transaction is not rolled back.".to_owned()
            }
        }
        Some(Outcome::Throws) => {
            let chain = &rule.throws_chain;
            let unchecked = chain.iter().any(|t| t == "RuntimeException" || t == "Error");
            let named = rollback_for.iter().find(|t| chain.contains(t));
            // The exception is named only where the evidence shows it (its class, or the
            // `throw` in the method itself).
            let thrown = rule
                .throws
                .as_deref()
                .filter(|t| {
                    exception_class.is_some()
                        || rule.consequence.as_deref().is_some_and(|c| c.contains(t))
                })
                .map(|t| format!("`{t}`"));
            // A project exception whose cited class says `extends Exception` is checked (the
            // chain alone cannot tell: `Exception` ends every chain whose top is unknown).
            let checked = !unchecked
                && chain.get(1).is_some_and(|t| t == "Exception")
                && exception_class.is_some_and(|code| {
                    let code: String = code.split_whitespace().collect::<Vec<_>>().join(" ");
                    code.contains("extends Exception ") || code.contains("extends Exception{")
                });
            if checked && named.is_none() {
                let t = rule.throws.as_deref().unwrap_or_default();
                return if zh {
                    format!("`{t}` 直接继承 `Exception`，是受检异常，因此事务不会回滚。")
                } else {
                    format!("`{t}` extends `Exception` directly, a checked exception, so the transaction is not rolled back.")
                };
            }
            match (unchecked, named, thrown, zh) {
                (true, _, Some(t), false) => {
                    format!("{t} is an unchecked exception, so the transaction is rolled back.")
                }
                (true, _, None, false) => {
                    "It throws an unchecked exception, so the transaction is rolled back.".to_owned()
                }
                (true, _, Some(t), true) => format!("{t} 是非受检异常，因此事务回滚。"),
                (true, _, None, true) => "它抛出非受检异常，因此事务回滚。".to_owned(),
                (false, Some(n), _, false) => format!(
                    "What it throws is a `{n}`, which `rollbackFor` names, so the transaction is rolled back."
                ),
                (false, Some(n), _, true) => {
                    format!("它抛出的是 `rollbackFor` 指定的 `{n}`，因此事务回滚。")
                }
                (false, None, Some(t), false) => format!(
                    "Whether that rolls the transaction back depends on whether {t} is unchecked, which the code here does not show."
                ),
                (false, None, _, false) => "Whether that rolls the transaction back depends on the exception it throws, which the code here does not show.".to_owned(),
                (false, None, Some(t), true) => {
                    format!("是否回滚取决于 {t} 是否为非受检异常，这里的代码无法说明。")
                }
                (false, None, _, true) => "是否回滚取决于它抛出的异常，这里的代码无法说明。".to_owned(),
            }
        }
        _ => match language {
            SampleLanguage::En => "Whether that rolls the transaction back depends on whether it throws an unchecked exception, which the code here does not show.".to_owned(),
            SampleLanguage::Zh => "是否回滚取决于它是否抛出非受检异常，这里的代码无法说明。".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollback_settings_read_rollback_for_and_refuse_what_they_do_not_spell_out() {
        assert_eq!(rollback_settings("@Transactional"), Some(vec![]));
        assert_eq!(
            rollback_settings("@Transactional(rollbackFor = Exception.class)"),
            Some(vec!["Exception".to_owned()])
        );
        assert_eq!(
            rollback_settings(
                "@Transactional(rollbackFor = {IOException.class, x.BizException.class}, timeout = 5)"
            ),
            Some(vec!["IOException".to_owned(), "BizException".to_owned()])
        );
        assert_eq!(
            rollback_settings("@Transactional(noRollbackFor = ApiException.class)"),
            None
        );
        assert_eq!(
            rollback_settings("@Transactional(rollbackForClassName = \"Exception\")"),
            None
        );
    }
}
