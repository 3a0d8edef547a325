//! Validation of samples against the current index: one implementation, used when samples are
//! generated, by `acdp validate` on an existing dataset, and by strict inference.
//!
//! A sample passes when every check passes. Checks are named so reports can count failures
//! by cause. Grounding is checked lexically: an identifier or number the text states about the
//! code must occur in the code it cites. That is necessary, not sufficient, for a true answer;
//! it rejects the common failure (names and values that are not in the evidence).

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use crate::{ComponentAction, SCHEMA_VERSION, Sample, SampleBody, SampleLanguage};
use acdp_index::{ChunkId, ContentHash, WorkspaceIndex};

/// Names of the checks, as they appear in reports.
pub mod check {
    pub const SHAPE: &str = "shape";
    pub const EVIDENCE_CURRENT: &str = "evidence_current";
    pub const TRACE_CITES_EVIDENCE: &str = "trace_cites_evidence";
    pub const EVIDENCE_USED: &str = "evidence_used";
    pub const IDENTIFIERS_GROUNDED: &str = "identifiers_grounded";
    pub const STEPS_GROUNDED: &str = "steps_grounded";
    pub const NUMBERS_GROUNDED: &str = "numbers_grounded";
    pub const LENGTH: &str = "length";
}

/// Counts the tokens a sample takes in training, with the target model's tokenizer: its
/// exported conversation (`export::chat_turns`) in the model's chat template. The model stage
/// supplies it (`model::chat::sample_token_count`), so this module needs no tokenizer. An
/// error (the tokenizer cannot encode the text) fails the check with that message.
pub type TokenCounter<'a> = &'a (dyn Fn(&Sample) -> Result<usize, String> + Sync);

/// Options of [`validate_sample`].
#[derive(Clone, Copy, Default)]
pub struct ValidationOptions<'a> {
    /// With a tokenizer: the most tokens a sample may take. A longer one fails the `length`
    /// check and is dropped, never truncated.
    pub max_tokens: Option<(TokenCounter<'a>, usize)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    pub check: &'static str,
    pub passed: bool,
    /// What failed, naming the item (chunk id, identifier, number).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ValidationReport {
    pub sample_id: String,
    pub passed: bool,
    /// Share of checks passed, 0..=1.
    pub score: f64,
    pub checks: Vec<CheckResult>,
    /// Evidence whose code no longer matches the index (empty when current).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stale_evidence: Vec<ChunkId>,
}

/// Checks one sample against the index.
pub fn validate_sample(
    sample: &Sample,
    index: &WorkspaceIndex,
    options: &ValidationOptions<'_>,
) -> ValidationReport {
    let mut checks = vec![check_shape(sample)];
    let (evidence_check, stale) = check_evidence_current(sample, index);
    checks.push(evidence_check);
    checks.extend(check_trace(sample));
    let grounding = Grounding::of(sample);
    checks.push(grounding.identifiers(sample));
    checks.push(grounding.steps(sample));
    checks.push(grounding.numbers(sample));
    if let Some((count, max)) = options.max_tokens {
        let problems = match count(sample) {
            Ok(tokens) if tokens > max => {
                vec![format!("{tokens} tokens, more than the limit of {max}")]
            }
            Ok(_) => vec![],
            Err(error) => vec![format!("cannot count tokens: {error}")],
        };
        checks.push(result(check::LENGTH, problems));
    }
    let passed_count = checks.iter().filter(|c| c.passed).count();
    ValidationReport {
        sample_id: sample.sample_id.clone(),
        passed: passed_count == checks.len(),
        score: passed_count as f64 / checks.len() as f64,
        checks,
        stale_evidence: stale,
    }
}

fn result(check: &'static str, problems: Vec<String>) -> CheckResult {
    CheckResult {
        check,
        passed: problems.is_empty(),
        problems,
    }
}

