//! The strict check every answer passes before a user sees it as an answer. Each rule is a
//! way a small model has been seen to fail while still citing; docs/model.md lists them.
//!
//! The check reads only the answer text and the chunks the model was given, never rewrites the
//! answer, and says why it refused in one line per problem.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use acdp_index::{CHUNK_ID_PATTERN, symbol_head, symbol_member, symbol_owner};
use acdp_retrieval::RetrievedChunk;
use acdp_retrieval::terms::query_terms;
use acdp_sample::ComponentAction;
use acdp_sample::prompt::{DesignText, parse_design, reasoning_steps};
use acdp_sample::validate::{code_identifiers, ungrounded_identifiers};

/// The verdict of [`check_answer`] and [`check_design`].
#[derive(Clone, Debug, Default, Serialize)]
pub struct AnswerCheck {
    pub valid: bool,
    /// Cited chunk ids in order of first citation.
    pub cited: Vec<String>,
    /// Why the answer failed, one line per problem.
    pub problems: Vec<String>,
}

/// Words an answer must say outside its citations and code: fewer is a list of ids.
const MIN_PROSE_WORDS: usize = 3;
/// Code lines at least this long that the answer copies from its evidence count as copied.
const MIN_COPIED_LINE: usize = 12;
/// Citations of one chunk on one line, and repeats of one line, an answer may make before it
/// counts as a loop. Per line, not per answer: a trained answer's reasoning cites the same
/// chunk once per step, and may have many steps.
const MAX_SAME_CITATION: usize = 3;

/// Chunk ids cited as `[c0123456789ab]` (several may share brackets: `[c..., c...]`).
pub fn citations(answer: &str) -> Vec<String> {
    static BRACKET: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\[([^\]]*)\]").expect("valid regex"));
    static ID: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(&format!(r"\b{CHUNK_ID_PATTERN}\b")).expect("valid regex"));
    let mut ids: Vec<String> = Vec::new();
    for bracket in BRACKET.captures_iter(answer) {
        for id in ID.find_iter(&bracket[1]) {
            if !ids.iter().any(|i| i == id.as_str()) {
                ids.push(id.as_str().to_string());
            }
        }
    }
    ids
}

/// Checks an answer against the chunks it was given. Rules, each refusing the answer:
///
/// 1. it cites no chunk;
/// 2. it cites a chunk it was not given;
/// 3. an identifier in backticks, or a code-shaped word (camelCase, snake_case) anywhere,
///    occurs in none of the cited chunks (their code, symbol and path) nor the question: the
///    rule samples are validated with (`acdp_sample::validate::ungrounded_identifiers`);
/// 4. it repeats the prompt's evidence blocks (a `[id] path:lines symbol` header or a code
///    fence);
/// 5. it says nothing besides citations and code (fewer than three words of prose; two CJK
///    characters count as a word);
/// 6. half or more of its lines are code lines copied from the evidence;
/// 7. its prose adds no word to the question's (it restates the question);
/// 8. it writes something shaped like a chunk id that is not one (`[c123456789ab]`, eleven
///    digits), cites one chunk more than three times on one line, or repeats one line more
///    than three times (a model stuck in a loop).
///
/// (`answer_from_chunks` adds a ninth: an answer cut off at the token limit is refused.)
///
/// 10. a step of its `Reasoning:` section cites no chunk, or names what the chunks that step
///     cites do not hold (see [`step_problems`]).
pub fn check_answer(answer: &str, question: &str, retrieved: &[RetrievedChunk]) -> AnswerCheck {
    let cited = citations(answer);
    let mut problems = Vec::new();
    if restates(answer, question) {
        problems.push("adds nothing to the question: its words are the question's".to_string());
    }
    if cited.is_empty() {
        problems.push("no citation: cite chunks as [chunk_id]".to_string());
    }
    let by_id: HashMap<&str, &RetrievedChunk> =
        retrieved.iter().map(|c| (c.chunk_id.as_str(), c)).collect();
    let mut evidence = String::new();
    for id in &cited {
        match by_id.get(id.as_str()) {
            Some(chunk) => evidence.push_str(&evidence_text(chunk)),
            None => problems.push(format!(
                "cites {id}, which was not among the retrieved chunks"
            )),
        }
    }
    if !cited.is_empty() {
        evidence.push_str(question);
        for ident in ungrounded_identifiers(&without_citations(answer), &evidence) {
            problems.push(format!("`{ident}` does not occur in the cited chunks"));
        }
    }
    problems.extend(step_problems(answer, &by_id, question, &evidence));
    problems.extend(shape_problems(answer, retrieved));
    AnswerCheck {
        valid: problems.is_empty(),
        cited,
        problems,
    }
}

