//! Reads the SQL of a MyBatis mapper statement: operation, tables, `SET` assignments, `WHERE`
//! predicates and key columns.
//!
//! This is a summary, not a SQL parser: dynamic tags are flattened (`<if>` bodies are dropped,
//! because they are optional), predicates are split on top-level `AND`, and `OR` groups stay
//! one predicate. Good enough to say "updates `sku_stock` where `stock - lock_stock >= ?`".

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SqlOperation {
    Select,
    Insert,
    Update,
    Delete,
    /// `<sql>` fragments and `<resultMap>`s: not executed on their own.
    Fragment,
}

impl SqlOperation {
    pub fn from_tag(tag: &str) -> SqlOperation {
        match tag {
            "select" => SqlOperation::Select,
            "insert" => SqlOperation::Insert,
            "update" => SqlOperation::Update,
            "delete" => SqlOperation::Delete,
            _ => SqlOperation::Fragment,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SqlOperation::Select => "select",
            SqlOperation::Insert => "insert",
            SqlOperation::Update => "update",
            SqlOperation::Delete => "delete",
            SqlOperation::Fragment => "fragment",
        }
    }

    pub fn writes(self) -> bool {
        matches!(
            self,
            SqlOperation::Insert | SqlOperation::Update | SqlOperation::Delete
        )
    }
}

/// What one statement does.
#[derive(Clone, Debug, Serialize)]
pub struct SqlSummary {
    pub operation: SqlOperation,
    /// Tables in order of appearance; the first is the one written or mainly read.
    pub tables: Vec<String>,
    /// `SET column = value` (update), value as written; `<if>`-guarded ones are left out.
    pub set: Vec<(String, String)>,
    /// `WHERE` predicates outside `<if>`, as written (XML entities read).
    pub predicates: Vec<String>,
    /// Columns compared in the `WHERE` clause.
    pub key_columns: Vec<String>,
    /// `#{...}` parameter names used anywhere, first segment only (`order` for `#{order.id}`).
    pub params: Vec<String>,
    /// The `id` and tag of the element, and `resultType`/`resultMap`/`parameterType` values.
    pub result_type: Option<String>,
    pub parameter_type: Option<String>,
}

static COMMENT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?s)<!--.*?-->").unwrap());
static IF_BLOCK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?s)<(if|when|otherwise)\b[^>]*>((?:[^<]|<[^/i]|<i[^f])*?)</(if|when|otherwise)>")
        .unwrap()
});
static CDATA: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?s)<!\[CDATA\[(.*?)\]\]>").unwrap());
static TAG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"</?([A-Za-z]+)[^>]*?/?>").unwrap());
static ATTR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(resultType|resultMap|parameterType)\s*=\s*"([^"]*)""#).unwrap()
});
static TABLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:from|join|update|into)\s+`?([A-Za-z_][A-Za-z0-9_]*)`?").unwrap()
});
static PARAM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[#$]\{\s*([A-Za-z_][A-Za-z0-9_]*)").unwrap());
static WHERE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)\bwhere\b").unwrap());
static SET: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)\bset\b").unwrap());
static WHERE_END: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(order\s+by|group\s+by|limit|for\s+update|union)\b").unwrap()
});
static AND: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)\s+and\s+").unwrap());
static COLUMN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[A-Za-z_][A-Za-z0-9_]*\.)?([A-Za-z_][A-Za-z0-9_]*)").unwrap()
});

/// Summarises the text of one mapper element (`<update id="x">...</update>`).
pub fn summarise(tag: &str, element: &str) -> SqlSummary {
    let operation = SqlOperation::from_tag(tag);
    let mut result_type = None;
    let mut parameter_type = None;
    if let Some(open_end) = element.find('>') {
        for cap in ATTR.captures_iter(&element[..open_end]) {
            match &cap[1] {
                "parameterType" => parameter_type = Some(cap[2].to_owned()),
                _ => result_type = Some(cap[2].to_owned()),
            }
        }
    }
    let sql = flatten(element);
    let tables = dedup(TABLE.captures_iter(&sql).map(|c| c[1].to_ascii_lowercase()))
        .into_iter()
        .filter(|t| !matches!(t.as_str(), "select" | "set" | "where" | "dual"))
        .collect();
    let params = dedup(PARAM.captures_iter(element).map(|c| c[1].to_owned()));
    let where_start = WHERE.find(&sql).map(|m| m.end());
    let predicates: Vec<String> = match where_start {
        Some(start) => {
            let rest = &sql[start..];
            let end = WHERE_END.find(rest).map_or(rest.len(), |m| m.start());
            split_top_level_and(&rest[..end])
        }
        None => Vec::new(),
    };
    let key_columns = dedup(predicates.iter().filter_map(|p| {
        COLUMN
            .captures(p.trim_start_matches('('))
            .map(|c| c[1].to_ascii_lowercase())
            .filter(|c| !c.chars().all(|ch| ch.is_ascii_digit()))
    }));
    let set = if operation == SqlOperation::Update {
        set_assignments(&sql, where_start)
    } else {
        Vec::new()
    };
    SqlSummary {
        operation,
        tables,
        set,
        predicates,
        key_columns,
        params,
        result_type,
        parameter_type,
    }
}