fn check_shape(sample: &Sample) -> CheckResult {
    let mut problems = Vec::new();
    if sample.schema_version != SCHEMA_VERSION {
        problems.push(format!(
            "schema_version {} (this build reads {SCHEMA_VERSION})",
            sample.schema_version
        ));
    }
    if sample.evidence.is_empty() {
        problems.push("no evidence".to_owned());
    }
    let task = sample.body.task();
    if sample.trace.len() < task.min_trace_steps() {
        problems.push(format!(
            "{} trace steps; a {} sample needs at least {}",
            sample.trace.len(),
            task.as_str(),
            task.min_trace_steps()
        ));
    }
    problems.extend(language_problem(sample));
    match &sample.body {
        SampleBody::Qa { question, answer } => {
            if question.trim().is_empty() || answer.trim().is_empty() {
                problems.push("empty question or answer".to_owned());
            }
        }
        SampleBody::Design {
            requirement,
            design,
            ..
        } => {
            if requirement.trim().is_empty() || design.summary.trim().is_empty() {
                problems.push("empty requirement or design summary".to_owned());
            }
            if !design.components.is_empty()
                && design
                    .components
                    .iter()
                    .all(|c| c.action == ComponentAction::Add)
                && design.reused.is_empty()
            {
                problems.push("the design reuses nothing of the repository".to_owned());
            }
        }
    }
    result(check::SHAPE, problems)
}

/// A sample written in another language than its label: an `en` sample whose answer (design
/// summary) or a trace claim has more Chinese of its own (outside code spans and quotes, not
/// copied from its evidence) than English words,
/// a `zh` sample whose answer or design summary has no Chinese at all. A model told to write English sometimes answers in the language of the comments.
fn language_problem(sample: &Sample) -> Option<String> {
    let main_text = match &sample.body {
        SampleBody::Qa { answer, .. } => answer.as_str(),
        SampleBody::Design { design, .. } => design.summary.as_str(),
    };
    match sample.language {
        SampleLanguage::En => {
            // The sample's own text: a question or requirement a person wrote may be in any
            // language.
            let texts =
                std::iter::once(main_text).chain(sample.trace.iter().map(|s| s.claim.as_str()));
            for text in texts {
                let prose = outside_quotes(text);
                // Chinese the sample wrote itself (not copied from its evidence) that outweighs
                // its English: a short label such as "4 (已关闭)" in an English sentence is a
                // value's name, a Chinese sentence is not English.
                let own: Vec<&str> = prose
                    .split(|c: char| !is_cjk(c))
                    .filter(|run| !run.is_empty())
                    .filter(|run| !sample.evidence.iter().any(|e| e.code.contains(run)))
                    .collect();
                let own_chars: usize = own.iter().map(|run| run.chars().count()).sum();
                let english_words = text
                    .split(|c: char| !c.is_ascii_alphabetic())
                    .filter(|w| w.len() > 1)
                    .count();
                if own_chars > english_words {
                    return Some(format!(
                        "labelled en but written in Chinese (\"{}\" is not quoted from the \
                         evidence): \"{}\"",
                        own[0],
                        text.chars().take(60).collect::<String>()
                    ));
                }
            }
            None
        }
        SampleLanguage::Zh if !main_text.chars().any(is_cjk) => Some(format!(
            "labelled zh but written without Chinese: \"{}\"",
            main_text.chars().take(60).collect::<String>()
        )),
        SampleLanguage::Zh => None,
    }
}

fn is_cjk(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

/// The text with code spans and quoted strings (`...`, "...", “...”, 「...」) left out
/// (single quotes are apostrophes in English prose).
fn outside_quotes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut closing: Option<char> = None;
    for c in text.chars() {
        match closing {
            Some(end) if c == end => closing = None,
            Some(_) => {}
            None => match c {
                '`' | '"' => closing = Some(c),
                '“' => closing = Some('”'),
                '「' => closing = Some('」'),
                _ => out.push(c),
            },
        }
    }
    out
}

fn check_evidence_current(sample: &Sample, index: &WorkspaceIndex) -> (CheckResult, Vec<ChunkId>) {
    let mut problems = Vec::new();
    let mut stale = Vec::new();
    let mut seen = HashSet::new();
    for evidence in &sample.evidence {
        if !seen.insert(&evidence.chunk_id) {
            problems.push(format!("{} is listed twice", evidence.chunk_id));
            continue;
        }
        let Some((file, chunk)) = index.chunk(&evidence.chunk_id) else {
            problems.push(format!(
                "{} ({}) is not in the index",
                evidence.chunk_id, evidence.symbol
            ));
            stale.push(evidence.chunk_id.clone());
            continue;
        };
        if ContentHash::of(&evidence.code) != evidence.content_hash {
            problems.push(format!(
                "{}: code does not match its content_hash",
                evidence.chunk_id
            ));
        }
        if !evidence.is_current(chunk, &file.text) {
            problems.push(format!(
                "{} ({}:{}) changed since the sample was made",
                evidence.chunk_id, chunk.path, chunk.start_line
            ));
            stale.push(evidence.chunk_id.clone());
        }
    }
    (result(check::EVIDENCE_CURRENT, problems), stale)
}

