//! Exception handlers: how a business error reaches the API client.
//!
//! Spring MVC hands an exception thrown by a controller (or anything it calls) to the
//! `@ExceptionHandler` method that declares the nearest matching type: one in the controller's
//! own class first, then one in a `@ControllerAdvice` / `@RestControllerAdvice` class. This
//! module reads those methods (the types each handles, from the annotation or the parameter,
//! and what it returns when it has a single `return`) and the supertypes of thrown exception
//! types, so that a sample can follow throw -> handler -> response body. Advice ordering
//! (`@Order`) and `basePackages` filters are not read: when two advice classes handle the same
//! type, [`handler_for`] names none.

use serde::Serialize;

use super::symbols::{Symbols, TypeId};
use super::syntax::compact;
use acdp_index::ChunkId;

#[derive(Clone, Debug, Serialize)]
pub struct ExceptionHandler {
    pub symbol: String,
    pub path: String,
    pub chunk_id: Option<ChunkId>,
    /// The class that declares it.
    pub class: String,
    /// Declared in an advice class: applies to every controller.
    pub global: bool,
    /// Simple names of the exception types it handles.
    pub handles: Vec<String>,
    /// The expressions its `return` statements return, in source order (at most four; none
    /// when there are more, or when the body returns nothing the client sees).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub returns: Vec<String>,
}

const ADVICE: &[&str] = &["ControllerAdvice", "RestControllerAdvice"];
/// JDK exceptions that are unchecked, whose chain is known without their source.
const JDK_RUNTIME: &[&str] = &[
    "RuntimeException",
    "IllegalArgumentException",
    "IllegalStateException",
    "NullPointerException",
    "UnsupportedOperationException",
    "IndexOutOfBoundsException",
    "ArithmeticException",
    "ClassCastException",
    "NumberFormatException",
];

