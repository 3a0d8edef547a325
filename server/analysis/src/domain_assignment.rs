//! The first pass over business domains: the domain of every type, before flows and rules
//! are read (they carry their domain). [`super::domains`] summarises afterwards.
//!
//! A class's domain comes from, in order: the `[[analysis.domains]]` of acdp.toml (path globs,
//! then keywords found in the package or class name); the first package segment below the
//! project's common root, unless that segment is a layer (`controller`, `service`, `dao` ...);
//! and for layer-first layouts (`com.x.controller.OmsOrderController`) the first word of the
//! class name (`oms`). Mapper statements take the domain of their mapper interface.

use std::collections::BTreeMap;

use globset::{Glob, GlobMatcher};

use super::symbols::Symbols;
use acdp_config::DomainSettings;

/// Package segments that name a technical layer, not a business domain.
const LAYERS: &[&str] = &[
    "controller",
    "controllers",
    "web",
    "api",
    "rest",
    "resource",
    "resources",
    "service",
    "services",
    "impl",
    "dao",
    "daos",
    "mapper",
    "mappers",
    "repository",
    "repositories",
    "model",
    "models",
    "entity",
    "entities",
    "domain",
    "po",
    "pojo",
    "dto",
    "dtos",
    "vo",
    "bo",
    "config",
    "configuration",
    "component",
    "components",
    "util",
    "utils",
    "common",
    "core",
    "support",
    "constant",
    "constants",
    "enums",
    "exception",
    "exceptions",
    "handler",
    "interceptor",
    "filter",
    "aspect",
    "security",
    "task",
    "job",
    "jobs",
    "schedule",
    "listener",
    "param",
    "params",
    "request",
    "response",
    "form",
    "query",
    "convert",
    "converter",
    "base",
    "infrastructure",
    "application",
    "interfaces",
    "facade",
    "client",
    "feign",
    "bean",
    "beans",
];

/// The domain of each type (indexed by type id).
pub struct DomainAssignment {
    pub of_type: Vec<String>,
    /// Where each type's domain came from: `config`, `package`, `class_prefix` or `shared`.
    pub source: Vec<&'static str>,
    /// For facts with no type (a mapper XML without interface).
    pub fallback: String,
}

pub fn assign(
    symbols: &Symbols<'_>,
    configured: &[DomainSettings],
    warnings: &mut Vec<String>,
) -> DomainAssignment {
    let matchers: Vec<(usize, Vec<GlobMatcher>)> = configured
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let globs = d
                .globs
                .iter()
                .filter_map(|g| match Glob::new(g) {
                    Ok(glob) => Some(glob.compile_matcher()),
                    Err(err) => {
                        warnings.push(format!(
                            "acdp.toml [[analysis.domains]] {}: bad glob {g:?} ({err}); it is ignored",
                            d.name
                        ));
                        None
                    }
                })
                .collect();
            (i, globs)
        })
        .collect();
    let packages: Vec<&str> = symbols
        .types
        .iter()
        .filter(|t| !t.generated)
        .map(|t| symbols.files[t.file].facts.package.as_str())
        .collect();
    let root = common_prefix(&packages);
    let mut of_type: Vec<String> = Vec::with_capacity(symbols.types.len());
    let mut from_prefix: Vec<&'static str> = Vec::with_capacity(symbols.types.len());
    for t in 0..symbols.types.len() {
        let (name, prefix) = domain_of(symbols, t, configured, &matchers, &root);
        of_type.push(name);
        from_prefix.push(prefix);
    }
    // A class-name prefix shared by fewer than three classes is not a domain (`Asserts`).
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (name, prefix) in of_type.iter().zip(&from_prefix) {
        if *prefix == "class_prefix" {
            *counts.entry(name.as_str()).or_default() += 1;
        }
    }
    let small: Vec<String> = counts
        .into_iter()
        .filter(|(_, n)| *n < 3)
        .map(|(name, _)| name.to_owned())
        .collect();
    for (name, prefix) in of_type.iter_mut().zip(from_prefix.iter_mut()) {
        if *prefix == "class_prefix" && small.contains(name) {
            *name = "common".to_owned();
            *prefix = "shared";
        }
    }
    DomainAssignment {
        of_type,
        source: from_prefix,
        fallback: "other".to_owned(),
    }
}

/// The domain of one type and where it came from.
fn domain_of(
    symbols: &Symbols<'_>,
    t: usize,
    configured: &[DomainSettings],
    matchers: &[(usize, Vec<GlobMatcher>)],
    root: &str,
) -> (String, &'static str) {
    let facts = symbols.type_facts(t);
    let path = symbols.path(t);
    for (i, globs) in matchers {
        if globs.iter().any(|g| g.is_match(path)) {
            return (configured[*i].name.clone(), "config");
        }
    }
    let haystack = facts.symbol.to_ascii_lowercase();
    for d in configured {
        if d.keywords
            .iter()
            .any(|k| !k.is_empty() && haystack.contains(&k.to_ascii_lowercase()))
        {
            return (d.name.clone(), "config");
        }
    }
    let package = &symbols.files[symbols.types[t].file].facts.package;
    let rest = package
        .strip_prefix(root)
        .unwrap_or(package)
        .trim_start_matches('.');
    let segment = rest.split('.').next().unwrap_or("");
    if !segment.is_empty() && !LAYERS.contains(&segment) {
        return (segment.to_owned(), "package");
    }
    (class_prefix(&facts.simple_name), "class_prefix")
}

fn common_prefix(packages: &[&str]) -> String {
    let Some(first) = packages.first() else {
        return String::new();
    };
    let mut prefix: Vec<&str> = first.split('.').collect();
    for p in &packages[1..] {
        let parts: Vec<&str> = p.split('.').collect();
        let same = prefix
            .iter()
            .zip(&parts)
            .take_while(|(a, b)| a == b)
            .count();
        prefix.truncate(same);
    }
    // A single package (or all types in one) keeps its last segment as a domain candidate.
    if packages.iter().all(|p| p == first) {
        prefix.pop();
    }
    prefix.join(".")
}

/// The first word of a class name: `OmsOrderController` -> `oms`, `UserService` -> `user`.
fn class_prefix(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.char_indices() {
        if i > 0 && c.is_ascii_uppercase() {
            break;
        }
        out.push(c.to_ascii_lowercase());
    }
    if out.is_empty() {
        "other".to_owned()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(common_prefix(&["a.b.order", "a.b.member.dao"]), "a.b");
        assert_eq!(common_prefix(&["a.b", "a.b"]), "a");
        assert_eq!(class_prefix("OmsOrderController"), "oms");
    }
}
