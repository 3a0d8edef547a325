//! Cuts a MyBatis mapper XML file into one chunk per statement (`select`, `insert`, `update`,
//! `delete`) and reusable piece (`sql`, `resultMap`), named `namespace.id`.
//!
//! Reads with quick-xml and keeps byte positions, so a chunk's text is the element verbatim,
//! comments and `<if>` tags included. A malformed file keeps the chunks before the error and
//! gets a [`SyntaxWarning`].

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

use super::SyntaxWarning;
use super::chunk::{Chunk, ChunkDraft, ChunkKind, ChunkSink};

/// Elements directly under `<mapper>` that become chunks.
const STATEMENT_TAGS: &[&[u8]] = &[
    b"select",
    b"insert",
    b"update",
    b"delete",
    b"sql",
    b"resultMap",
];

/// Whether `text` looks like a MyBatis mapper (its root element is `<mapper>`), checked without
/// a full parse so that `pom.xml` and friends cost almost nothing.
pub fn is_mapper_xml(text: &str) -> bool {
    if !text.contains("<mapper") {
        return false;
    }
    let mut reader = Reader::from_str(text);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => return e.name().as_ref() == b"mapper",
            Ok(Event::Eof) | Err(_) => return false,
            Ok(_) => {}
        }
    }
}

/// Chunks of one mapper file, in source order, and its warnings.
pub fn chunk_mapper_xml(path: &str, text: &str) -> (Vec<Chunk>, Vec<SyntaxWarning>) {
    let mut out = Statements {
        sink: ChunkSink::new(path, text),
        lines: LineStarts::new(text),
        path,
        namespace: None,
    };
    let mut warnings = Vec::new();
    // quick-xml skips a UTF-8 byte order mark without counting it in its positions, which
    // shifted every chunk of a file saved with a BOM by three bytes (found by the mapper_xml
    // fuzz target). Three spaces in its place keep every byte offset the same.
    let masked;
    let xml = match text.strip_prefix('\u{feff}') {
        Some(rest) => {
            masked = format!("   {rest}");
            masked.as_str()
        }
        None => text,
    };
    let mut reader = Reader::from_str(xml);
    let mut depth = 0usize;
    // The statement being read: start byte, tag, id and doc.
    let mut open: Option<(usize, Vec<u8>, String, Option<String>)> = None;
    let mut last_comment: Option<(usize, String)> = None;
    loop {
        let event_start = reader.buffer_position() as usize;
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(err) => {
                let at = reader.error_position() as usize;
                warnings.push(SyntaxWarning {
                    path: path.to_owned(),
                    line: out.lines.line_of(at),
                    message: format!(
                        "malformed XML: {err}; statements after this point are skipped"
                    ),
                });
                break;
            }
        };
        match event {
            Event::Start(e) => {
                depth += 1;
                if depth == 1 && e.name().as_ref() == b"mapper" {
                    out.namespace = attribute(&e, b"namespace");
                } else if depth == 2 && STATEMENT_TAGS.contains(&e.name().as_ref()) {
                    let id = attribute(&e, b"id").unwrap_or_default();
                    let doc = take_doc(&mut last_comment, text, event_start);
                    open = Some((event_start, e.name().as_ref().to_vec(), id, doc));
                }
            }
            Event::Empty(e) if depth == 1 && STATEMENT_TAGS.contains(&e.name().as_ref()) => {
                let id = attribute(&e, b"id").unwrap_or_default();
                let doc = take_doc(&mut last_comment, text, event_start);
                out.push(&id, event_start..reader.buffer_position() as usize, doc);
            }
            Event::End(e) => {
                if depth == 2
                    && let Some((start, tag, id, doc)) = open.take()
                    && tag == e.name().as_ref()
                {
                    out.push(&id, start..reader.buffer_position() as usize, doc);
                }
                depth = depth.saturating_sub(1);
            }
            Event::Comment(c) if depth == 1 => {
                let comment = String::from_utf8_lossy(&c).trim().to_owned();
                last_comment = Some((reader.buffer_position() as usize, comment));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    (out.sink.finish(), warnings)
}

/// Collects the statements of one file.
struct Statements<'a> {
    sink: ChunkSink<'a>,
    lines: LineStarts,
    path: &'a str,
    namespace: Option<String>,
}

impl Statements<'_> {
    fn push(&mut self, id: &str, bytes: std::ops::Range<usize>, doc: Option<String>) {
        // Without a namespace the file stem keeps statements of different files apart.
        let namespace = self.namespace.clone().unwrap_or_else(|| {
            let file = self.path.rsplit('/').next().unwrap_or(self.path);
            file.strip_suffix(".xml").unwrap_or(file).to_owned()
        });
        self.sink.push(ChunkDraft {
            kind: ChunkKind::MapperStatement,
            symbol: format!("{namespace}.{id}"),
            parent: None,
            start_line: self.lines.line_of(bytes.start),
            end_line: self.lines.line_of(bytes.end.saturating_sub(1)),
            start_byte: bytes.start,
            end_byte: bytes.end,
            doc,
        });
    }
}