/// Rule 7: every content word of the answer's prose (outside citations and code, stop words
/// dropped, stemmed; for Chinese, every pair of adjacent characters) is a word of the question.
fn restates(answer: &str, question: &str) -> bool {
    static CITATION: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\[[^\]]*\]|`[^`\n]+`").expect("valid regex"));
    let prose = CITATION.replace_all(answer, " ");
    let words = |text: &str| {
        let mut words: HashSet<String> = query_terms(text).into_iter().collect();
        words.extend(cjk_pairs(text));
        words
    };
    let asked = words(question);
    let said = words(&prose);
    !said.is_empty() && said.iter().all(|w| asked.contains(w))
}

/// Adjacent pairs of Chinese characters: the words of text written without spaces.
fn cjk_pairs(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .windows(2)
        .filter(|pair| pair.iter().all(|c| is_cjk(*c)))
        .map(|pair| pair.iter().collect())
        .collect()
}

/// Rule 8: chunk-id-shaped words that are not chunk ids, and citations repeated in a loop.
fn citation_problems(answer: &str) -> Vec<String> {
    static NEAR_ID: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\[\s*(c[0-9a-f]{6,20})\b").expect("valid regex"));
    static ANY_ID: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(&format!(r"\b{CHUNK_ID_PATTERN}\b")).expect("valid regex"));
    let mut problems = Vec::new();
    for near in NEAR_ID.captures_iter(answer).filter_map(|c| c.get(1)) {
        if near.as_str().len() != 13 {
            problems.push(format!(
                "cites `{}`, which is not a chunk id",
                near.as_str()
            ));
            break;
        }
    }
    let mut looping: Vec<&str> = Vec::new();
    let mut repeated_lines: HashMap<String, usize> = HashMap::new();
    for line in answer.lines() {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for id in ANY_ID.find_iter(line) {
            *counts.entry(id.as_str()).or_default() += 1;
        }
        looping.extend(
            counts
                .into_iter()
                .filter(|(_, n)| *n > MAX_SAME_CITATION)
                .map(|(id, _)| id),
        );
        let text = LIST_NUMBER.replace(line.trim(), "");
        if !text.is_empty() {
            *repeated_lines.entry(text.into_owned()).or_default() += 1;
        }
    }
    looping.sort();
    looping.dedup();
    for id in looping {
        problems.push(format!(
            "cites {id} more than {MAX_SAME_CITATION} times on one line (a model repeating itself)"
        ));
    }
    let mut repeated: Vec<(String, usize)> = repeated_lines
        .into_iter()
        .filter(|(_, n)| *n > MAX_SAME_CITATION)
        .collect();
    repeated.sort();
    for (line, n) in repeated {
        let shown: String = line.chars().take(60).collect();
        problems.push(format!(
            "repeats the line \"{shown}\" {n} times (a model repeating itself)"
        ));
    }
    problems
}

/// The answer without its citations (`[c…]`), which name chunks, not code.
fn without_citations(answer: &str) -> String {
    static CITATION: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(&format!(r"\[[^\]]*{CHUNK_ID_PATTERN}[^\]]*\]")).expect("valid regex")
    });
    CITATION.replace_all(answer, " ").into_owned()
}

/// An annotation as code writes it: `@Transactional`, `@Scheduled(…)`.
static ANNOTATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"@([A-Z][A-Za-z0-9_]*)").expect("valid regex"));

/// A DDL statement in backticks: `ALTER TABLE …`, `CREATE TABLE …`, `CREATE INDEX …`.
static DDL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"`(?:ALTER|CREATE)\s[^`\n]*`").expect("valid regex"));

/// A name a component line says it adds: "add `name`", "新增 `name`".
static ADDED_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:\badd|新增)\s*`([^`\n]+)`").expect("valid regex"));

static LIST_NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:\d+[.)]|[-*])\s*").expect("valid regex"));

/// Rules 4-6 and 8 of [`check_answer`]: an answer that is the evidence again, or nothing.
fn shape_problems(answer: &str, retrieved: &[RetrievedChunk]) -> Vec<String> {
    static HEADER: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(&format!(r"(?m)^\s*\[{CHUNK_ID_PATTERN}\]\s+\S+:\d+-\d+")).expect("valid regex")
    });
    let mut problems = citation_problems(answer);
    if HEADER.is_match(answer) || answer.contains("```") {
        problems.push(
            "repeats the evidence blocks (chunk headers or code fences) instead of answering"
                .to_string(),
        );
    }
    if prose_words(answer) < MIN_PROSE_WORDS {
        problems.push(format!(
            "says nothing besides citations and code (fewer than {MIN_PROSE_WORDS} words)"
        ));
    }
    let code_lines: HashSet<&str> = retrieved
        .iter()
        .flat_map(|c| c.text.lines())
        .map(str::trim)
        .filter(|l| l.len() >= MIN_COPIED_LINE)
        .collect();
    let lines: Vec<&str> = answer
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let copied = lines.iter().filter(|l| code_lines.contains(*l)).count();
    if copied > 0 && copied * 2 >= lines.len() {
        problems.push(format!(
            "copies code from the evidence instead of explaining it ({copied} of {} lines)",
            lines.len()
        ));
    }
    problems
}

