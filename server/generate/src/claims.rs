//! Claims about calls, checked against the analysis' path facts: a sample written by a model
//! (or edited by a person) that says a method is called, while every call to it in the flows
//! its evidence belongs to happens only on one branch (an `if` arm, a `switch` case, a `catch`,
//! another thread; calls after guard clauses run on every successful run and count as
//! unconditional), must say under which condition, and must not say "always".
//!
//! What is checked, per sentence of the answer and per trace claim, for each method the
//! sentence names (in backticks, as `name(`, or as `Type.name`) that is called conditionally
//! in every flow through the evidence:
//! - a sentence that says it runs always / unconditionally / in every case is rejected;
//! - a sentence that tells the call as a step ("calls", "then", "invokes" ...) without any
//!   conditional word and without naming anything its conditions test is rejected: read
//!   alone, it says the call happens on every run.
//!
//! A method called unconditionally somewhere in those flows is not checked (the sentence may
//! be about that call).
//!
//! Claims about status values, checked against the state machines' transitions: a sentence
//! that names a method whose transitions the evidence holds and says it sets the status "to X"
//! (X a value's constant, in capitals or backticks, or its meaning) must name a value the
//! method moves the entity *to*. A model reading `updateStatus(record, RETURNING)` tells the
//! from-value as the new one; that claim is rejected. Pure: reads the sample and the analysis.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use regex::Regex;

use acdp_analysis::{Analysis, FlowStep, RuleKind};
use acdp_index::symbol_member;
use acdp_sample::{Sample, SampleBody};

/// Words (whole words, or Chinese phrases) that claim a call happens on every run.
const ALWAYS: &[&str] = &[
    "always",
    "unconditionally",
    "every time",
    "in all cases",
    "in every case",
    "regardless",
    "总是",
    "始终",
    "无论",
    "一定会",
];

/// Negations that turn an [`ALWAYS`] word around ("not always", "不总是").
const NEGATIONS: &[&str] = &["not ", "never ", "不", "并非"];

/// Words that tell a call as a step of the run.
const CALL_WORDS: &[&str] = &[
    "call", "calls", "called", "calling", "invoke", "invokes", "invoked", "then", "next", "after",
    "before", "runs", "executes", "triggers", "followed", "调用", "然后", "接着", "执行", "随后",
];

/// Words that make a sentence conditional (or place the call on a failure path or another
/// thread, which the analysis also counts as not on every run).
const CONDITIONAL_WORDS: &[&str] = &[
    "if",
    "when",
    "whenever",
    "only",
    "unless",
    "otherwise",
    "else",
    "case",
    "branch",
    "whether",
    "may",
    "might",
    "depending",
    "fail",
    "fails",
    "failure",
    "exception",
    "catch",
    "caught",
    "error",
    "thread",
    "async",
    "asynchronously",
    "background",
    "如果",
    "只有",
    "仅当",
    "仅在",
    "否则",
    "若",
    "条件",
    "情况下",
    "时才",
    "失败",
    "异常",
    "异步",
    "线程",
];

/// Literals and keywords that conditions test but that name nothing particular.
const NOT_A_NAME: &[&str] = &["null", "true", "false", "this", "new", "instanceof"];

/// Every problem of the sample's claims about calls and status values (empty: none found).
pub fn claim_problems(sample: &Sample, analysis: &Analysis) -> Vec<String> {
    let mut problems = call_claim_problems(sample, analysis);
    problems.extend(status_claim_problems(sample, analysis));
    problems.extend(transaction_claim_problems(sample, analysis));
    problems
}

/// Phrases that deny a method runs in a transaction.
const NO_TRANSACTION: &[&str] = &[
    "not in a transaction",
    "not inside a transaction",
    "not within a transaction",
    "not run in a transaction",
    "not part of a transaction",
    "no transaction",
    "not transactional",
    "without a transaction",
    "non-transactional",
    "not annotated with @transactional",
    "no @transactional",
    "不在事务",
    "没有事务",
    "非事务",
];