/// The comment that ends right before a statement (only whitespace between) is its doc.
fn take_doc(last: &mut Option<(usize, String)>, text: &str, start: usize) -> Option<String> {
    let (end, comment) = last.take()?;
    let between = text.get(end..start)?;
    (between.trim().is_empty() && !comment.is_empty()).then_some(comment)
}

fn attribute(element: &BytesStart<'_>, name: &[u8]) -> Option<String> {
    let attr = element.try_get_attribute(name).ok()??;
    attr.normalized_value(XmlVersion::Implicit1_0)
        .ok()
        .map(|v| v.into_owned())
}

/// Byte offset -> 1-based line, for a text read once.
struct LineStarts(Vec<usize>);

impl LineStarts {
    fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(
                text.bytes()
                    .enumerate()
                    .filter(|&(_, b)| b == b'\n')
                    .map(|(i, _)| i + 1),
            )
            .collect();
        LineStarts(starts)
    }

    fn line_of(&self, offset: usize) -> u32 {
        self.0.partition_point(|&start| start <= offset) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPPER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE mapper PUBLIC "-//mybatis.org//DTD Mapper 3.0//EN" "http://mybatis.org/dtd/mybatis-3-mapper.dtd">
<mapper namespace="shop.dao.StockDao">
    <!-- 锁定库存 -->
    <update id="lockStock">
        update sku_stock set lock_stock = lock_stock + #{qty}
        where id = #{skuId} and stock - lock_stock &gt;= #{qty}
    </update>
    <select id="get" resultType="shop.Stock">select * from sku_stock where id = #{id}</select>
    <sql id="cols"/>
</mapper>
"#;

    #[test]
    fn statements_become_chunks_with_namespace_ids_and_lines() {
        assert!(is_mapper_xml(MAPPER));
        let (chunks, warnings) = chunk_mapper_xml("m/StockDao.xml", MAPPER);
        assert!(warnings.is_empty(), "{warnings:?}");
        let symbols: Vec<_> = chunks.iter().map(|c| c.symbol.as_str()).collect();
        assert_eq!(
            symbols,
            [
                "shop.dao.StockDao.lockStock",
                "shop.dao.StockDao.get",
                "shop.dao.StockDao.cols"
            ]
        );
        let lock = &chunks[0];
        assert_eq!((lock.start_line, lock.end_line), (5, 8));
        assert!(lock.text(MAPPER).starts_with("<update id=\"lockStock\">"));
        assert!(lock.text(MAPPER).ends_with("</update>"));
        assert_eq!(lock.doc.as_deref(), Some("锁定库存"));
        assert_eq!(chunks[1].doc, None);
        assert_eq!((chunks[1].start_line, chunks[1].end_line), (9, 9));
        assert_eq!(chunks[2].text(MAPPER), "<sql id=\"cols\"/>");
    }

    #[test]
    fn malformed_xml_keeps_earlier_statements_and_warns_with_line() {
        let broken = MAPPER.replace("</select>", "</selec>");
        let (chunks, warnings) = chunk_mapper_xml("m/StockDao.xml", &broken);
        assert_eq!(chunks.len(), 1);
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].line, 9, "{:?}", warnings[0]);
    }

    #[test]
    fn other_xml_is_not_a_mapper() {
        assert!(!is_mapper_xml(
            "<project><modelVersion>4.0.0</modelVersion></project>"
        ));
        assert!(!is_mapper_xml("not xml at all <"));
    }
}