fn check_trace(sample: &Sample) -> [CheckResult; 2] {
    let listed: HashSet<&ChunkId> = sample.evidence.iter().map(|e| &e.chunk_id).collect();
    let mut cited = HashSet::new();
    let mut problems = Vec::new();
    for (n, step) in sample.trace.iter().enumerate() {
        if step.evidence.is_empty() {
            problems.push(format!("step {} cites no evidence", n + 1));
        }
        for id in &step.evidence {
            if listed.contains(id) {
                cited.insert(id);
            } else {
                problems.push(format!(
                    "step {} cites {id}, which is not in the evidence",
                    n + 1
                ));
            }
        }
    }
    let unused = sample
        .evidence
        .iter()
        .filter(|e| !cited.contains(&e.chunk_id))
        .map(|e| format!("{} ({}) is not cited by any step", e.chunk_id, e.symbol))
        .collect();
    [
        result(check::TRACE_CITES_EVIDENCE, problems),
        result(check::EVIDENCE_USED, unused),
    ]
}

/// The text a sample's claims may rest on, and the claims to check.
struct Grounding {
    /// Evidence code plus the user's side (question or requirement): what may be named.
    haystack: String,
    /// Names the sample proposes (new components): not expected in the evidence.
    proposed: HashSet<String>,
}

static CODE_IDENTIFIER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)*").expect("valid regex")
});
static BACKTICKED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"`([^`\n]+)`").expect("valid regex"));
static NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:^|[^A-Za-z0-9_.#])(\d+(?:\.\d+)?)").expect("valid regex"));
static LIST_MARKER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^\s*(?:\d+[.)]|[-*])\s").expect("valid regex"));

impl Grounding {
    fn of(sample: &Sample) -> Grounding {
        let mut haystack = String::new();
        for evidence in &sample.evidence {
            haystack.push_str(&evidence.code);
            haystack.push('\n');
            haystack.push_str(&evidence.symbol);
            haystack.push('\n');
            haystack.push_str(&evidence.path);
            haystack.push('\n');
        }
        haystack.push_str(sample.body.prompt());
        let mut proposed = HashSet::new();
        if let SampleBody::Design { design, .. } = &sample.body {
            for component in design
                .components
                .iter()
                .filter(|c| c.action == ComponentAction::Add)
            {
                for part in component.component.split(['.', ' ', '(', ')', ',']) {
                    proposed.insert(part.to_owned());
                }
            }
        }
        Grounding { haystack, proposed }
    }

    /// The statements about existing code: the answer (qa), reused and modified components
    /// (design), and every trace claim.
    fn claims(sample: &Sample) -> Vec<String> {
        let mut claims: Vec<String> = sample.trace.iter().map(|s| s.claim.clone()).collect();
        match &sample.body {
            SampleBody::Qa { answer, .. } => claims.push(answer.clone()),
            SampleBody::Design { design, .. } => {
                claims.extend(design.reused.iter().map(|r| format!("`{}`", r.symbol)));
                claims.extend(
                    design
                        .components
                        .iter()
                        .filter(|c| c.action == ComponentAction::Modify)
                        .map(|c| format!("`{}`", c.component)),
                );
            }
        }
        claims
    }

    fn identifiers(&self, sample: &Sample) -> CheckResult {
        let mut missing: Vec<String> = Vec::new();
        for claim in Self::claims(sample) {
            for name in code_identifiers(&claim) {
                let grounded = name.split('.').filter(|part| !part.is_empty()).all(|part| {
                    self.proposed.contains(part) || contains_word(&self.haystack, part)
                });
                if !grounded && !missing.contains(&name) {
                    missing.push(name);
                }
            }
        }
        let problems = missing
            .into_iter()
            .map(|n| format!("`{n}` is not in the cited evidence"))
            .collect();
        result(check::IDENTIFIERS_GROUNDED, problems)
    }