/// The statement's SQL with comments, CDATA markers, optional (`<if>`) parts and tags removed,
/// `<where>`/`<set>` kept as keywords, entities read and whitespace compacted.
pub fn flatten(element: &str) -> String {
    let mut text = COMMENT.replace_all(element, " ").into_owned();
    text = CDATA.replace_all(&text, "$1").into_owned();
    // Innermost `<if>` first; nested ones take a few rounds.
    for _ in 0..8 {
        let next = IF_BLOCK.replace_all(&text, " ").into_owned();
        if next == text {
            break;
        }
        text = next;
    }
    let text = TAG.replace_all(&text, |caps: &regex::Captures<'_>| {
        let whole = &caps[0];
        match &caps[1] {
            "where" if !whole.starts_with("</") => " where ".to_owned(),
            "set" if !whole.starts_with("</") => " set ".to_owned(),
            _ => " ".to_owned(),
        }
    });
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&apos;", "'");
    super::syntax::compact(&text)
}

fn split_top_level_and(clause: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0usize;
    let bytes = clause.as_bytes();
    let mut i = 0usize;
    while i < bytes.len() {
        match bytes[i] {
            b'(' => depth += 1,
            b')' => depth -= 1,
            _ if depth == 0 => {
                if let Some(m) = AND.find_at(clause, i)
                    && m.start() == i
                {
                    // `between x and y` keeps its `and`.
                    let before = clause[start..i].to_ascii_lowercase();
                    if !before.contains(" between ") {
                        push_predicate(&mut out, &clause[start..i]);
                        start = m.end();
                        i = m.end();
                        continue;
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    push_predicate(&mut out, &clause[start..]);
    out
}

fn push_predicate(out: &mut Vec<String>, predicate: &str) {
    let predicate = predicate.trim().trim_end_matches(',').trim();
    let predicate = predicate
        .strip_prefix("and ")
        .or_else(|| predicate.strip_prefix("AND "))
        .unwrap_or(predicate)
        .trim();
    if !predicate.is_empty() {
        out.push(predicate.to_owned());
    }
}

fn set_assignments(sql: &str, where_start: Option<usize>) -> Vec<(String, String)> {
    let Some(set) = SET.find(sql) else {
        return Vec::new();
    };
    let end = where_start
        .map(|w| w.saturating_sub(5))
        .filter(|&w| w > set.end())
        .unwrap_or(sql.len());
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = set.end();
    let body = &sql[..end];
    for (i, c) in body.char_indices().skip_while(|(i, _)| *i < set.end()) {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                push_assignment(&mut out, &body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    push_assignment(&mut out, &body[start..]);
    out
}

fn push_assignment(out: &mut Vec<(String, String)>, piece: &str) {
    if let Some((column, value)) = piece.split_once('=') {
        let column = column.trim();
        let column = column
            .rsplit('.')
            .next()
            .unwrap_or(column)
            .trim_matches('`');
        if !column.is_empty() && column.chars().all(|c| c.is_alphanumeric() || c == '_') {
            out.push((column.to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
}

fn dedup(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// Whether a `WHERE` predicate only selects rows by key (`id = #{id}`, `order_id = #{orderId}`),
/// as opposed to a business condition.
pub fn is_key_predicate(predicate: &str) -> bool {
    static KEY: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)^(?:[a-z_][a-z0-9_]*\.)?([a-z0-9_]*)\s*(=|in)\s*(#\{[^}]*\}|\(.*\)|\d+)$")
            .unwrap()
    });
    match KEY.captures(predicate.trim()) {
        Some(c) => {
            let column = c[1].to_ascii_lowercase();
            column == "id"
                || column.ends_with("_id")
                || column.ends_with("_sn")
                || column.ends_with("_no")
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_with_guards() {
        let s = summarise(
            "update",
            r#"<update id="x">
        <!-- comment -->
        update sku_stock
        <set>
            stock = stock - #{quantity},
            <if test="note != null">note = #{note},</if>
            lock_stock = lock_stock - #{quantity}
        </set>
        where id = #{skuId}
          and lock_stock &gt;= #{quantity}
    </update>"#,
        );
        assert_eq!(s.operation, SqlOperation::Update);
        assert_eq!(s.tables, ["sku_stock"]);
        assert_eq!(s.set.len(), 2, "{:?}", s.set);
        assert_eq!(s.set[0].0, "stock");
        assert_eq!(s.predicates, ["id = #{skuId}", "lock_stock >= #{quantity}"]);
        assert_eq!(s.key_columns, ["id", "lock_stock"]);
        assert!(is_key_predicate(&s.predicates[0]));
        assert!(!is_key_predicate(&s.predicates[1]));
        assert!(s.params.contains(&"quantity".to_owned()));
    }

    #[test]
    fn select_with_join_and_dynamic_where() {
        let s = summarise(
            "select",
            r#"<select id="q" resultType="a.B">
        select h.id from sms_coupon_history h left join sms_coupon c on h.coupon_id = c.id
        <where><if test="s != null">and h.status = #{s}</if> h.deleted = 0</where>
        order by h.id</select>"#,
        );
        assert_eq!(s.tables, ["sms_coupon_history", "sms_coupon"]);
        assert_eq!(s.predicates, ["h.deleted = 0"]);
        assert_eq!(s.result_type.as_deref(), Some("a.B"));
    }
}
