//! What the mapper XML says about one table, for designs that change it: the statements that
//! read or write it (hand-written or generated), the model its result map fills, and that
//! model's properties with their JDBC types. Read from the index (the mapper chunks), so a
//! table without mapper XML (JPA, annotations) has no facts and gets no such design.

use std::sync::LazyLock;

use regex::Regex;

use acdp_analysis::Flow;
use acdp_analysis::generated::is_generated_mapper_xml;
use acdp_analysis::sql::{SqlOperation, summarise};
use acdp_index::{ChunkId, ChunkKind};

use super::evidence::ChunkLookup;

static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*<([A-Za-z]+)").expect("valid regex"));
static MAP_TYPE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"\btype\s*=\s*"([A-Za-z0-9_.$]+)""#).expect("valid regex"));
static RESULT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<(?:id|result)\b[^>]*>").expect("valid regex"));
static ATTR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\b(column|property|jdbcType)\s*=\s*"([^"]*)""#).expect("valid regex")
});

/// One mapper statement on the table.
pub(super) struct TableStatement {
    pub chunk_id: ChunkId,
    /// `namespace.id`.
    pub symbol: String,
    pub operation: SqlOperation,
    /// MyBatis Generator output: named, never cited, regenerated rather than edited.
    pub generated: bool,
}

/// A column of the table as a result map maps it.
pub(super) struct MappedColumn {
    pub column: String,
    pub property: String,
    pub jdbc_type: Option<String>,
}

pub(super) struct TableFacts {
    pub table: String,
    pub statements: Vec<TableStatement>,
    /// The model class a result map of the table's mapper fills (qualified).
    pub model: Option<String>,
    pub result_map: Option<ChunkId>,
    pub columns: Vec<MappedColumn>,
}

impl TableFacts {
    pub fn read(lookup: &ChunkLookup<'_>, table: &str) -> TableFacts {
        let mut statements = Vec::new();
        let mut namespaces: Vec<String> = Vec::new();
        for (file, chunk) in lookup.index.chunks() {
            if chunk.kind != ChunkKind::MapperStatement {
                continue;
            }
            let text = chunk.text(&file.text);
            let Some(tag) = TAG.captures(text).map(|c| c[1].to_owned()) else {
                continue;
            };
            if !matches!(tag.as_str(), "select" | "insert" | "update" | "delete") {
                continue;
            }
            let summary = summarise(&tag, text);
            // The table the statement writes, or mainly reads.
            if summary.tables.first().map(String::as_str) != Some(table) {
                continue;
            }
            if let Some((namespace, _)) = chunk.symbol.rsplit_once('.')
                && !namespaces.iter().any(|n| n == namespace)
            {
                namespaces.push(namespace.to_owned());
            }
            statements.push(TableStatement {
                chunk_id: chunk.chunk_id.clone(),
                symbol: chunk.symbol.clone(),
                operation: summary.operation,
                // Generator markers, or the generator's criteria fragment in the same file
                // (mappers generated without comments have no markers).
                generated: lookup.is_generated(&chunk.chunk_id)
                    || is_generated_mapper_xml(&file.text),
            });
        }
        // The result map of the mapper that writes the table: its model and columns. A mapper
        // that only reads the table may map a join into another type.
        let writers: Vec<&str> = statements
            .iter()
            .filter(|s| s.operation.writes())
            .filter_map(|s| s.symbol.rsplit_once('.').map(|(n, _)| n))
            .collect();
        // Several result maps may qualify (a hand-written DAO maps joins into a detail type):
        // the one whose type is named after the table wins, then `BaseResultMap`.
        let entity = pascal(table);
        let mut best: Option<(u8, String, ChunkId, Vec<MappedColumn>)> = None;
        for (file, chunk) in lookup.index.chunks() {
            if chunk.kind != ChunkKind::MapperStatement
                || !chunk
                    .symbol
                    .rsplit_once('.')
                    .is_some_and(|(n, _)| writers.contains(&n))
            {
                continue;
            }
            let text = chunk.text(&file.text);
            if !text.trim_start().starts_with("<resultMap") {
                continue;
            }
            let Some(ty) = MAP_TYPE.captures(text).map(|c| c[1].to_owned()) else {
                continue;
            };
            let simple = ty.rsplit('.').next().unwrap_or(&ty);
            let score = u8::from(
                simple.eq_ignore_ascii_case(&entity)
                    || simple
                        .to_ascii_lowercase()
                        .ends_with(&entity.to_ascii_lowercase()),
            ) * 2
                + u8::from(chunk.symbol.ends_with(".BaseResultMap"));
            if best.as_ref().is_some_and(|(s, ..)| *s >= score) {
                continue;
            }
            best = Some((score, ty, chunk.chunk_id.clone(), mapped_columns(text)));
        }
        let (model, result_map, columns) = match best {
            Some((_, ty, id, columns)) => (Some(ty), Some(id), columns),
            None => (None, None, Vec::new()),
        };
        TableFacts {
            table: table.to_owned(),
            statements,
            model,
            result_map,
            columns,
        }
    }