/// Problems of the sample's claims that a method runs without a transaction when the analysis
/// knows `@Transactional` applies to it (on the method, on its class, or inherited from the
/// interface method Spring reads it from: the audit of LLM samples on macrozheng/mall found the
/// model denying exactly those). Absence of a rule proves nothing (a transaction can be opened
/// elsewhere), so only the denial is checked.
pub fn transaction_claim_problems(sample: &Sample, analysis: &Analysis) -> Vec<String> {
    let evidence: HashSet<_> = sample.evidence.iter().map(|e| &e.chunk_id).collect();
    // Member (or class) simple name -> the rule's statement, for rules the evidence cites.
    let transactional: HashMap<&str, &str> = analysis
        .rules
        .iter()
        .filter(|r| {
            r.kind == RuleKind::Transaction
                && !r.statement.contains("without a transaction")
                && r.chunk_ids.iter().any(|id| evidence.contains(id))
        })
        .map(|r| (symbol_member(&r.symbol), r.statement.as_str()))
        .collect();
    if transactional.is_empty() {
        return Vec::new();
    }
    let mut problems = Vec::new();
    for sentence in sentences(sample) {
        let lower = sentence.to_lowercase();
        if !NO_TRANSACTION.iter().any(|phrase| lower.contains(phrase)) {
            continue;
        }
        let named = named_methods(&sentence);
        let denied: Vec<&str> = match transactional.len() {
            1 if named.is_empty() => transactional.keys().copied().collect(),
            _ => transactional
                .keys()
                .copied()
                .filter(|name| named.contains(*name))
                .collect(),
        };
        for name in denied {
            problems.push(format!(
                "says `{name}` runs without a transaction, but {}: \"{sentence}\"",
                transactional[name]
            ));
        }
    }
    problems.sort();
    problems.dedup();
    problems
}

/// Phrases that present a list of values as all of them.
const ENUMERATION_WORDS: &[&str] = &[
    "values are",
    "possible values",
    "can take",
    "takes the values",
    "one of",
    "取值",
    "可能的值",
    "可取",
];

/// Problems of the sample's claims that a method sets a status to a value it does not set, or
/// that a status takes only some of its values.
pub fn status_claim_problems(sample: &Sample, analysis: &Analysis) -> Vec<String> {
    let evidence: HashSet<_> = sample.evidence.iter().map(|e| &e.chunk_id).collect();
    let mut problems = Vec::new();
    for machine in analysis.states.iter().filter(|m| {
        m.chunk_ids
            .iter()
            .chain(m.transitions.iter().flat_map(|t| &t.chunk_ids))
            .any(|id| evidence.contains(id))
    }) {
        for sentence in sentences(sample) {
            if let Some(problem) = incomplete_enumeration(&sentence, machine) {
                problems.push(problem);
            }
        }
    }
    for machine in &analysis.states {
        // Method name -> the values it sets, for the transitions the evidence holds.
        let mut sets: HashMap<&str, Vec<i64>> = HashMap::new();
        for t in &machine.transitions {
            if t.chunk_ids.iter().any(|id| evidence.contains(id)) {
                sets.entry(symbol_member(&t.method)).or_default().push(t.to);
            }
        }
        if sets.is_empty() {
            continue;
        }
        let name_of = |value: i64| {
            machine
                .values
                .iter()
                .find(|v| v.value == value)
                .and_then(|v| v.name.clone())
                .unwrap_or_else(|| value.to_string())
        };
        for sentence in sentences(sample) {
            let named = named_methods(&sentence);
            let methods: Vec<&str> = match sets.len() {
                1 => sets.keys().copied().collect(),
                _ => sets
                    .keys()
                    .copied()
                    .filter(|m| named.contains(*m))
                    .collect(),
            };
            for target in status_targets(&sentence, &machine.values) {
                for method in &methods {
                    let to = &sets[method];
                    if (named.contains(*method) || sets.len() == 1) && !to.contains(&target) {
                        let told: Vec<String> = to.iter().map(|v| name_of(*v)).collect();
                        problems.push(format!(
                            "says the status becomes {} in `{method}`, but it sets {}: \
                             \"{sentence}\"",
                            name_of(target),
                            told.join(" or ")
                        ));
                    }
                }
            }
        }
    }
    problems.sort();
    problems.dedup();
    problems
}