/// Words of the answer outside citations and backticks; two CJK characters count as one word
/// (Chinese is written without spaces).
fn prose_words(answer: &str) -> usize {
    static CITATION: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\[[^\]]*\]").expect("valid regex"));
    static CODE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"`[^`\n]+`").expect("valid regex"));
    let without_code = CODE.replace_all(answer, " ");
    let prose = CITATION.replace_all(&without_code, " ");
    let cjk = prose.chars().filter(|c| is_cjk(*c)).count();
    let spaced = prose
        .split(|c: char| c.is_whitespace() || is_cjk(c))
        .filter(|w| w.chars().any(char::is_alphabetic))
        .count();
    spaced + cjk / 2
}

/// CJK Unified Ideographs (and their extension A): Chinese text.
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c, '\u{4e00}'..='\u{9fff}' | '\u{3400}'..='\u{4dbf}')
}

/// What an identifier may be grounded in: a chunk's code, symbol and path.
/// Rule 10 (answers and designs alike): each step of the `Reasoning:` section cites a chunk,
/// and names only what the chunks *that step* cites hold, or `also` (the question; for a
/// design, the requirement and what it adds); a name outside `whole` (the grounds of rule 3)
/// is left to rule 3. Sample validation holds trace steps to the same
/// rule (`steps_grounded`) with the same matching (`ungrounded_identifiers`), so trained
/// answers pass it.
fn step_problems(
    answer: &str,
    by_id: &HashMap<&str, &RetrievedChunk>,
    also: &str,
    whole: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (n, step) in reasoning_steps(answer).into_iter().enumerate() {
        let ids = citations(step);
        if ids.is_empty() {
            problems.push(format!("reasoning step {} cites no chunk", n + 1));
            continue;
        }
        let mut grounds: String = ids
            .iter()
            .filter_map(|id| by_id.get(id.as_str()))
            .map(|chunk| evidence_text(chunk))
            .collect();
        grounds.push_str(also);
        // A name no cited chunk holds is rule 3's to report (`whole`: what rule 3 reads).
        let in_whole = ungrounded_identifiers(&without_citations(step), whole);
        for ident in ungrounded_identifiers(&without_citations(step), &grounds)
            .into_iter()
            .filter(|ident| !in_whole.contains(ident))
        {
            problems.push(format!(
                "reasoning step {}: `{ident}` does not occur in the chunks it cites",
                n + 1
            ));
        }
    }
    problems
}

fn evidence_text(chunk: &RetrievedChunk) -> String {
    format!("{}\n{}\n{}\n", chunk.text, chunk.symbol, chunk.path)
}