    /// Each trace step names only what the chunks *it* cites hold (or the user's side, or
    /// what the design proposes); names in no evidence at all are left to
    /// [`Self::identifiers`]. The sample-wide check lets a step cite one chunk for a fact
    /// another chunk shows ("`A` calls `B`" citing `B` alone, a condition of the caller cited
    /// with the callee); a model tuned on such steps learns to cite the wrong code.
    fn steps(&self, sample: &Sample) -> CheckResult {
        let mut problems = Vec::new();
        for (n, step) in sample.trace.iter().enumerate() {
            let mut cited = String::new();
            for e in sample
                .evidence
                .iter()
                .filter(|e| step.evidence.contains(&e.chunk_id))
            {
                for part in [&e.code, &e.symbol, &e.path] {
                    cited.push_str(part);
                    cited.push('\n');
                }
            }
            cited.push_str(sample.body.prompt());
            for name in ungrounded_identifiers(&step.claim, &cited) {
                let grounded_in = |haystack: &str| {
                    name.split('.')
                        .filter(|part| !part.is_empty())
                        .all(|part| self.proposed.contains(part) || contains_word(haystack, part))
                };
                // A name in no evidence at all is `identifiers_grounded`'s to report.
                if !grounded_in(&cited) && grounded_in(&self.haystack) {
                    problems.push(format!(
                        "step {}: `{name}` is in another chunk of the evidence, not in those the step cites",
                        n + 1
                    ));
                }
            }
        }
        result(check::STEPS_GROUNDED, problems)
    }

    fn numbers(&self, sample: &Sample) -> CheckResult {
        let mut missing = Vec::new();
        for claim in Self::claims(sample) {
            let claim = LIST_MARKER.replace_all(&claim, " ");
            for number in NUMBER.captures_iter(&claim).map(|c| c[1].to_owned()) {
                if !contains_number(&self.haystack, &number) && !missing.contains(&number) {
                    missing.push(number);
                }
            }
        }
        let problems = missing
            .into_iter()
            .map(|n| format!("{n} does not occur in the cited evidence"))
            .collect();
        result(check::NUMBERS_GROUNDED, problems)
    }
}

/// Identifiers and numbers in `text` that do not occur in `evidence` or `context`: what a
/// generator can check before it commits to a phrasing.
pub fn ungrounded_terms(text: &str, evidence: &[crate::Evidence], context: &str) -> Vec<String> {
    let mut haystack = context.to_owned();
    for e in evidence {
        haystack.push('\n');
        haystack.push_str(&e.code);
        haystack.push('\n');
        haystack.push_str(&e.symbol);
        haystack.push('\n');
        haystack.push_str(&e.path);
    }
    let mut missing = ungrounded_identifiers(text, &haystack);
    let text = LIST_MARKER.replace_all(text, " ");
    missing.extend(
        NUMBER
            .captures_iter(&text)
            .map(|c| c[1].to_owned())
            .filter(|n| !contains_number(&haystack, n)),
    );
    missing
}

/// The names `text` states about code ([`code_identifiers`]) that `haystack` does not hold,
/// each once: a qualified name counts when every part occurs as a word, an HTTP verb as its
/// mapping annotation, a property as its accessor. The one grounding rule: samples are
/// validated with it and strict inference checks a model's answers with it
/// (`acdp_model::answer_check`), so a tuned model is held to the rule its training data passed.
pub fn ungrounded_identifiers(text: &str, haystack: &str) -> Vec<String> {
    code_identifiers(text)
        .into_iter()
        .filter(|name| {
            !name
                .split('.')
                .filter(|p| !p.is_empty())
                .all(|p| contains_word(haystack, p))
        })
        .collect()
}

/// Names of tools and technologies that prose writes with an inner capital: outside backticks
/// they name the tool ("run MyBatis Generator again"), not code of the repository.
const TECHNOLOGY_NAMES: &[&str] = &[
    "MyBatis",
    "MyBatisPlus",
    "MySQL",
    "PostgreSQL",
    "MariaDB",
    "MongoDB",
    "JavaBeans",
    "JUnit",
    "RabbitMQ",
    "RocketMQ",
    "ActiveMQ",
    "ElasticSearch",
    "JavaScript",
    "TypeScript",
    "GitHub",
    "OpenAPI",
    "SpringBoot",
    "SpringCloud",
    "IntelliJ",
];

