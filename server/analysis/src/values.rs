//! Values of expressions that are constants in disguise: literals, `static final` fields, enum
//! constants and their value getters (`OrderStatus.WAIT_PAY.getValue()` -> 0), boxing
//! (`Integer.valueOf(RETURNING)`), and the evaluation of a status condition for one candidate
//! value. Shared by rules (statements name the values) and states (guards give from-values).

use tree_sitter::Node;

use super::symbols::{Symbols, TypeId};
use super::syntax::{Literal, literal_of, node_text};

/// The constant value of an expression, if it has one.
pub fn value_of(symbols: &Symbols<'_>, ty: TypeId, node: Node<'_>, text: &str) -> Option<Literal> {
    match node.kind() {
        "parenthesized_expression" => value_of(symbols, ty, node.named_child(0)?, text),
        "identifier" | "field_access" => {
            let written = node_text(node, text);
            if written.starts_with("this.") {
                return None;
            }
            symbols.constant_value(ty, written)
        }
        "method_invocation" => {
            let name = node_text(node.child_by_field_name("name")?, text);
            let args = node.child_by_field_name("arguments")?;
            let object = node.child_by_field_name("object");
            match (object, args.named_child_count()) {
                // `Enum.CONST.getValue()`, `Enum.CONST.getCode()`, `Enum.CONST.ordinal()`.
                (Some(object), 0) if object.kind() == "field_access" => {
                    let written = node_text(object, text);
                    let (owner, constant) = written.rsplit_once('.')?;
                    let t = symbols.resolve_type(ty, owner)?;
                    let facts = symbols.type_facts(t);
                    let index = facts
                        .enum_constants
                        .iter()
                        .position(|c| c.name == constant)?;
                    if name == "ordinal" {
                        return Some(Literal::Int(index as i64));
                    }
                    facts.enum_constants[index].int_value().map(Literal::Int)
                }
                // `Integer.valueOf(X)`, `Long.valueOf(X)`.
                (Some(_), 1) if name == "valueOf" => {
                    value_of(symbols, ty, args.named_child(0)?, text)
                }
                _ => None,
            }
        }
        "object_creation_expression" => literal_of(node, text),
        _ => match literal_of(node, text) {
            Some(Literal::Ref(_)) | None => None,
            Some(v) => Some(v),
        },
    }
}

/// Named constants an expression mentions, with their values: `(OrderStatus.WAIT_PAY, 0)`.
pub fn named_values(
    symbols: &Symbols<'_>,
    ty: TypeId,
    node: Node<'_>,
    text: &str,
    out: &mut Vec<(String, String)>,
) {
    let kind = node.kind();
    let named = match kind {
        "identifier" => node_text(node, text)
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
        "field_access" => node.child_by_field_name("field").is_some_and(|f| {
            node_text(f, text)
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        }),
        "method_invocation" => {
            node.child_by_field_name("object")
                .is_some_and(|o| o.kind() == "field_access")
                && node
                    .child_by_field_name("arguments")
                    .is_some_and(|a| a.named_child_count() == 0)
        }
        _ => false,
    };
    if named && let Some(value) = value_of(symbols, ty, node, text) {
        let label = match kind {
            "method_invocation" => node
                .child_by_field_name("object")
                .map(|o| node_text(o, text))
                .unwrap_or_default(),
            _ => node_text(node, text),
        };
        let entry = (label.to_owned(), value.display());
        if !out.contains(&entry) {
            out.push(entry);
        }
        return;
    }
    let mut cursor = node.walk();
    for child in node.named_children(&mut cursor) {
        named_values(symbols, ty, child, text, out);
    }
}

/// Whether an identifier names a status-like property: `status`, `orderStatus`, `useStatus`,
/// `state` (not `statusDesc`, not `stateless`).
pub fn is_status_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with("status") || lower.ends_with("state")
}