/// Checks a proposed design (the text shape of a design sample) against the chunks it was
/// given and the names the index holds (`exists`). Rules 1, 2, 4, 5, 6, 8 and 10 of
/// [`check_answer`], and:
///
/// - it lists components, each marked add or change;
/// - a component it changes exists in the index; one it adds does not (new ones are marked new);
/// - every reused component cites a given chunk whose symbol names it;
/// - identifiers it names as code (rule 3's sense) outside the API and data changes (where
///   new names belong) occur in the given chunks or the requirement, or are what the design
///   adds: its new components and their members, the names a component line adds ("add
///   `name`"), the names of its API and data changes and of DDL it writes, the annotations it
///   writes (`@Transactional`: framework vocabulary, not repository code), or names the
///   repository has (`exists`);
///   component lines are checked past their component's name. The same grounds as a design
///   sample's validation (evidence and requirement), so trained designs pass it.
pub fn check_design(
    answer: &str,
    requirement: &str,
    retrieved: &[RetrievedChunk],
    exists: &dyn Fn(&str) -> bool,
) -> AnswerCheck {
    let cited = citations(answer);
    let design = parse_design(answer);
    let mut problems = Vec::new();
    if cited.is_empty() {
        problems.push("no citation: cite the reused chunks as [chunk_id]".to_string());
    }
    let by_id: HashMap<&str, &RetrievedChunk> =
        retrieved.iter().map(|c| (c.chunk_id.as_str(), c)).collect();
    for id in &cited {
        if !by_id.contains_key(id.as_str()) {
            problems.push(format!(
                "cites {id}, which was not among the retrieved chunks"
            ));
        }
    }
    problems.extend(component_problems(&design, exists));
    for reused in &design.reused {
        match reused.chunk_id.as_deref().and_then(|id| by_id.get(id)) {
            None => problems.push(format!(
                "reuses `{}` without citing a retrieved chunk: {}",
                reused.symbol, reused.line
            )),
            Some(chunk) if !names(&chunk.symbol, &reused.symbol) => problems.push(format!(
                "reuses `{}` but cites {}, which is {}",
                reused.symbol, chunk.chunk_id, chunk.symbol
            )),
            Some(_) => {}
        }
    }
    // What may be named: the retrieved code, and the requirement and the names the design adds
    // (new components, API and data changes), gathered in `grounds`.
    let mut grounds = String::from(requirement);
    grounds.push('\n');
    let mut added: HashSet<&str> = HashSet::new();
    for component in &design.components {
        if component.action == Some(ComponentAction::Add) {
            grounds.push_str(&component.component);
            grounds.push('\n');
            added.insert(symbol_member(&component.component));
        }
    }
    for annotation in ANNOTATION.captures_iter(answer) {
        grounds.push_str(&annotation[1]);
        grounds.push('\n');
    }
    // DDL is a data change wherever it is written: `ALTER TABLE t ADD COLUMN c …` adds `c`.
    for span in DDL.find_iter(answer) {
        grounds.push_str(span.as_str());
        grounds.push('\n');
    }
    // A changed component may gain members: "change `OrderStatus`: add `WAIT_DELIVER_PENDING`".
    for component in &design.components {
        for added_name in ADDED_NAME.captures_iter(&component.line) {
            grounds.push_str(&added_name[1]);
            grounds.push('\n');
        }
    }
    for change in &design.changes {
        for name in code_identifiers(change) {
            grounds.push_str(&name);
            grounds.push('\n');
        }
    }
    let retrieved_text: String = retrieved.iter().map(evidence_text).collect();
    let whole = format!("{retrieved_text}{grounds}");
    problems.extend(step_problems(answer, &by_id, &grounds, &whole));
    let grounds = whole;
    let component_descriptions = design.components.iter().map(|c| {
        c.line
            .replacen(&format!("`{}`", c.component), " ", 1)
            .replacen(&format!("[{}]", c.layer), " ", 1)
    });
    let checked: String = std::iter::once(design.summary.clone())
        .chain(design.other.iter().cloned())
        .chain(design.reused.iter().map(|r| r.line.clone()))
        .chain(component_descriptions)
        .collect::<Vec<_>>()
        .join("\n");
    // A member of a new component is new; a name the repository has is no invention.
    let of_added = |name: &str| {
        name.split('.')
            .next()
            .is_some_and(|owner| added.contains(owner))
    };
    for ident in ungrounded_identifiers(&without_citations(&checked), &grounds)
        .into_iter()
        .filter(|name| !of_added(name) && !exists(name))
    {
        problems.push(format!(
            "`{ident}` is neither in the retrieved chunks nor a component the design adds"
        ));
    }
    problems.extend(shape_problems(answer, retrieved));
    AnswerCheck {
        valid: problems.is_empty(),
        cited,
        problems,
    }
}