    /// Whether any statement on the table, or its result map, mentions `word` (a column name
    /// a design is about to add must not exist already).
    pub fn mentions(&self, lookup: &ChunkLookup<'_>, word: &str) -> bool {
        let word = word.to_ascii_lowercase();
        self.statements
            .iter()
            .map(|s| &s.chunk_id)
            .chain(self.result_map.iter())
            .filter_map(|id| lookup.index.chunk(id))
            .any(|(file, chunk)| chunk.text(&file.text).to_ascii_lowercase().contains(&word))
            || self
                .columns
                .iter()
                .any(|c| c.column.eq_ignore_ascii_case(&word))
    }

    /// The model's simple name.
    pub fn model_name(&self) -> Option<&str> {
        self.model
            .as_deref()
            .map(|m| m.rsplit('.').next().unwrap_or(m))
    }
}

/// `oms_order` -> `OmsOrder`.
fn pascal(table: &str) -> String {
    table
        .split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut chars = p.chars();
            chars.next().map_or(String::new(), |c| {
                c.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// The `<id>`/`<result>` elements of a result map.
fn mapped_columns(text: &str) -> Vec<MappedColumn> {
    let mut columns = Vec::new();
    for element in RESULT.find_iter(text) {
        let mut column = None;
        let mut property = None;
        let mut jdbc_type = None;
        for attr in ATTR.captures_iter(element.as_str()) {
            let value = attr[2].to_owned();
            match &attr[1] {
                "column" => column = Some(value),
                "property" => property = Some(value),
                _ => jdbc_type = Some(value),
            }
        }
        if let (Some(column), Some(property)) = (column, property) {
            columns.push(MappedColumn {
                column,
                property,
                jdbc_type,
            });
        }
    }
    columns
}

/// The first HTTP flow that issues `operation` on `table` on the request's main line, with the
/// step that does.
pub(super) fn main_line_write<'f>(
    flows: &'f [Flow],
    table: &str,
    operation: &str,
) -> Option<(&'f Flow, &'f acdp_analysis::FlowStep)> {
    flows
        .iter()
        .filter(|f| f.entry.kind == "http")
        .find_map(|flow| {
            let step = flow.steps.iter().find(|s| {
                s.kind == "statement"
                    && s.operation.as_deref() == Some(operation)
                    && s.table.as_deref() == Some(table)
                    && s.when.is_main_line()
                    && s.outer.is_main_line()
            })?;
            Some((flow, step))
        })
}

/// Tables with mapper XML in the order the domain map lists them, each once, with the first
/// HTTP flow that issues `operation` on it on the request's main line. Designs take one table
/// per controller so that a repository whose tables all sit in one data-access domain still
/// gets a design per area, and at most `limit` in all.
pub(super) fn tables_written_by_endpoints<'a>(
    analysis: &'a acdp_analysis::Analysis,
    operations: &[&str],
    limit: usize,
) -> Vec<(&'a str, &'a Flow, &'a acdp_analysis::FlowStep)> {
    let mut out: Vec<(&str, &Flow, &acdp_analysis::FlowStep)> = Vec::new();
    for domain in &analysis.domains.domains {
        for table in &domain.tables {
            if out.len() >= limit || out.iter().any(|(t, _, _)| t == table) {
                continue;
            }
            let Some((flow, write)) = operations
                .iter()
                .find_map(|op| main_line_write(&analysis.flows, table, op))
            else {
                continue;
            };
            let controller =
                |f: &Flow| super::evidence::class_of(&f.entry.symbol).map(str::to_owned);
            if out
                .iter()
                .any(|(_, f, _)| controller(f) == controller(flow))
            {
                continue;
            }
            out.push((table, flow, write));
        }
    }
    out
}