/// A sentence presenting some of a status's values as all of them ("the values are 0, 1 and
/// 2" when 3 exists too): the values it names (numbers or constants) against the machine's.
fn incomplete_enumeration(sentence: &str, machine: &acdp_analysis::StateMachine) -> Option<String> {
    let lower = sentence.to_lowercase();
    if !ENUMERATION_WORDS.iter().any(|w| lower.contains(w)) || machine.values.len() < 2 {
        return None;
    }
    let numbers: HashSet<i64> = identifier_spans(sentence)
        .filter_map(|(_, word)| word.parse().ok())
        .collect();
    let named: HashSet<i64> = machine
        .values
        .iter()
        .filter(|v| {
            numbers.contains(&v.value)
                || v.name
                    .as_ref()
                    .is_some_and(|n| find_words(sentence, n).next().is_some())
        })
        .map(|v| v.value)
        .collect();
    if named.len() < 2 || named.len() == machine.values.len() {
        return None;
    }
    let missing: Vec<String> = machine
        .values
        .iter()
        .filter(|v| !named.contains(&v.value))
        .map(|v| match &v.name {
            Some(name) => format!("{} ({name})", v.value),
            None => v.value.to_string(),
        })
        .collect();
    Some(format!(
        "lists {} of the {} values of `{}` as if they were all, leaving out {}: \"{sentence}\"",
        named.len(),
        machine.values.len(),
        machine.field,
        missing.join(", ")
    ))
}

/// The values a sentence says a status is set to: "to X" / "为X" / "改为X", X a value's
/// constant written in capitals or backticks, or its meaning.
fn status_targets(sentence: &str, values: &[acdp_analysis::StateValue]) -> Vec<i64> {
    let mut targets = Vec::new();
    for value in values {
        let mut spellings: Vec<String> = Vec::new();
        if let Some(name) = &value.name {
            spellings.push(name.clone());
            spellings.push(format!("`{name}`"));
        }
        if let Some(meaning) = value.meaning.as_ref().filter(|m| !m.trim().is_empty()) {
            spellings.push(meaning.clone());
        }
        let said = spellings.iter().any(|spelling| {
            ["to ", "to: ", "为", "成"].iter().any(|lead| {
                find_words(sentence, spelling).any(|at| sentence[..at].ends_with(lead))
                    || sentence.contains(&format!("{lead}{spelling}"))
            })
        });
        if said {
            targets.push(value.value);
        }
    }
    targets
}

/// Problems of the sample's claims about calls (empty: none found).
pub fn call_claim_problems(sample: &Sample, analysis: &Analysis) -> Vec<String> {
    let conditional = conditional_calls(sample, analysis);
    if conditional.is_empty() {
        return Vec::new();
    }
    let mut problems = Vec::new();
    for sentence in sentences(sample) {
        let lower = sentence.to_lowercase();
        let conditional_words = contains_any(&lower, CONDITIONAL_WORDS);
        for name in named_methods(&sentence) {
            let Some(steps) = conditional.get(name.as_str()) else {
                continue;
            };
            if conditional_words || steps.iter().any(|s| names_a_tested_value(&sentence, s)) {
                continue;
            }
            let condition = steps.first().map(|s| describe(s)).unwrap_or_default();
            if says_always(&lower) {
                problems.push(format!(
                    "says `{name}` runs on every path, but it is called only {condition}: \
                     \"{sentence}\""
                ));
            } else if contains_any(&lower, CALL_WORDS) {
                problems.push(format!(
                    "tells the call of `{name}` without its condition (it is called only \
                     {condition}): \"{sentence}\""
                ));
            }
        }
    }
    problems.sort();
    problems.dedup();
    problems
}

