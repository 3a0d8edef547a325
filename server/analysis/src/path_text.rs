//! Path facts in words, English and Chinese: the one place that turns a [`Path`] or an
//! [`Outcome`] into a clause, so rule statements, QA answers, flow traces and designs say the
//! same thing the same way. Templates only; what to say is decided by the callers.

use super::paths::{Condition, Context, Outcome, Path};

/// `` `a` and `b` `` (each condition as the expression that is true on the path).
fn joined(conditions: &[Condition], and: &str) -> String {
    conditions
        .iter()
        .map(|c| format!("`{}`", c.as_expression()))
        .collect::<Vec<_>>()
        .join(and)
}

/// "when `a` and `b`", or "only when ... (among other conditions ...)" for an incomplete path;
/// `None` when the path has no condition.
pub fn when_en(path: &Path) -> Option<String> {
    if path.conditions.is_empty() {
        return None;
    }
    let list = joined(&path.conditions, " and ");
    Some(if path.complete {
        format!("when {list}")
    } else {
        format!("only when {list} (among other conditions on the way)")
    })
}

pub fn when_zh(path: &Path) -> Option<String> {
    if path.conditions.is_empty() {
        return None;
    }
    let list = joined(&path.conditions, " 且 ");
    Some(if path.complete {
        format!("当 {list} 时")
    } else {
        format!("仅当 {list} 时（途中还有其他条件）")
    })
}

/// The context clauses: "inside `for (...)`", "asynchronously (`executor.submit`)" ...
pub fn context_en(path: &Path) -> Vec<String> {
    path.context
        .iter()
        .map(|c| match c {
            Context::Loop { header } => format!("inside `{header}`"),
            Context::Catch { exception } => format!("in the `catch ({exception})` block"),
            Context::Finally => "in a `finally` block".to_owned(),
            Context::Try { catches } => {
                format!(
                    "inside a `try` block with `catch ({})`",
                    catches.join(" | ")
                )
            }
            Context::Callback { call } => format!("inside a callback passed to `{call}`"),
            Context::Async { how } => format!("asynchronously, on another thread (`{how}`)"),
        })
        .collect()
}

pub fn context_zh(path: &Path) -> Vec<String> {
    path.context
        .iter()
        .map(|c| match c {
            Context::Loop { header } => format!("在 `{header}` 循环中"),
            Context::Catch { exception } => format!("在 `catch ({exception})` 块中"),
            Context::Finally => "在 `finally` 块中".to_owned(),
            Context::Try { catches } => {
                format!("在带有 `catch ({})` 的 `try` 块中", catches.join(" | "))
            }
            Context::Callback { call } => format!("在传给 `{call}` 的回调中"),
            Context::Async { how } => format!("在另一个线程中异步执行（`{how}`）"),
        })
        .collect()
}

/// What the outcome does, for a sentence "`M` <outcome>": "throws `...`", "returns a failure
/// (`...`)". `code` is the statement as written, `message` its failure message.
pub fn outcome_en(outcome: Option<Outcome>, code: &str, message: Option<&str>) -> String {
    let with = |m: Option<&str>| m.map(|m| format!(" \"{m}\"")).unwrap_or_default();
    match outcome {
        Some(Outcome::Throws | Outcome::Fails) => match message {
            Some(m) => format!("fails with \"{m}\" (`{code}`)"),
            None => format!("fails (`{code}`)"),
        },
        Some(Outcome::ReturnsFailure) => {
            format!("returns a failure{} (`{code}`)", with(message))
        }
        Some(Outcome::ReturnsSuccess) => format!("returns a success result (`{code}`)"),
        Some(Outcome::Returns) => format!("returns early (`{code}`)"),
        Some(Outcome::Continues) => "skips to the next iteration (`continue`)".to_owned(),
        Some(Outcome::Breaks) => "leaves the loop (`break`)".to_owned(),
        None => format!("runs `{code}`"),
    }
}

pub fn outcome_zh(outcome: Option<Outcome>, code: &str, message: Option<&str>) -> String {
    match outcome {
        Some(Outcome::Throws | Outcome::Fails) => match message {
            Some(m) => format!("失败，提示 \"{m}\"（`{code}`）"),
            None => format!("失败（`{code}`）"),
        },
        Some(Outcome::ReturnsFailure) => match message {
            Some(m) => format!("返回失败结果 \"{m}\"（`{code}`）"),
            None => format!("返回失败结果（`{code}`）"),
        },
        Some(Outcome::ReturnsSuccess) => format!("返回成功结果（`{code}`）"),
        Some(Outcome::Returns) => format!("提前返回（`{code}`）"),
        Some(Outcome::Continues) => "跳到下一次循环（`continue`）".to_owned(),
        Some(Outcome::Breaks) => "跳出循环（`break`）".to_owned(),
        None => format!("执行 `{code}`"),
    }
}

/// "`M` fails with "x" when `a` and `b`, inside `for (...)`."
/// "`owner` fails with ... when `c`". On an incomplete path the listed conditions are
/// necessary for reaching *this* check, not for the outcome: the same failure may be returned
/// elsewhere in the method (a `catch`, another check), so "only when" is said of the check.
pub fn rule_sentence_en(owner: &str, outcome: &str, path: &Path) -> String {
    let mut sentence = format!("`{owner}` {outcome}");
    if !path.complete && !path.conditions.is_empty() {
        sentence.push_str(&format!(
            " at a check that is reached only when {} (among other conditions on the way)",
            joined(&path.conditions, " and ")
        ));
    } else if let Some(when) = when_en(path) {
        sentence.push(' ');
        sentence.push_str(&when);
    }
    for c in context_en(path) {
        sentence.push_str(", ");
        sentence.push_str(&c);
    }
    sentence.push('.');
    sentence
}

pub fn rule_sentence_zh(owner: &str, outcome: &str, path: &Path) -> String {
    let mut sentence = String::new();
    for c in context_zh(path) {
        sentence.push_str(&c);
        sentence.push('，');
    }
    if !path.complete && !path.conditions.is_empty() {
        sentence.push_str(&format!(
            "`{owner}` 中有一处校验仅当 {} 时（途中还有其他条件）才会执行到，该处{outcome}。",
            joined(&path.conditions, " 且 ")
        ));
        return sentence;
    }
    if let Some(when) = when_zh(path) {
        sentence.push_str(&when);
        sentence.push('，');
    }
    sentence.push_str(&format!("`{owner}` {outcome}。"));
    sentence
}