/// Whether an expression reads a status property: `x.getStatus()`, `x.getUseStatus()`,
/// `x.status`. A bare variable named `status` is not enough: it is as often a result code.
pub fn reads_status(node: Node<'_>, text: &str) -> bool {
    match node.kind() {
        "method_invocation" => {
            let name = node
                .child_by_field_name("name")
                .map(|n| node_text(n, text))
                .unwrap_or("");
            let no_args = node
                .child_by_field_name("arguments")
                .is_some_and(|a| a.named_child_count() == 0);
            if no_args && name.starts_with("get") && is_status_name(name) {
                return true;
            }
            // `Status.of(x.getStatus())`: a lookup of the status value.
            node.child_by_field_name("arguments").is_some_and(|a| {
                a.named_child_count() == 1
                    && a.named_child(0).is_some_and(|arg| reads_status(arg, text))
            })
        }
        "field_access" => node
            .child_by_field_name("field")
            .is_some_and(|f| is_status_name(node_text(f, text))),
        "parenthesized_expression" | "cast_expression" => {
            let mut cursor = node.walk();
            node.named_children(&mut cursor)
                .any(|c| reads_status(c, text))
        }
        _ => false,
    }
}

/// Evaluates a condition for a status value `v`: status reads are `v`, constants their values,
/// anything else unknown (taken as false, i.e. the non-failing path of null and ownership
/// checks). `None` when the condition does not involve the status at all.
pub fn eval_status_condition(
    symbols: &Symbols<'_>,
    ty: TypeId,
    node: Node<'_>,
    text: &str,
    v: i64,
) -> Option<bool> {
    match node.kind() {
        "parenthesized_expression" => {
            eval_status_condition(symbols, ty, node.named_child(0)?, text, v)
        }
        "unary_expression" => {
            let op = node_text(node.child_by_field_name("operator")?, text);
            let inner =
                eval_status_condition(symbols, ty, node.child_by_field_name("operand")?, text, v)?;
            (op == "!").then_some(!inner)
        }
        "binary_expression" => {
            let op = node_text(node.child_by_field_name("operator")?, text);
            let left = node.child_by_field_name("left")?;
            let right = node.child_by_field_name("right")?;
            match op {
                "&&" | "||" => {
                    let l = eval_status_condition(symbols, ty, left, text, v);
                    let r = eval_status_condition(symbols, ty, right, text, v);
                    if l.is_none() && r.is_none() {
                        return None;
                    }
                    let (l, r) = (l.unwrap_or(false), r.unwrap_or(false));
                    Some(if op == "&&" { l && r } else { l || r })
                }
                "==" | "!=" | "<" | ">" | "<=" | ">=" => {
                    let (a, b) = if reads_status(left, text) {
                        (v, status_operand_value(symbols, ty, right, text)?)
                    } else if reads_status(right, text) {
                        (status_operand_value(symbols, ty, left, text)?, v)
                    } else {
                        return None;
                    };
                    Some(match op {
                        "==" => a == b,
                        "!=" => a != b,
                        "<" => a < b,
                        ">" => a > b,
                        "<=" => a <= b,
                        _ => a >= b,
                    })
                }
                _ => None,
            }
        }
        "method_invocation" => {
            // `A.equals(B)` with one side a status read.
            let name = node_text(node.child_by_field_name("name")?, text);
            if name != "equals" {
                return None;
            }
            let object = node.child_by_field_name("object")?;
            let arg = node.child_by_field_name("arguments")?.named_child(0)?;
            let other = if reads_status(object, text) {
                arg
            } else if reads_status(arg, text) {
                object
            } else {
                return None;
            };
            Some(status_operand_value(symbols, ty, other, text)? == v)
        }
        _ => None,
    }
}

/// The value a status is compared with; an enum constant stands for its value.
pub fn status_operand_value(
    symbols: &Symbols<'_>,
    ty: TypeId,
    node: Node<'_>,
    text: &str,
) -> Option<i64> {
    value_of(symbols, ty, node, text).and_then(|l| l.as_int())
}
