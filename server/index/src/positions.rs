//! LSP positions (0-based line, UTF-16 code units) and byte offsets, converted in one place
//! for open documents ([`crate::Document`]) and for texts read from disk ([`TextPositions`]).
//! Lines end at `\n`; a `\r` before it belongs to the line break, a lone `\r` is a character.

use line_index::{LineIndex, TextSize, WideEncoding, WideLineCol};
use serde::{Deserialize, Serialize};

/// A position as LSP sends it: 0-based line, UTF-16 code units into the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub line: u32,
    pub character: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    pub start: Position,
    pub end: Position,
}

/// UTF-16 positions over a text that is not an open document.
pub struct TextPositions<'a> {
    text: &'a str,
    line_index: LineIndex,
}

impl<'a> TextPositions<'a> {
    pub fn new(text: &'a str) -> Self {
        TextPositions {
            text,
            line_index: LineIndex::new(text),
        }
    }

    /// Byte offset of an LSP position. A character past the end of a line is clamped to the
    /// line's end (as the specification asks); a line past the end is `None`.
    pub fn offset(&self, position: Position) -> Option<usize> {
        offset_of(&self.line_index, self.text, position)
    }

    /// LSP position of a byte offset.
    pub fn position(&self, offset: usize) -> Option<Position> {
        position_of(&self.line_index, offset)
    }
}

/// LSP position -> byte offset. A character past the end of a line is clamped to the line's
/// end, as the specification asks; a line past the end of the text is an error, except the line
/// just after a final newline. Lines end at `\n` (a `\r` before it belongs to the line break);
/// a `\r` elsewhere is a character, as tree-sitter and Neovim count it.
pub(crate) fn offset_of(line_index: &LineIndex, text: &str, position: Position) -> Option<usize> {
    let line_range = match line_index.line(position.line) {
        Some(range) => range,
        None if position.line == 0 || text.ends_with('\n') => {
            let lines = text.matches('\n').count() as u32;
            return (position.line == lines).then_some(text.len());
        }
        None => return None,
    };
    let line_start = usize::from(line_range.start());
    let line_text = &text[line_start..usize::from(line_range.end())];
    let content_len = line_content(line_text).len();
    let wide = WideLineCol {
        line: position.line,
        col: position.character,
    };
    let col = match line_index.to_utf8(WideEncoding::Utf16, wide) {
        Some(line_col) => (line_col.col as usize).min(content_len),
        None => content_len,
    };
    // A column in the middle of a surrogate pair lands inside a character: round down.
    let mut offset = line_start + col;
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    Some(offset)
}

/// A line without its line break: `\n` or `\r\n`, never a lone `\r` (the fuzzer found the
/// harness and the store disagreeing on a text that ended in one).
fn line_content(line: &str) -> &str {
    match line.strip_suffix('\n') {
        Some(line) => line.strip_suffix('\r').unwrap_or(line),
        None => line,
    }
}

/// Byte offset -> LSP position.
pub(crate) fn position_of(line_index: &LineIndex, offset: usize) -> Option<Position> {
    let line_col = line_index.try_line_col(TextSize::try_from(offset).ok()?)?;
    let wide = line_index.to_wide(WideEncoding::Utf16, line_col)?;
    Some(Position {
        line: wide.line,
        character: wide.col,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_utf16_units() {
        let text = "a\n// 中文 x\n";
        let positions = TextPositions::new(text);
        let x = text.find('x').unwrap();
        let position = positions.position(x).unwrap();
        assert_eq!(
            position,
            Position {
                line: 1,
                character: 6
            }
        );
        assert_eq!(positions.offset(position), Some(x));
        // Past the end of a line clamps to its end; the line after the last newline is the end.
        let clamped = positions.offset(Position {
            line: 0,
            character: 99,
        });
        assert_eq!(clamped, Some(1));
        let end = positions.offset(Position {
            line: 2,
            character: 0,
        });
        assert_eq!(end, Some(text.len()));
        assert_eq!(
            positions.offset(Position {
                line: 3,
                character: 0
            }),
            None
        );
    }
}