/// An [`ALWAYS`] word not turned around by a negation just before it.
fn says_always(lower: &str) -> bool {
    ALWAYS.iter().any(|word| {
        find_words(lower, word).any(|at| {
            let before = &lower[..at];
            !NEGATIONS.iter().any(|n| before.ends_with(n))
        })
    })
}

/// Methods called only conditionally in the flows through the sample's evidence, by simple
/// name, with their call steps.
fn conditional_calls<'a>(
    sample: &Sample,
    analysis: &'a Analysis,
) -> HashMap<&'a str, Vec<&'a FlowStep>> {
    let evidence: HashSet<_> = sample.evidence.iter().map(|e| &e.chunk_id).collect();
    let mut steps: HashMap<&str, (bool, Vec<&FlowStep>)> = HashMap::new();
    for flow in &analysis.flows {
        if !flow.chunk_ids.iter().any(|id| evidence.contains(id)) {
            continue;
        }
        for step in flow.steps.iter().filter(|s| s.kind == "method") {
            let entry = steps.entry(symbol_member(&step.symbol)).or_default();
            entry.0 |= step.when.is_main_line() && step.outer.is_main_line();
            entry.1.push(step);
        }
    }
    steps
        .into_iter()
        .filter(|(_, (unconditional_somewhere, _))| !unconditional_somewhere)
        .map(|(name, (_, steps))| (name, steps))
        .collect()
}

/// The answer's sentences and every trace claim. A sentence ends at `.` followed by white
/// space or the end, at `。`, `;`, `；` or a line break, never inside backticks (so
/// `order.getStatus()` and `Type.method` stay whole).
fn sentences(sample: &Sample) -> Vec<String> {
    let mut out = Vec::new();
    if let SampleBody::Qa { answer, .. } = &sample.body {
        out.extend(split_sentences(answer));
    }
    out.extend(sample.trace.iter().map(|step| step.claim.trim().to_owned()));
    out
}

fn split_sentences(text: &str) -> Vec<String> {
    let mut sentences = Vec::new();
    let mut current = String::new();
    let mut in_code = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        current.push(c);
        if c == '`' {
            in_code = !in_code;
        }
        let ends = !in_code
            && match c {
                '.' => chars.peek().is_none_or(|next| next.is_whitespace()),
                '。' | ';' | '；' | '\n' => true,
                _ => false,
            };
        if ends {
            sentences.push(std::mem::take(&mut current));
        }
    }
    sentences.push(current);
    sentences
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Method names a sentence refers to: identifiers in backticks, before `(`, or after `.`.
fn named_methods(sentence: &str) -> HashSet<String> {
    let mut names = HashSet::new();
    for (i, quoted) in sentence.split('`').enumerate() {
        if i % 2 == 1 {
            names.extend(identifiers(quoted).map(str::to_owned));
        }
    }
    let bytes = sentence.as_bytes();
    for (start, word) in identifier_spans(sentence) {
        let end = start + word.len();
        let called = bytes.get(end) == Some(&b'(');
        let member = start > 0 && bytes[start - 1] == b'.';
        if called || member {
            names.insert(word.to_owned());
        }
    }
    names
}

/// Runs of identifier characters (`[A-Za-z0-9_$]+`, numbers included) with their byte
/// offsets.
fn identifier_spans(text: &str) -> impl Iterator<Item = (usize, &str)> {
    static WORD: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"[A-Za-z0-9_$]+").expect("valid regex"));
    WORD.find_iter(text).map(|m| (m.start(), m.as_str()))
}

