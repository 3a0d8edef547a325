//! What a condition or an expression is about, by its words: stock, amounts, status, the
//! terms of a computation. Classification only; no rule is made here.

use tree_sitter::Node;

use crate::syntax::{node_text, property_of_accessor};
use crate::values::reads_status;

pub(super) const STOCK_WORDS: &[&str] = &["stock", "stocks", "inventory", "quantity", "qty"];

pub(super) const AMOUNT_WORDS: &[&str] = &[
    "amount",
    "price",
    "money",
    "fee",
    "cost",
    "balance",
    "integration",
    "point",
    "points",
    "discount",
    "freight",
    "refund",
    "credit",
    "deposit",
    "salary",
];

/// Splits identifiers into lower-case words: `getMinPoint` -> get, min, point;
/// `FREE_FREIGHT_AMOUNT` -> free, freight, amount.
pub(super) fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut prev_lower = false;
    for c in text.chars() {
        if !c.is_ascii_alphanumeric() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        current.push(c.to_ascii_lowercase());
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

pub(super) fn mentions(text: &str, vocabulary: &[&str]) -> bool {
    words(text).iter().any(|w| vocabulary.contains(&w.as_str()))
}

/// Names an operand is about: variables, getter and method names, and the receivers of
/// arithmetic (`a.subtract(b)`), but not the receiver of a getter (`skuStock.getId()` is about
/// an id). String literals are left out.
pub(super) fn identifiers(node: Node<'_>, text: &str, out: &mut String) {
    match node.kind() {
        "string_literal" | "character_literal" => {}
        "identifier" | "type_identifier" => {
            out.push_str(node_text(node, text));
            out.push(' ');
        }
        "method_invocation" => {
            let name = node
                .child_by_field_name("name")
                .map(|n| node_text(n, text))
                .unwrap_or("");
            out.push_str(name);
            out.push(' ');
            let numeric = ARITHMETIC_CALLS.contains(&name)
                || matches!(
                    name,
                    "compareTo" | "intValue" | "longValue" | "floatValue" | "doubleValue" | "abs"
                );
            if let Some(object) = node.child_by_field_name("object")
                && (numeric || !matches!(object.kind(), "identifier" | "field_access"))
            {
                identifiers(object, text, out);
            }
            if let Some(args) = node.child_by_field_name("arguments") {
                identifiers(args, text, out);
            }
        }
        _ => {
            let mut cursor = node.walk();
            for child in node.named_children(&mut cursor) {
                identifiers(child, text, out);
            }
        }
    }
}

pub(super) fn unwrap_parens(mut node: Node<'_>) -> Node<'_> {
    while node.kind() == "parenthesized_expression" {
        match node.named_child(0) {
            Some(inner) => node = inner,
            None => break,
        }
    }
    node
}

/// What the comparisons of a condition are about.
#[derive(Default)]
pub(super) struct ConditionFacts {
    pub(super) status: bool,
    /// Some part of the condition is not a status comparison (a null check, another test).
    pub(super) other: bool,
    pub(super) status_equality: bool,
    pub(super) stock: bool,
    pub(super) amount: bool,
}

pub(super) fn condition_facts(node: Node<'_>, text: &str, facts: &mut ConditionFacts) {
    let node = unwrap_parens(node);
    match node.kind() {
        "binary_expression" => {
            let Some(op) = node.child_by_field_name("operator") else {
                return;
            };
            let op = node_text(op, text);
            let (Some(left), Some(right)) = (
                node.child_by_field_name("left"),
                node.child_by_field_name("right"),
            ) else {
                return;
            };
            match op {
                "&&" | "||" => {
                    condition_facts(left, text, facts);
                    condition_facts(right, text, facts);
                }
                "==" | "!=" | "<" | ">" | "<=" | ">=" => {
                    let null_check = [left, right]
                        .iter()
                        .any(|n| unwrap_parens(*n).kind() == "null_literal");
                    if null_check {
                        facts.other = true;
                        return;
                    }
                    let boolean = [left, right]
                        .iter()
                        .any(|n| matches!(unwrap_parens(*n).kind(), "true" | "false"));
                    if boolean {
                        facts.other = true;
                        return;
                    }
                    classify_comparison(left, right, op == "==", text, facts);
                }
                _ => facts.other = true,
            }
        }
        "unary_expression" => {
            if let Some(operand) = node.child_by_field_name("operand") {
                // `!x.equals(V)` is an inequality.
                let equality = facts.status_equality;
                condition_facts(operand, text, facts);
                facts.status_equality = equality;
            }
        }
        "method_invocation" => {
            let name = node
                .child_by_field_name("name")
                .map(|n| node_text(n, text))
                .unwrap_or("");
            if matches!(name, "equals" | "compareTo" | "equalsIgnoreCase")
                && let (Some(object), Some(arg)) = (
                    node.child_by_field_name("object"),
                    node.child_by_field_name("arguments")
                        .and_then(|a| a.named_child(0)),
                )
            {
                classify_comparison(object, arg, name != "compareTo", text, facts);
            } else {
                facts.other = true;
            }
        }
        _ => facts.other = true,
    }
}

pub(super) fn classify_comparison(
    left: Node<'_>,
    right: Node<'_>,
    equality: bool,
    text: &str,
    facts: &mut ConditionFacts,
) {
    if reads_status(unwrap_parens(left), text) || reads_status(unwrap_parens(right), text) {
        // A status compared with another status variable is not a status value check.
        let other_is_value =
            !(reads_status(unwrap_parens(left), text) && reads_status(unwrap_parens(right), text));
        if other_is_value {
            facts.status = true;
            facts.status_equality |= equality;
            return;
        }
    }
    facts.other = true;
    let mut names = String::new();
    identifiers(left, text, &mut names);
    identifiers(right, text, &mut names);
    // `a.compareTo(b) < 0`: the operands are inside the call.
    if mentions(&names, STOCK_WORDS) {
        facts.stock = true;
    } else if mentions(&names, AMOUNT_WORDS) {
        facts.amount = true;
    }
}

pub(super) const ARITHMETIC_CALLS: &[&str] = &["add", "subtract", "multiply", "divide", "negate"];

pub(super) fn has_arithmetic(node: Node<'_>, text: &str) -> bool {
    match node.kind() {
        "binary_expression" => {
            let op = node
                .child_by_field_name("operator")
                .map(|o| node_text(o, text))
                .unwrap_or("");
            if matches!(op, "-" | "*" | "/") || (op == "+" && !is_string_concat(node, text)) {
                return true;
            }
        }
        "method_invocation" => {
            let name = node
                .child_by_field_name("name")
                .map(|n| node_text(n, text))
                .unwrap_or("");
            if ARITHMETIC_CALLS.contains(&name) {
                return true;
            }
        }
        "lambda_expression" | "string_literal" => return false,
        _ => {}
    }
    let mut cursor = node.walk();
    node.named_children(&mut cursor)
        .any(|c| has_arithmetic(c, text))
}

/// `a + "x" + b`: a `+` chain with a string literal in it.
pub(super) fn is_string_concat(node: Node<'_>, text: &str) -> bool {
    match node.kind() {
        "string_literal" => true,
        "binary_expression" => {
            node.child_by_field_name("operator")
                .is_some_and(|o| node_text(o, text) == "+")
                && [
                    node.child_by_field_name("left"),
                    node.child_by_field_name("right"),
                ]
                .into_iter()
                .flatten()
                .any(|n| is_string_concat(n, text))
        }
        "parenthesized_expression" => node
            .named_child(0)
            .is_some_and(|n| is_string_concat(n, text)),
        _ => false,
    }
}

/// The operands of an arithmetic expression: getter properties, variables and fields;
/// constants in upper case, literals and rounding arguments are not terms.
pub(super) fn collect_terms(node: Node<'_>, text: &str, target: &str, out: &mut Vec<String>) {
    let push = |out: &mut Vec<String>, term: String| {
        if !out.contains(&term) {
            out.push(term);
        }
    };
    match node.kind() {
        "identifier" => {
            let name = node_text(node, text);
            // Constants and class names (static call receivers) are not terms.
            let capitalised = name.starts_with(|c: char| c.is_ascii_uppercase());
            if !capitalised && name != target {
                push(out, name.to_owned());
            }
        }
        "method_invocation" => {
            let name = node
                .child_by_field_name("name")
                .map(|n| node_text(n, text))
                .unwrap_or("");
            let args = node.child_by_field_name("arguments");
            let arity = args.map_or(0, |a| a.named_child_count());
            if arity == 0
                && let Some(property) = property_of_accessor(name)
            {
                push(out, property);
                return;
            }
            if let Some(object) = node.child_by_field_name("object") {
                collect_terms(object, text, target, out);
            }
            if let Some(args) = args {
                // `divide(x, 2, RoundingMode.HALF_UP)`: only the first argument is an operand.
                let operands = if matches!(name, "divide" | "setScale") {
                    1
                } else {
                    usize::MAX
                };
                let mut cursor = args.walk();
                for arg in args.named_children(&mut cursor).take(operands) {
                    collect_terms(arg, text, target, out);
                }
            }
        }
        "field_access" => {
            let field = node
                .child_by_field_name("field")
                .map(|f| node_text(f, text))
                .unwrap_or("");
            let constant = field
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if !constant {
                push(out, field.to_owned());
            }
        }
        "ternary_expression" => {
            // `x == null ? ZERO : a.subtract(b)`: the computed branch.
            for field in ["consequence", "alternative"] {
                if let Some(branch) = node.child_by_field_name(field) {
                    collect_terms(branch, text, target, out);
                }
            }
        }
        "lambda_expression" | "string_literal" => {}
        _ => {
            let mut cursor = node.walk();
            for child in node.named_children(&mut cursor) {
                collect_terms(child, text, target, out);
            }
        }
    }
}
