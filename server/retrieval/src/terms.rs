//! Search terms: identifiers split into their words, English stop words dropped, words stemmed
//! so "calculated" meets `calc...`'s neighbours and "orders" meets `order`.

use std::sync::LazyLock;

use regex::Regex;
use rust_stemmers::{Algorithm, Stemmer};

/// Lowercased search terms of `text`: every identifier, and its camelCase / snake_case parts.
/// Unstemmed: [`stem`] maps them to the keys the indexes use.
pub fn search_terms(text: &str) -> Vec<String> {
    words(text).flat_map(word_terms).collect()
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    static WORD: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+").expect("valid regex"));
    WORD.find_iter(text).map(|m| m.as_str())
}

/// The parts of one identifier (when it has several), then the whole identifier lowercased.
fn word_terms(word: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let lower = word.to_lowercase();
    let parts = split_identifier(word);
    if parts.len() > 1 || parts.first().is_some_and(|p| *p != lower) {
        terms.extend(parts);
    }
    if lower.len() > 1 {
        terms.push(lower);
    }
    terms
}

/// `getOrderId` -> get, order, id; `MAX_RETRY_COUNT` -> max, retry, count; `HTTPServer` ->
/// http, server.
pub fn split_identifier(word: &str) -> Vec<String> {
    let mut parts = Vec::new();
    for piece in word.split('_').filter(|p| !p.is_empty()) {
        let chars: Vec<char> = piece.chars().collect();
        let mut current = String::new();
        for (i, &c) in chars.iter().enumerate() {
            let boundary = i > 0
                && c.is_uppercase()
                && (chars[i - 1].is_lowercase()
                    || chars[i - 1].is_ascii_digit()
                    || chars.get(i + 1).is_some_and(|n| n.is_lowercase()));
            if boundary && !current.is_empty() {
                parts.push(current.to_lowercase());
                current.clear();
            }
            current.push(c);
        }
        if !current.is_empty() {
            parts.push(current.to_lowercase());
        }
    }
    parts.retain(|p| p.len() > 1);
    parts
}

/// The English stem of a lowercased term (Snowball): `orders` and `ordered` -> `order`.
pub fn stem(term: &str) -> String {
    static STEMMER: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));
    STEMMER.stem(term).into_owned()
}

/// Stemmed terms of a document, for the indexes: each term, and the words of an abbreviation
/// (`sn` also counts as "serial" and "number").
pub fn document_terms(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let content = words(text).filter(|w| JAVA_KEYWORDS.binary_search(w).is_err());
    for term in content.flat_map(word_terms) {
        if let Some((_, words)) = ABBREVIATIONS.iter().find(|(a, _)| *a == term) {
            out.extend(words.iter().map(|w| stem(w)));
        }
        out.push(stem(&term));
    }
    out
}

/// Java's keywords and literals: syntax, not content. Kept out of documents so that a question's
/// "return" or "new" meets `returnApply` or `newProduct`, not every method (sorted).
const JAVA_KEYWORDS: &[&str] = &[
    "abstract",
    "assert",
    "boolean",
    "break",
    "byte",
    "case",
    "catch",
    "char",
    "class",
    "const",
    "continue",
    "default",
    "do",
    "double",
    "else",
    "enum",
    "extends",
    "false",
    "final",
    "finally",
    "float",
    "for",
    "goto",
    "if",
    "implements",
    "import",
    "instanceof",
    "int",
    "interface",
    "long",
    "native",
    "new",
    "null",
    "override",
    "package",
    "private",
    "protected",
    "public",
    "return",
    "short",
    "static",
    "strictfp",
    "super",
    "switch",
    "synchronized",
    "this",
    "throw",
    "throws",
    "transient",
    "true",
    "try",
    "var",
    "void",
    "volatile",
    "while",
];

/// Abbreviations common in Java identifiers across code bases, with the words a question uses
/// for them. Only abbreviations that are not English words themselves.
const ABBREVIATIONS: &[(&str, &[&str])] = &[
    ("addr", &["address"]),
    ("amt", &["amount"]),
    ("auth", &["authentication", "authorization"]),
    ("calc", &["calculate"]),
    ("cfg", &["configuration"]),
    ("cnt", &["count"]),
    ("config", &["configuration"]),
    ("ctx", &["context"]),
    ("desc", &["description"]),
    ("dept", &["department"]),
    ("img", &["image"]),
    ("info", &["information"]),
    ("msg", &["message"]),
    ("num", &["number"]),
    ("perm", &["permission"]),
    ("pic", &["picture", "image"]),
    ("pwd", &["password"]),
    ("qty", &["quantity"]),
    ("seq", &["sequence"]),
    ("sn", &["serial", "number"]),
    ("tel", &["telephone", "phone"]),
    ("tmp", &["temporary"]),
    ("uid", &["user"]),
    ("usr", &["user"]),
];

/// Stemmed terms of a question, without the words that only make it a question ("how", "the",
/// "what happens"), deduplicated in order of appearance.
pub fn query_terms(question: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    for term in search_terms(question) {
        if STOP_WORDS.contains(&term.as_str()) {
            continue;
        }
        let stemmed = stem(&term);
        if !terms.contains(&stemmed) {
            terms.push(stemmed);
        }
    }
    terms
}