fn identifiers(text: &str) -> impl Iterator<Item = &str> {
    identifier_spans(text)
        .map(|(_, word)| word)
        .filter(|word| word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'))
}

/// Whether the sentence names an identifier the step's conditions test (so it states, in its
/// own words, when the call happens).
fn names_a_tested_value(sentence: &str, step: &FlowStep) -> bool {
    let tested: HashSet<&str> = step
        .when
        .conditions
        .iter()
        .chain(&step.outer.conditions)
        .flat_map(|c| identifiers(&c.expr))
        .filter(|word| word.len() > 2 && !NOT_A_NAME.contains(word))
        .collect();
    identifiers(sentence).any(|word| tested.contains(word))
}

/// When the step runs, for the problem message: its first condition, or its context.
fn describe(step: &FlowStep) -> String {
    let path = if step.when.is_main_line() {
        &step.outer
    } else {
        &step.when
    };
    match path.conditions.first() {
        Some(condition) => format!("when `{}`", condition.as_expression()),
        None if path.is_async() => "on another thread".to_owned(),
        None if path.in_catch() => "when an exception was caught".to_owned(),
        None => "on some paths".to_owned(),
    }
}

/// Whether `text` (lower case) holds one of `words`: an ASCII word only as a whole word
/// ("call" not in "typically", "then" not in "authenticate"), a Chinese phrase anywhere.
fn contains_any(text: &str, words: &[&str]) -> bool {
    words.iter().any(|w| find_words(text, w).next().is_some())
}

/// Where `word` occurs in `text` as a whole word (ASCII words) or at all (others).
fn find_words<'t>(text: &'t str, word: &'t str) -> impl Iterator<Item = usize> + 't {
    let ascii = word.is_ascii();
    text.match_indices(word).filter_map(move |(at, _)| {
        if !ascii {
            return Some(at);
        }
        let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let before = text[..at].chars().next_back().is_none_or(|c| !is_word(c));
        let after = text[at + word.len()..]
            .chars()
            .next()
            .is_none_or(|c| !is_word(c));
        (before && after).then_some(at)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_targets_follow_to() {
        let value = |v: i64, name: &str, meaning: &str| acdp_analysis::StateValue {
            value: v,
            name: Some(name.to_owned()),
            meaning: Some(meaning.to_owned()),
        };
        let values = [
            value(1, "RETURNING", "退货中"),
            value(2, "COMPLETED", "已完成"),
        ];
        assert_eq!(
            status_targets("It sets the status to RETURNING.", &values),
            [1]
        );
        assert_eq!(status_targets("It moves it to `COMPLETED`.", &values), [2]);
        assert_eq!(status_targets("状态改为已完成", &values), [2]);
        assert!(status_targets("Only RETURNING applies are completed.", &values).is_empty());
    }

    #[test]
    fn words_are_whole_words_and_negations_count() {
        assert!(contains_any("it calls x", CALL_WORDS));
        assert!(!contains_any("typically automatic", CALL_WORDS));
        assert!(!contains_any("authenticate the user", CALL_WORDS));
        assert!(!contains_any("in lowercase elsewhere", CONDITIONAL_WORDS));
        assert!(contains_any("只有状态为待付款时", CONDITIONAL_WORDS));
        assert!(!contains_any("当前订单的时间", CONDITIONAL_WORDS));
        assert!(says_always("it always calls x"));
        assert!(!says_always("it does not always call x"));
        assert!(!says_always("它不总是调用"));
    }

    #[test]
    fn sentences_end_outside_code() {
        assert_eq!(
            split_sentences("It reads `order.getStatus()`. Then it calls `Type.save`; done"),
            [
                "It reads `order.getStatus()`.",
                "Then it calls `Type.save`;",
                "done"
            ]
        );
        assert_eq!(
            split_sentences("Version 2.5 is used."),
            ["Version 2.5 is used."]
        );
    }

    #[test]
    fn methods_are_named_in_backticks_calls_and_members() {
        let names = named_methods("It calls `releaseStock` then order.cancel() and log(x)");
        for name in ["releaseStock", "cancel", "log"] {
            assert!(names.contains(name), "{name} in {names:?}");
        }
        assert!(!names.contains("calls"), "{names:?}");
        assert!(!names.contains("order"), "{names:?}");
    }
}
