//! The crate layering of docs/architecture.md, checked from the manifests: the workspace lists
//! its members in pipeline order, and each crate depends (in `[dependencies]`) only on acdp
//! crates listed before it; the index and the analysis, with everything they depend on, build
//! without the model (candle) and the async runtime (tokio).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn manifest(path: &Path) -> toml::Table {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// (package name, names of its normal dependencies), in the workspace's member order.
fn members() -> Vec<(String, BTreeSet<String>)> {
    let root = workspace_root();
    let workspace = manifest(&root.join("Cargo.toml"));
    workspace["workspace"]["members"]
        .as_array()
        .expect("members is a list")
        .iter()
        .map(|member| {
            let crate_manifest = manifest(&root.join(member.as_str().unwrap()).join("Cargo.toml"));
            let name = crate_manifest["package"]["name"]
                .as_str()
                .unwrap()
                .to_owned();
            let dependencies = crate_manifest
                .get("dependencies")
                .and_then(toml::Value::as_table)
                .map(|deps| deps.keys().cloned().collect())
                .unwrap_or_default();
            (name, dependencies)
        })
        .collect()
}

#[test]
fn each_crate_depends_only_on_crates_before_it() {
    let members = members();
    let names: Vec<&str> = members.iter().map(|(name, _)| name.as_str()).collect();
    assert!(names.len() >= 12, "{names:?}");
    for (position, (name, dependencies)) in members.iter().enumerate() {
        for dependency in dependencies.iter().filter(|d| d.starts_with("acdp")) {
            let at = names
                .iter()
                .position(|n| n == dependency)
                .unwrap_or_else(|| panic!("{name} depends on {dependency}, not a member"));
            assert!(
                at < position,
                "{name} depends on {dependency}, which comes after it in the members list"
            );
        }
    }
}

#[test]
fn index_and_analysis_build_without_the_model_and_the_async_runtime() {
    let members = members();
    let dependencies_of = |name: &str| {
        &members
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no member {name}"))
            .1
    };
    for start in ["acdp-index", "acdp-analysis"] {
        let mut todo = vec![start.to_owned()];
        let mut seen = BTreeSet::new();
        while let Some(name) = todo.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            for dependency in dependencies_of(&name) {
                assert!(
                    !dependency.starts_with("candle") && dependency != "tokio",
                    "{start} pulls in {dependency} through {name}"
                );
                if dependency.starts_with("acdp") {
                    todo.push(dependency.clone());
                }
            }
        }
    }
}