pub fn extract(symbols: &Symbols<'_>) -> Vec<ExceptionHandler> {
    let mut out = Vec::new();
    for (m, entry) in symbols.methods.iter().enumerate() {
        let facts = symbols.method_facts(m);
        let Some(a) = facts.annotation("ExceptionHandler") else {
            continue;
        };
        let ty = symbols.type_facts(entry.ty);
        let mut handles: Vec<String> = a
            .arg("value")
            .map(|v| {
                v.split([',', '{', '}'])
                    .map(|t| t.trim().trim_end_matches(".class").trim())
                    .filter(|t| !t.is_empty())
                    .map(|t| t.rsplit('.').next().unwrap_or(t).to_owned())
                    .collect()
            })
            .unwrap_or_default();
        if handles.is_empty() {
            handles = facts
                .params
                .iter()
                .filter(|p| p.ty.ends_with("Exception") || p.ty == "Throwable")
                .map(|p| p.ty.clone())
                .collect();
        }
        let text = symbols.text(entry.ty);
        let returns: Vec<String> = facts
            .body
            .map(|(start, end)| {
                let body = &text[start..end];
                body.match_indices("return ")
                    .filter_map(|(at, _)| {
                        let expr = body[at + "return ".len()..].split(';').next()?;
                        Some(compact(expr))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let returns = if returns.len() > 4 {
            Vec::new()
        } else {
            returns
        };
        out.push(ExceptionHandler {
            symbol: entry.symbol.clone(),
            path: symbols.path(entry.ty).to_owned(),
            chunk_id: entry.chunk_id.clone(),
            class: ty.symbol.clone(),
            global: ADVICE.iter().any(|n| ty.annotation(n).is_some()),
            handles,
            returns,
        });
    }
    out.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    out
}

/// An exception type and its supertypes, nearest first, as far as they are known: project
/// classes through their `extends`, then `RuntimeException` for unchecked JDK ones, then
/// `Exception` and `Throwable`.
pub fn exception_chain(symbols: &Symbols<'_>, context: TypeId, name: &str) -> Vec<String> {
    let mut chain = vec![name.to_owned()];
    if let Some(t) = symbols.resolve_type(context, name) {
        let mut current = t;
        while let Some(parent) = symbols.type_facts(current).superclass.clone() {
            let simple = parent.rsplit('.').next().unwrap_or(&parent).to_owned();
            if chain.contains(&simple) {
                break;
            }
            chain.push(simple);
            match symbols.resolve_type(current, &parent) {
                Some(p) => current = p,
                None => break,
            }
        }
    }
    let last = chain.last().cloned().unwrap_or_default();
    if JDK_RUNTIME.contains(&last.as_str()) && last != "RuntimeException" {
        chain.push("RuntimeException".to_owned());
    }
    for general in ["Exception", "Throwable"] {
        if !chain.iter().any(|c| c == general) {
            chain.push(general.to_owned());
        }
    }
    chain
}

/// The packages each Spring Boot application scans for components: `scanBasePackages` or
/// `@ComponentScan` packages where written, else the application class's own package. Test
/// applications are left out.
pub fn applications(symbols: &Symbols<'_>) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for t in 0..symbols.types.len() {
        let ty = symbols.type_facts(t);
        let Some(app) = ty.annotation("SpringBootApplication") else {
            continue;
        };
        if symbols.path(t).contains("/src/test/") {
            continue;
        }
        let literals = |value: Option<&str>| -> Vec<String> {
            value
                .unwrap_or_default()
                .split('"')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect()
        };
        let mut roots = literals(app.arg("scanBasePackages"));
        if let Some(scan) = ty.annotation("ComponentScan") {
            roots.extend(literals(scan.arg("value")));
            roots.extend(literals(scan.arg("basePackages")));
        }
        if roots.is_empty() {
            let package = ty.symbol.rsplit_once('.').map_or("", |(p, _)| p);
            roots.push(package.to_owned());
        }
        out.push(roots);
    }
    out
}

/// Whether `class` is scanned by every application that scans `controller`: a global advice
/// another application's scan does not reach is not registered there (no application found:
/// no limit).
fn registered_with(applications: &[Vec<String>], controller: &str, class: &str) -> bool {
    let under =
        |symbol: &str, root: &str| root.is_empty() || symbol.starts_with(&format!("{root}."));
    applications
        .iter()
        .filter(|roots| roots.iter().any(|r| under(controller, r)))
        .all(|roots| roots.iter().any(|r| under(class, r)))
}

/// The handler Spring picks for an exception thrown under the controller `controller`: the
/// controller's own handlers first, then global ones registered in every application that runs
/// the controller; the nearest type in `chain` wins. `None` when none matches or two global
/// handlers match at the same distance.
pub fn handler_for<'h>(
    handlers: &'h [ExceptionHandler],
    applications: &[Vec<String>],
    controller: &str,
    chain: &[String],
) -> Option<&'h ExceptionHandler> {
    for local in [true, false] {
        for ty in chain {
            let matches: Vec<&ExceptionHandler> = handlers
                .iter()
                .filter(|h| {
                    (if local {
                        h.class == controller
                    } else {
                        h.global && registered_with(applications, controller, &h.class)
                    }) && h.handles.contains(ty)
                })
                .collect();
            match matches.as_slice() {
                [] => continue,
                [one] => return Some(one),
                _ => return None,
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::registered_with;

    #[test]
    fn a_global_advice_applies_only_where_every_application_running_the_controller_scans_it() {
        let apps = vec![
            vec!["com.shop".to_owned()],
            vec!["com.shop.demo".to_owned()],
            vec!["com.shop".to_owned()],
        ];
        let advice = "com.shop.common.GlobalExceptionHandler";
        assert!(registered_with(
            &apps,
            "com.shop.admin.OrderController",
            advice
        ));
        // The demo application scans only its own package: the advice is not registered there.
        assert!(!registered_with(
            &apps,
            "com.shop.demo.BrandController",
            advice
        ));
        // No application found: no limit.
        assert!(registered_with(&[], "org.x.Controller", advice));
    }
}
