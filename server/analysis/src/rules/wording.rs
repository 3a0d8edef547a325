//! The English of a rule's `statement`: shortened code, symbols, timings and constraints in
//! words. Conditions and outcomes are worded by `path_text`, not here.

use crate::syntax::{Annotation, first_string_literal};
use acdp_index::Symbol;

/// `text` cut to at most `max` characters at a word boundary, with `...` when cut, so that no
/// identifier is quoted half.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    let boundary = cut
        .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
        .unwrap_or(cut.len());
    format!("{}...", cut[..boundary].trim_end())
}

/// `Type.method` of a method symbol, `Type` of a type symbol.
pub(super) fn short_symbol(symbol: &str) -> String {
    Symbol::parse(symbol).label()
}

pub(super) fn short_statement(symbol: &str) -> &str {
    let mut parts = symbol.rsplitn(3, '.');
    let id = parts.next().unwrap_or(symbol);
    match parts.next() {
        Some(ns) => &symbol[symbol.len() - id.len() - ns.len() - 1..],
        None => id,
    }
}

pub(super) fn join_words(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

pub(super) fn schedule_timing(a: &Annotation) -> String {
    if let Some(cron) = a.arg("cron").and_then(first_string_literal) {
        return cron;
    }
    a.args
        .iter()
        .map(|(k, v)| match k {
            Some(k) => format!("{k} = {v}"),
            None => v.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn describe_timing(a: &Annotation, timing: &str) -> String {
    if a.arg("cron").is_some() {
        return format!("cron \"{timing}\"");
    }
    let millis = ["fixedRate", "fixedDelay"].iter().find_map(|k| {
        let v = a.arg(k)?;
        let product = v
            .split('*')
            .map(|p| p.trim().trim_end_matches(['L', 'l']).parse::<i64>().ok())
            .try_fold(1i64, |acc, x| x.and_then(|x| acc.checked_mul(x)))?;
        Some((*k, product))
    });
    match millis {
        Some((k, ms)) => format!(
            "{} every {} ({timing})",
            if k == "fixedRate" {
                "started"
            } else {
                "repeated with a pause"
            },
            human_duration(ms)
        ),
        None => timing.to_owned(),
    }
}

pub(super) fn human_duration(ms: i64) -> String {
    match ms {
        ms if ms % 86_400_000 == 0 => format!("{} day(s)", ms / 86_400_000),
        ms if ms % 3_600_000 == 0 => format!("{} hour(s)", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{} minute(s)", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{} second(s)", ms / 1000),
        ms => format!("{ms} ms"),
    }
}

/// `(object, Property, value)` when `condition` says `object.getProperty()` differs from the
/// variable `value`: `!o.getP().equals(v)`, `!v.equals(o.getP())`, `o.getP() != v`,
/// `!Objects.equals(o.getP(), v)`.
pub(super) fn mismatch_of(condition: &str) -> Option<(String, String, String)> {
    static FORMS: std::sync::LazyLock<[regex::Regex; 4]> = std::sync::LazyLock::new(|| {
        [
            r"^!\s*(?P<o>\w+)\.get(?P<p>\w+)\(\)\.equals\((?P<v>\w+)\)$",
            r"^!\s*(?P<v>\w+)\.equals\((?P<o>\w+)\.get(?P<p>\w+)\(\)\)$",
            r"^(?P<o>\w+)\.get(?P<p>\w+)\(\)\s*!=\s*(?P<v>\w+)$",
            r"^!\s*Objects\.equals\((?P<o>\w+)\.get(?P<p>\w+)\(\),\s*(?P<v>\w+)\)$",
        ]
        .map(|f| regex::Regex::new(f).expect("a valid pattern"))
    });
    let condition = condition.trim();
    FORMS.iter().find_map(|form| {
        let c = form.captures(condition)?;
        Some((c["o"].to_owned(), c["p"].to_owned(), c["v"].to_owned()))
    })
}

pub(super) fn constraint_phrase(a: &Annotation) -> String {
    let value = || {
        a.arg("value")
            .map(|v| v.trim_matches('"').to_owned())
            .unwrap_or_default()
    };
    match a.name.as_str() {
        "NotNull" => "is required (@NotNull)".to_owned(),
        "NotEmpty" => "must not be empty (@NotEmpty)".to_owned(),
        "NotBlank" => "must not be blank (@NotBlank)".to_owned(),
        "Min" | "DecimalMin" => format!("must be >= {} (@{})", value(), a.name),
        "Max" | "DecimalMax" => format!("must be <= {} (@{})", value(), a.name),
        // Only the bounds the annotation writes: an unwritten default is not a fact of the code.
        "Size" | "Length" => match (a.arg("min"), a.arg("max")) {
            (Some(min), Some(max)) => {
                format!("must have a size between {min} and {max} (@{})", a.name)
            }
            (Some(min), None) => format!("must have a size of at least {min} (@{})", a.name),
            (None, Some(max)) => format!("must have a size of at most {max} (@{})", a.name),
            (None, None) => format!("must satisfy @{}", a.name),
        },
        "Pattern" => format!(
            "must match {} (@Pattern)",
            a.arg("regexp").unwrap_or("a pattern")
        ),
        "Positive" => "must be > 0 (@Positive)".to_owned(),
        "PositiveOrZero" => "must be >= 0 (@PositiveOrZero)".to_owned(),
        other => format!("must satisfy @{other}"),
    }
}