fn component_problems(design: &DesignText, exists: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut problems = Vec::new();
    if design.components.is_empty() {
        problems.push("lists no components (a `Components:` section of `- [layer] add|change `Name`: what` lines)".to_string());
    }
    for component in &design.components {
        match component.action {
            None => problems.push(format!(
                "a component line that says neither add nor change: {}",
                component.line
            )),
            Some(ComponentAction::Modify) if !exists(&component.component) => {
                problems.push(format!(
                    "changes `{}`, which the repository does not have (mark new components `add`)",
                    component.component
                ))
            }
            Some(ComponentAction::Add) if exists(&component.component) => problems.push(format!(
                "adds `{}`, which the repository already has (mark it `change`)",
                component.component
            )),
            Some(_) => {}
        }
    }
    problems
}

/// Whether the chunk `symbol` is what `name` names: the same symbol, `Type.member`, or the
/// chunk's member or type by its simple name.
fn names(symbol: &str, name: &str) -> bool {
    let name = symbol_head(name);
    let (member, owner) = (symbol_member(symbol), symbol_owner(symbol));
    symbol_head(symbol) == name
        || name == member
        || name == owner
        || name == format!("{owner}.{member}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "c0123456789ab";

    fn chunk(id: &str, symbol: &str, text: &str) -> RetrievedChunk {
        RetrievedChunk {
            chunk_id: id.into(),
            path: "src/OrderService.java".into(),
            symbol: symbol.into(),
            start_line: 10,
            end_line: 14,
            score: 1.0,
            text: text.into(),
        }
    }

    fn given() -> Vec<RetrievedChunk> {
        vec![chunk(
            ID,
            "shop.OrderService.cancelOrder(Long)",
            "public void cancelOrder(Long orderId) {\n    skuStockDao.releaseLockStock(orderId);\n    couponService.releaseCoupon(orderId);\n}",
        )]
    }

    const QUESTION: &str = "What does cancelling an order do?";

    fn refused_for(answer: &str, why: &str) {
        let check = check_answer(answer, QUESTION, &given());
        assert!(!check.valid, "accepted: {answer}");
        assert!(
            check.problems.iter().any(|p| p.contains(why)),
            "{answer}: {:?}",
            check.problems
        );
    }

    #[test]
    fn a_grounded_answer_passes() {
        let check = check_answer(
            &format!("`cancelOrder` releases the locked stock through `releaseLockStock` [{ID}]."),
            QUESTION,
            &given(),
        );
        assert!(check.valid, "{:?}", check.problems);
        assert_eq!(check.cited, [ID]);
    }

    #[test]
    fn chinese_prose_file_names_and_plain_english_pass() {
        for answer in [
            format!("`cancelOrder` 会调用 `releaseLockStock` 释放锁定库存 [{ID}]。"),
            format!("The method in `OrderService.java` releases the stock [{ID}]."),
            format!("Order cancellation releases the Stock first [{ID}]."),
        ] {
            let check = check_answer(&answer, QUESTION, &given());
            assert!(check.valid, "{answer}: {:?}", check.problems);
        }
    }

    #[test]
    fn rule_10_a_reasoning_step_names_only_what_its_own_chunks_hold() {
        const OTHER: &str = "cfedcba987654";
        let given = vec![
            given().remove(0),
            chunk(
                OTHER,
                "shop.CouponService.releaseCoupon(Long)",
                "public void releaseCoupon(Long orderId) {\n    couponDao.markUnused(orderId);\n}",
            ),
        ];
        let answer = |step2: &str| {
            format!(
                "Cancelling releases the locked stock and the coupon [{ID}] [{OTHER}].\n\nReasoning:\n1. `cancelOrder` calls `releaseLockStock` [{ID}]\n2. {step2}"
            )
        };
        // Each step's names are in the chunk it cites.
        let good = answer(&format!(
            "`releaseCoupon` marks it unused through `markUnused` [{OTHER}]"
        ));
        let check = check_answer(&good, QUESTION, &given);
        assert!(check.valid, "{:?}", check.problems);
        // `markUnused` is in a chunk the answer cites, but not in the one this step cites.
        let miscited = answer(&format!("`releaseCoupon` calls `markUnused` [{ID}]"));
        let check = check_answer(&miscited, QUESTION, &given);
        assert!(
            check.problems.iter().any(
                |p| p == "reasoning step 2: `markUnused` does not occur in the chunks it cites"
            ),
            "{:?}",
            check.problems
        );
        assert_eq!(check.problems.len(), 1, "{:?}", check.problems);
        // A step without a citation.
        let check = check_answer(&answer("the coupon is released too"), QUESTION, &given);
        assert!(
            check
                .problems
                .iter()
                .any(|p| p.contains("reasoning step 2 cites no chunk")),
            "{:?}",
            check.problems
        );
    }

    #[test]
    fn rule_1_an_answer_without_citation_is_refused() {
        refused_for("`cancelOrder` releases the locked stock.", "no citation");
    }

    #[test]
    fn rule_2_a_citation_of_a_chunk_not_given_is_refused() {
        refused_for(
            "`cancelOrder` releases the stock [cffffffffffff].",
            "not among the retrieved chunks",
        );
    }

    #[test]
    fn rule_3_an_identifier_the_cited_code_does_not_hold_is_refused() {
        refused_for(
            &format!("`cancelOrder` calls `refundPayment` [{ID}]."),
            "`refundPayment` does not occur",
        );
    }

    #[test]
    fn rule_3_counts_code_shaped_words_outside_backticks() {
        refused_for(
            &format!("It calls refundPayment after cancelling [{ID}]."),
            "`refundPayment` does not occur",
        );
        refused_for(
            &format!("It sets refund_status to 2 [{ID}]."),
            "`refund_status` does not occur",
        );
    }

    #[test]
    fn rule_4_evidence_blocks_copied_back_are_refused() {
        refused_for(
            &format!(
                "[{ID}] src/OrderService.java:10-14 shop.OrderService.cancelOrder(Long)\nIt releases stock."
            ),
            "repeats the evidence blocks",
        );
        refused_for(
            &format!("It releases stock [{ID}]:\n```java\nreleaseLockStock(orderId);\n```"),
            "repeats the evidence blocks",
        );
    }

    #[test]
    fn rule_5_citations_without_prose_are_refused() {
        refused_for(&format!("[{ID}]"), "says nothing");
        refused_for(&format!("See `cancelOrder` [{ID}]."), "says nothing");
    }

    #[test]
    fn rule_6_copied_code_lines_are_refused() {
        refused_for(
            &format!(
                "The method does this [{ID}]:\nskuStockDao.releaseLockStock(orderId);\ncouponService.releaseCoupon(orderId);"
            ),
            "copies code from the evidence",
        );
    }

    fn exists(name: &str) -> bool {
        ["OrderService", "shop.OrderService", "cancelOrder"].contains(&name)
    }

    #[test]
    fn rule_7_an_answer_that_restates_the_question_is_refused() {
        refused_for(
            &format!("[{ID}] Cancelling an order does this."),
            "adds nothing to the question",
        );
        // Chinese words are pairs of characters: an answer in Chinese that adds some passes,
        // one that repeats the question's does not.
        let question = "`cancelOrder` 为什么要释放库存？";
        let adds = check_answer(
            &format!("`cancelOrder` 调用 `releaseLockStock` 释放锁定的库存。 [{ID}]"),
            question,
            &given(),
        );
        assert!(adds.valid, "{:?}", adds.problems);
        let repeats = check_answer(&format!("释放库存。 [{ID}]"), question, &given());
        assert!(
            repeats.problems.iter().any(|p| p.contains("adds nothing")),
            "{:?}",
            repeats.problems
        );
    }

    #[test]
    fn rule_8_malformed_and_looping_citations_are_refused() {
        refused_for(
            &format!("It releases the stock [{ID}] [c123456789ab]."),
            "`c123456789ab`, which is not a chunk id",
        );
        refused_for(
            &format!("It releases the stock [{ID}] [{ID}] [{ID}] [{ID}]."),
            "more than 3 times",
        );
        let same_line = format!("It releases the stock. [{ID}]\n");
        refused_for(&same_line.repeat(4), "repeats the line");
        // A trained answer's reasoning: one citation per step, as many steps as it takes.
        let reasoning = check_answer(
            &format!(
                "It releases the locked stock and the coupon.\n\nReasoning:\n\
                 1. `cancelOrder` calls `releaseLockStock`. [{ID}]\n\
                 2. `cancelOrder` calls `releaseCoupon`. [{ID}]\n\
                 3. Both take the `orderId`. [{ID}]\n\
                 4. `releaseLockStock` runs before `releaseCoupon`. [{ID}]"
            ),
            QUESTION,
            &given(),
        );
        assert!(reasoning.valid, "{:?}", reasoning.problems);
    }

    fn design(body: &str) -> AnswerCheck {
        check_design(body, "Refund cancelled orders", &given(), &exists)
    }

    #[test]
    fn a_grounded_design_passes() {
        let check = design(&format!(
            "Refund cancelled orders.\n\nComponents:\n- [service] change `OrderService`: refund in `cancelOrder`\n- [service] add `RefundService`: calls the payment provider\n\nData changes:\n- new column `refund_amount`\n\nReused:\n- `cancelOrder` [{ID}]: releases stock and coupon first"
        ));
        assert!(check.valid, "{:?}", check.problems);
    }

    fn design_refused_for(body: &str, why: &str) {
        let check = design(body);
        assert!(
            !check.valid && check.problems.iter().any(|p| p.contains(why)),
            "{body}: {:?}",
            check.problems
        );
    }

    #[test]
    fn design_rules_refuse_invented_changes_unmarked_new_ones_and_uncited_reuse() {
        let reused = format!("\n\nReused:\n- `cancelOrder` [{ID}]: y");
        design_refused_for(
            &format!("S.\n\nComponents:\n- [service] change `PaymentService`: x{reused}"),
            "does not have",
        );
        design_refused_for(
            &format!("S.\n\nComponents:\n- [service] add `OrderService`: x{reused}"),
            "already has",
        );
        design_refused_for(
            &format!(
                "S [{ID}].\n\nComponents:\n- [service] change `OrderService`: x\n\nReused:\n- `cancelOrder`: y"
            ),
            "without citing",
        );
        design_refused_for(
            &format!("Just reuse `cancelOrder` [{ID}] as it is."),
            "lists no components",
        );
        design_refused_for(
            &format!(
                "S.\n\nComponents:\n- [service] change `OrderService`: x\n\nFlow:\n- call `chargeBack` first{reused}"
            ),
            "`chargeBack`",
        );
        design_refused_for(
            &format!(
                "S.\n\nComponents:\n- [service] change `OrderService`: call `chargeBack`{reused}"
            ),
            "`chargeBack`",
        );
        design_refused_for(
            &format!(
                "S.\n\nComponents:\n- [service] change `OrderService`: x\n\nReused:\n- `shop` [{ID}]: y"
            ),
            "reuses `shop` but cites",
        );
    }

    #[test]
    fn a_design_may_name_what_it_adds_and_what_the_requirement_says() {
        let reused = format!("\n\nReused:\n- `cancelOrder` [{ID}]: releases the stock first");
        let check = design(&format!(
            "Refund cancelled orders with `REFUND_PENDING`.\n\nComponents:\n\
             - [service] add `RefundService`: `RefundService.refund` calls the provider\n\
             - [constants] change `OrderService`: add `REFUND_PENDING`\n\
             - [model] change `OrderService`: `ALTER TABLE oms_order ADD COLUMN refund_note VARCHAR(200)`\n\n\
             Consistency and concurrency:\n- put `@Transactional` on `cancelOrder`{reused}"
        ));
        assert!(check.valid, "{:?}", check.problems);
        // The requirement's names are grounds, as they are for a design sample's validation.
        let named = check_design(
            &format!(
                "Close orders in `WAIT_CLOSE`.\n\nComponents:\n- [service] change `OrderService`: x{reused}"
            ),
            "Close orders that stay in WAIT_CLOSE",
            &given(),
            &exists,
        );
        assert!(named.valid, "{:?}", named.problems);
        let invented = design(&format!(
            "Close orders in `WAIT_CLOSE`.\n\nComponents:\n- [service] change `OrderService`: x{reused}"
        ));
        assert!(
            invented.problems.iter().any(|p| p.contains("`WAIT_CLOSE`")),
            "{:?}",
            invented.problems
        );
    }
}