/// Identifiers a text states about code: everything in backticks, plus words that only code
/// uses (camelCase, PascalCase with an inner capital, snake_case, qualified `a.b` names).
pub fn code_identifiers(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut push = |name: &str| {
        let name = name.trim_end_matches("()").trim_matches('.');
        if !name.is_empty() && !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    };
    for span in BACKTICKED.captures_iter(text) {
        for m in CODE_IDENTIFIER.find_iter(&span[1]) {
            push(m.as_str());
        }
    }
    let outside = BACKTICKED.replace_all(text, " ");
    for m in CODE_IDENTIFIER.find_iter(&outside) {
        let word = m.as_str();
        let code_like = |part: &str| {
            part.contains('_')
                || part.chars().skip(1).any(|c| c.is_ascii_uppercase())
                    && part.chars().any(|c| c.is_ascii_lowercase())
        };
        let looks_like_code = word.split('.').any(code_like);
        if looks_like_code && !TECHNOLOGY_NAMES.contains(&word) {
            push(word);
        }
    }
    names
}

/// Whether `word` occurs in `text` not as part of a longer identifier, or, for a property
/// name (`payAmount`), as its JavaBeans accessor (`getPayAmount`, `setPayAmount`, `isPaid`).
fn contains_word(text: &str, word: &str) -> bool {
    if contains_exact_word(text, word) {
        return true;
    }
    // An HTTP verb is spelled in code by its mapping annotation (`@GetMapping`) or
    // `RequestMethod.GET`; `ANY` is a `@RequestMapping` without a method.
    if let Some(mapping) = match word {
        "GET" => Some("GetMapping"),
        "POST" => Some("PostMapping"),
        "PUT" => Some("PutMapping"),
        "DELETE" => Some("DeleteMapping"),
        "PATCH" => Some("PatchMapping"),
        "ANY" => Some("RequestMapping"),
        _ => None,
    } && contains_exact_word(text, mapping)
    {
        return true;
    }
    let mut chars = word.chars();
    match chars.next() {
        Some(first) if first.is_ascii_lowercase() => {
            let capitalised = format!("{}{}", first.to_ascii_uppercase(), chars.as_str());
            ["get", "set", "is"]
                .iter()
                .any(|prefix| contains_exact_word(text, &format!("{prefix}{capitalised}")))
        }
        _ => false,
    }
}

fn contains_exact_word(text: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$';
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// Whether `number` occurs in `text` as a number (`10` is not found in `100`).
fn contains_number(text: &str, number: &str) -> bool {
    let is_digit_like = |c: char| c.is_ascii_digit() || c == '.';
    text.match_indices(number).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + number.len()..].chars().next();
        !before.is_some_and(|c| is_digit_like(c) || c.is_ascii_alphabetic())
            && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_in_an_english_sample_is_a_quote_of_the_code_or_wrong() {
        assert_eq!(
            outside_quotes("It says `订单` and \"已关闭\" and “好”, the order's 状态"),
            "It says  and  and , the order's 状态"
        );
    }

    #[test]
    fn code_identifiers_are_told_from_prose() {
        let names = code_identifiers(
            "No. `OrderServiceImpl.cancel` only cancels orders with status 0; it calls releaseLock \
             and sets lock_stock. The Order is closed.",
        );
        assert_eq!(
            names,
            ["OrderServiceImpl.cancel", "releaseLock", "lock_stock"]
        );
    }

    #[test]
    fn numbers_match_whole_numbers_only() {
        assert!(contains_number("if (status != 10) {", "10"));
        assert!(!contains_number("if (status != 100) {", "10"));
        assert!(!contains_number("v2", "2"));
        assert!(contains_number("new BigDecimal(\"0.5\")", "0.5"));
    }

    #[test]
    fn words_match_whole_identifiers_only() {
        assert!(contains_word("orderMapper.updateById(order)", "updateById"));
        assert!(!contains_word(
            "orderMapper.updateByIdSelective(order)",
            "updateById"
        ));
    }

    #[test]
    fn http_verbs_are_grounded_by_their_mapping_annotation_only() {
        assert!(contains_word("@GetMapping(\"/list\")", "GET"));
        assert!(contains_word("@RequestMapping(\"/x\")", "ANY"));
        assert!(!contains_word("@GetMapping(\"/list\")", "POST"));
        assert!(!contains_word("@RequestMapping(\"/x\")", "GET"));
    }
}
