//! How likely a chunk is to hold an answer before the question is read: generated code and
//! trivial accessors rarely do, yet they share every word of the domain ("order", "status") and
//! would otherwise fill the top of the ranking. A prior only demotes; a question that names
//! the chunk exactly lifts it again (see [`super::Retriever`]).

use std::sync::LazyLock;

use regex::Regex;

use acdp_analysis::generated::{has_generated_marker, is_criteria_file, is_generated_mapper_xml};
use acdp_index::{Chunk, ChunkKind, IndexedFile};

/// Why a chunk is demoted, with its weight.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Prior {
    /// Hand-written code with a body.
    Plain,
    /// A MyBatis Generator criteria class (`*Example` with `oredCriteria`).
    Criteria,
    /// A file that says it was generated, or a MyBatis Generator mapper XML.
    Generated,
    /// A getter, setter or other one-statement accessor.
    Accessor,
    /// A method without a body (an interface or abstract declaration): its implementation or
    /// mapper statement holds what it does.
    Declaration,
}

impl Prior {
    pub fn weight(self) -> f64 {
        match self {
            Prior::Plain => 1.0,
            Prior::Criteria => 0.05,
            Prior::Generated => 0.3,
            Prior::Accessor => 0.3,
            Prior::Declaration => 0.7,
        }
    }
}

/// Facts about a file that every one of its chunks shares.
pub struct FilePrior(Prior);

impl FilePrior {
    pub fn of(file: &IndexedFile) -> FilePrior {
        FilePrior(if is_criteria_file(&file.path, &file.text) {
            Prior::Criteria
        } else if has_generated_marker(&file.text) || is_generated_mapper_xml(&file.text) {
            Prior::Generated
        } else {
            Prior::Plain
        })
    }

    /// The prior of one chunk of the file, whose text is `text`.
    pub fn chunk(&self, chunk: &Chunk, text: &str) -> Prior {
        if self.0 != Prior::Plain {
            return self.0;
        }
        if !matches!(chunk.kind, ChunkKind::Method) {
            return Prior::Plain;
        }
        match body(text) {
            None => Prior::Declaration,
            Some(body) if is_accessor_body(body) => Prior::Accessor,
            Some(_) => Prior::Plain,
        }
    }
}

/// The body of a method: between the first `{` outside parentheses (annotation values such as
/// `@RequestMapping(value = {"/a"})` are inside them) and the `}` that closes it; `None` for a
/// declaration ending in `;`. String and character literals and comments are skipped, so a
/// `"}"` in the body does not end it.
fn body(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let (mut parens, mut braces, mut open) = (0usize, 0usize, None);
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' | b'\'' => i = skip_literal(bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = text[i..].find('\n').map_or(bytes.len(), |n| i + n)
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = text[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |n| i + 2 + n + 1)
            }
            b'(' => parens += 1,
            b')' => parens = parens.saturating_sub(1),
            b';' if parens == 0 && open.is_none() => return None,
            b'{' if parens == 0 || open.is_some() => {
                if open.is_none() {
                    open = Some(i);
                }
                braces += 1;
            }
            b'}' if open.is_some() => {
                braces -= 1;
                if braces == 0 {
                    return open.map(|o| &text[o + 1..i]);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The position of the quote that closes the literal opening at `start` (or the end).
fn skip_literal(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            c if c == quote => return i,
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

/// One statement that returns a field or variable, or assigns one to a field.
fn is_accessor_body(body: &str) -> bool {
    static ACCESSOR: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"^\s*(?:return\s+(?:this\.)?[A-Za-z_][A-Za-z0-9_]*\s*;|(?:this\.)?[A-Za-z_][A-Za-z0-9_]*\s*=\s*[A-Za-z_][A-Za-z0-9_]*\s*;)\s*$",
        )
        .expect("valid regex")
    });
    ACCESSOR.is_match(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_and_declarations_are_told_from_methods_with_logic() {
        assert!(is_accessor_body(
            body("public Long getId() { return id; }").unwrap()
        ));
        assert!(is_accessor_body(
            body("public void setId(Long id) {\n this.id = id;\n}").unwrap()
        ));
        assert!(!is_accessor_body(
            body("public int pay() { if (x) { return 1; } return 0; }").unwrap()
        ));
        assert_eq!(
            body("void a() { b(c()); }\n").map(str::trim),
            Some("b(c());")
        );
        assert_eq!(
            body("String a() { if (x) { return \"}\"; } // }\n return y; }").map(str::trim),
            Some("if (x) { return \"}\"; } // }\n return y;")
        );
        assert_eq!(body("@Select(\"select } from t\") int count();"), None);
        assert_eq!(body("int countActive(@Param(\"a\") Long a);"), None);
        assert!(body("@RequestMapping(value = {\"/a\"}) void a();").is_none());
    }
}