/// Words of English questions that say nothing about the code. Code words such as "new", "list",
/// "id" or "status" are not here: they name things. "get" is, because "what does the member get
/// back" is English while every getter holds the word.
const STOP_WORDS: &[&str] = &[
    "a", "about", "after", "all", "an", "and", "any", "are", "as", "at", "be", "been", "before",
    "being", "but", "by", "can", "could", "did", "do", "does", "doing", "done", "during", "each",
    "for", "from", "get", "gets", "happen", "happens", "has", "have", "how", "if", "in", "into",
    "is", "it", "its", "itself", "me", "much", "many", "of", "on", "or", "other", "our", "should",
    "so", "some", "such", "than", "that", "the", "their", "them", "then", "there", "these", "they",
    "this", "those", "to", "too", "up", "us", "was", "we", "were", "what", "when", "where",
    "whether", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your",
];

/// The spans of `text` between backticks (`` `lockStock` ``), on one line each.
pub fn backticked(text: &str) -> impl Iterator<Item = &str> {
    static BACKTICKED: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"`([^`\n]+)`").expect("valid regex"));
    BACKTICKED
        .captures_iter(text)
        .filter_map(|c| c.get(1).map(|m| m.as_str()))
}

/// The identifier-shaped words of `text` (`[A-Za-z_][A-Za-z0-9_]*`), in order.
pub fn identifiers(text: &str) -> impl Iterator<Item = &str> {
    static IDENT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"[A-Za-z_][A-Za-z0-9_]*").expect("valid regex"));
    IDENT.find_iter(text).map(|m| m.as_str())
}

/// Whether a word can only be code: camelCase (a capital after a lowercase letter) or
/// snake_case. "Order" and "order" can be English; `orderSn` and `lock_stock` cannot.
pub fn is_code_shaped(word: &str) -> bool {
    let mut seen_lower = false;
    let mut inner_capital = false;
    for c in word.chars() {
        if c.is_ascii_uppercase() && seen_lower {
            inner_capital = true;
        }
        seen_lower |= c.is_ascii_lowercase();
    }
    inner_capital || word.trim_matches('_').contains('_')
}

/// Identifiers the question names exactly: its backticked words (a backticked URL path counts
/// as a path, not as words), its code-shaped words (see [`is_code_shaped`]) and its URL paths
/// (`/order/cancel`), each once, in order. Matched as written against symbols, flow entry
/// paths and code.
pub fn exact_identifiers(question: &str) -> Vec<String> {
    static PATH: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?:^|[\s`(])(/[A-Za-z0-9_{}\-]+(?:/[A-Za-z0-9_{}\-]+)*)").expect("valid regex")
    });
    let quoted: Vec<&str> = backticked(question)
        .filter(|span| !span.trim_start().starts_with('/'))
        .flat_map(identifiers)
        .collect();
    let paths: Vec<&str> = PATH
        .captures_iter(question)
        .filter_map(|c| c.get(1).map(|m| m.as_str()))
        .collect();
    let mut out: Vec<String> = Vec::new();
    let mut add = |word: &str| {
        if word.len() > 2 && !out.iter().any(|o| o == word) {
            out.push(word.to_string());
        }
    };
    let in_path = |word: &str| paths.iter().any(|p| p.split('/').any(|part| part == word));
    for word in identifiers(question) {
        if quoted.contains(&word) || (is_code_shaped(word) && !in_path(word)) {
            add(word);
        }
    }
    for path in paths {
        add(path);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_split_on_case_and_underscores() {
        assert_eq!(split_identifier("getOrderId"), ["get", "order", "id"]);
        assert_eq!(
            split_identifier("MAX_RETRY_COUNT"),
            ["max", "retry", "count"]
        );
        assert_eq!(split_identifier("HTTPServer"), ["http", "server"]);
    }

    #[test]
    fn questions_lose_their_question_words_and_meet_code_by_stem() {
        let terms = query_terms("How are the orders cancelled when nobody pays?");
        assert_eq!(terms, ["order", "cancel", "nobodi", "pay"]);
        let code = document_terms("void cancelOrder(Long orderId)");
        assert!(code.contains(&"cancel".to_string()));
        assert!(code.contains(&"order".to_string()));
    }

    #[test]
    fn keywords_are_not_content_but_identifiers_holding_them_are() {
        assert!(JAVA_KEYWORDS.is_sorted());
        let terms = document_terms("return returnApply;");
        assert_eq!(terms, ["return", "appli", "returnappli"]);
    }

    #[test]
    fn exact_identifiers_are_code_shaped_words_and_paths() {
        let ids = exact_identifiers(
            "Where is lock_stock changed, and what does `pay` or orderSn do at /order/cancel?",
        );
        assert_eq!(ids, ["lock_stock", "pay", "orderSn", "/order/cancel"]);
        assert!(exact_identifiers("How is the amount calculated?").is_empty());
        // A backticked path does not make its words identifiers of their own.
        assert_eq!(
            exact_identifiers("what answers `/order/generateOrder` when an order is made?"),
            ["/order/generateOrder"]
        );
        assert!(is_code_shaped("orderSn") && is_code_shaped("lock_stock"));
        assert!(!is_code_shaped("Order") && !is_code_shaped("HTTP") && !is_code_shaped("_x"));
    }
}
