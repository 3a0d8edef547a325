//! Analysis of fixtures/shop compared with the hand-written expectations in
//! fixtures/shop/expected/ (matching rules in its README). Built with the index and analysis
//! crates alone (`cargo test -p acdp-analysis`); `acdp analyze` end to end is in analyze.rs.
//!
//! Prints recall and precision for rules, flows (entries and steps) and states (machines and
//! transitions), and asserts the targets: recall >= 95 %, precision >= 90 %.

use std::path::{Path, PathBuf};

use acdp_analysis::{Analysis, AnalysisSettings, analyze};
use acdp_index::{IndexOptions, index_workspace, index_workspace_with_trees};
use serde_json::Value;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/shop")
}

fn analyse_fixture() -> Analysis {
    // No stored state: the test must not write `.acdp/` into fixtures/.
    let options = IndexOptions {
        use_cache: false,
        ..IndexOptions::default()
    };
    let index = index_workspace(&fixture(), &options).expect("fixture indexes");
    analyze(&index, &AnalysisSettings::default())
}

fn expected(name: &str) -> Value {
    let path = fixture().join("expected").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("expected file is JSON")
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("serialisable")
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

struct Score {
    what: &'static str,
    expected: usize,
    found: usize,
    matched_expected: usize,
    matched_found: usize,
}

impl Score {
    fn recall(&self) -> f64 {
        if self.expected == 0 {
            1.0
        } else {
            self.matched_expected as f64 / self.expected as f64
        }
    }
    fn precision(&self) -> f64 {
        if self.found == 0 {
            1.0
        } else {
            self.matched_found as f64 / self.found as f64
        }
    }
    fn print(&self) {
        println!(
            "{:<22} recall {:>5.1}% ({}/{})  precision {:>5.1}% ({}/{})",
            self.what,
            self.recall() * 100.0,
            self.matched_expected,
            self.expected,
            self.precision() * 100.0,
            self.matched_found,
            self.found
        );
    }
    fn assert_targets(&self) {
        assert!(
            self.recall() >= 0.95,
            "{}: recall {:.3} below 0.95",
            self.what,
            self.recall()
        );
        assert!(
            self.precision() >= 0.90,
            "{}: precision {:.3} below 0.90",
            self.what,
            self.precision()
        );
    }
}

/// One-to-one matching: each expected entry takes the first unused finding it accepts.
fn match_one_to_one(
    expected: &[Value],
    found: &[Value],
    accepts: impl Fn(&Value, &Value) -> bool,
) -> (Vec<Option<usize>>, Vec<bool>) {
    let mut used = vec![false; found.len()];
    let mut pairs = Vec::new();
    for e in expected {
        let hit = (0..found.len()).find(|&i| !used[i] && accepts(e, &found[i]));
        if let Some(i) = hit {
            used[i] = true;
        }
        pairs.push(hit);
    }
    (pairs, used)
}

fn rule_accepts(e: &Value, f: &Value) -> bool {
    let kind = s(f, "kind");
    let kind_ok = s(e, "kind") == kind
        || e.get("alt_kinds")
            .and_then(Value::as_array)
            .is_some_and(|alts| alts.iter().any(|a| a.as_str() == Some(kind)));
    let consequence_ok = match e.get("consequence_contains").and_then(Value::as_str) {
        Some(c) => s(f, "consequence").contains(c),
        None => true,
    };
    let field_ok = match e.get("field").and_then(Value::as_str) {
        Some(field) => s(f, "field") == field,
        None => true,
    };
    s(e, "symbol") == s(f, "symbol")
        && kind_ok
        && s(f, "condition").contains(s(e, "condition_contains"))
        && consequence_ok
        && field_ok
        && s(e, "path") == s(f, "path")
}

#[test]
fn rules_flows_and_states_match_the_expected_analysis() {
    let analysis = analyse_fixture();

    // Rules.
    let expected_rules = expected("rules.json")["rules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let found_rules: Vec<Value> = analysis.rules.iter().map(to_json).collect();
    let (pairs, used) = match_one_to_one(&expected_rules, &found_rules, rule_accepts);
    let rules = Score {
        what: "rules",
        expected: expected_rules.len(),
        found: found_rules.len(),
        matched_expected: pairs.iter().flatten().count(),
        matched_found: used.iter().filter(|u| **u).count(),
    };
    for (e, hit) in expected_rules.iter().zip(&pairs) {
        if hit.is_none() {
            println!(
                "  missed rule: {} {} [{}]",
                s(e, "kind"),
                s(e, "symbol"),
                s(e, "condition_contains")
            );
        }
    }
    for (f, u) in found_rules.iter().zip(&used) {
        if !u {
            println!(
                "  extra rule: {} {} [{}] -> {}",
                s(f, "kind"),
                s(f, "symbol"),
                s(f, "condition"),
                s(f, "consequence")
            );
        }
    }
    // Matched computations must name the expected terms.
    for (e, hit) in expected_rules.iter().zip(&pairs) {
        if let (Some(terms), Some(i)) = (e.get("terms"), hit) {
            assert_eq!(
                Some(terms),
                found_rules[*i].get("terms"),
                "terms of {}",
                s(e, "symbol")
            );
        }
        if let (Some(timing), Some(i)) = (e.get("timing"), hit) {
            assert_eq!(
                Some(timing),
                found_rules[*i].get("timing"),
                "timing of {}",
                s(e, "symbol")
            );
        }
    }

    // Flows: entries, then steps of matched entries (as sets and in order).
    let expected_flows = expected("flows.json")["flows"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let found_flows: Vec<Value> = analysis.flows.iter().map(to_json).collect();
    let entry_accepts = |e: &Value, f: &Value| {
        let (e, f) = (&e["entry"], &f["entry"]);
        s(e, "symbol") == s(f, "symbol")
            && s(e, "kind") == s(f, "kind")
            && e["verb"] == f["verb"]
            && e["path"] == f["path"]
            && e.get("timing").is_none_or(|t| Some(t) == f.get("timing"))
    };
    let (flow_pairs, flow_used) = match_one_to_one(&expected_flows, &found_flows, entry_accepts);
    let flows = Score {
        what: "flows (entries)",
        expected: expected_flows.len(),
        found: found_flows.len(),
        matched_expected: flow_pairs.iter().flatten().count(),
        matched_found: flow_used.iter().filter(|u| **u).count(),
    };
    let (mut step_expected, mut step_found, mut step_hits, mut in_order) = (0, 0, 0, 0);
    for (e, hit) in expected_flows.iter().zip(&flow_pairs) {
        let want: Vec<&str> = e["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        step_expected += want.len();
        let Some(i) = hit else {
            println!("  missed flow: {}", s(&e["entry"], "symbol"));
            continue;
        };
        let got: Vec<&str> = found_flows[*i]["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|st| s(st, "symbol"))
            .collect();
        step_found += got.len();
        step_hits += want.iter().filter(|w| got.contains(w)).count();
        if got == want {
            in_order += 1;
        } else {
            println!(
                "  steps differ for {}:\n    want {want:?}\n    got  {got:?}",
                s(&e["entry"], "symbol")
            );
        }
    }
    let steps = Score {
        what: "flow steps",
        expected: step_expected,
        found: step_found,
        matched_expected: step_hits,
        matched_found: step_hits,
    };

    // States: machines by (entity, field), transitions by (from, to, method).
    let expected_machines = expected("states.json")["machines"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let found_machines: Vec<Value> = analysis.states.iter().map(to_json).collect();
    let machine_accepts =
        |e: &Value, f: &Value| s(e, "entity") == s(f, "entity") && s(e, "field") == s(f, "field");
    let (machine_pairs, machine_used) =
        match_one_to_one(&expected_machines, &found_machines, machine_accepts);
    let machines = Score {
        what: "state machines",
        expected: expected_machines.len(),
        found: found_machines.len(),
        matched_expected: machine_pairs.iter().flatten().count(),
        matched_found: machine_used.iter().filter(|u| **u).count(),
    };
    let (mut t_expected, mut t_found, mut t_matched) = (0, 0, 0);
    let (mut v_expected, mut v_matched) = (0, 0);
    for (i, f) in found_machines.iter().enumerate() {
        let transitions = f["transitions"].as_array().map_or(0, Vec::len);
        t_found += transitions;
        if !machine_used[i] {
            println!("  extra machine: {}.{}", s(f, "entity"), s(f, "field"));
        }
    }
    for (e, hit) in expected_machines.iter().zip(&machine_pairs) {
        let want = e["transitions"].as_array().cloned().unwrap_or_default();
        t_expected += want.len();
        let want_values = e["values"].as_array().cloned().unwrap_or_default();
        v_expected += want_values.len();
        let Some(i) = hit else { continue };
        let got = found_machines[*i]["transitions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let got_values = found_machines[*i]["values"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        v_matched += want_values
            .iter()
            .filter(|w| {
                got_values.iter().any(|g| {
                    g["value"] == w["value"] && (w["name"].is_null() || g["name"] == w["name"])
                })
            })
            .count();
        let accepts = |w: &Value, g: &Value| {
            w["from"] == g["from"]
                && w["to"] == g["to"]
                && s(w, "method") == s(g, "method")
                && w.get("guard_contains")
                    .and_then(Value::as_str)
                    .is_none_or(|c| s(g, "guard").contains(c))
        };
        let (pairs, used) = match_one_to_one(&want, &got, accepts);
        t_matched += pairs.iter().flatten().count();
        for (w, hit) in want.iter().zip(&pairs) {
            if hit.is_none() {
                println!(
                    "  missed transition {}.{}: {:?} -> {} in {}",
                    s(e, "entity"),
                    s(e, "field"),
                    w["from"],
                    w["to"],
                    s(w, "method")
                );
            }
        }
        for (g, u) in got.iter().zip(&used) {
            if !u {
                println!(
                    "  extra transition {}.{}: {:?} -> {} in {} [{}]",
                    s(e, "entity"),
                    s(e, "field"),
                    g["from"],
                    g["to"],
                    s(g, "method"),
                    s(g, "guard")
                );
            }
        }
    }
    let transitions = Score {
        what: "state transitions",
        expected: t_expected,
        found: t_found,
        matched_expected: t_matched,
        matched_found: t_matched,
    };

    println!("analysis of fixtures/shop vs fixtures/shop/expected:");
    for score in [&rules, &flows, &steps, &machines, &transitions] {
        score.print();
    }
    println!(
        "flows with identical step sequences: {in_order}/{}",
        expected_flows.len()
    );
    println!("state values found: {v_matched}/{v_expected}");
    let cg = &analysis.stats.call_graph;
    println!(
        "call graph: {} resolved, {} external, {} unresolved; analysis {:.1} ms",
        cg.resolved, cg.external, cg.unresolved, analysis.stats.elapsed_ms
    );
    for score in [&rules, &flows, &steps, &machines, &transitions] {
        score.assert_targets();
    }
    assert_eq!(v_matched, v_expected, "every state value is found");
}

/// The trees the index keeps for the analysis are the trees the analysis would parse: the
/// result is the same, fact for fact, and `drop_trees` frees them.
#[test]
fn trees_kept_by_the_index_give_the_same_analysis_as_a_fresh_parse() {
    let options = IndexOptions {
        use_cache: false,
        ..IndexOptions::default()
    };
    let mut with_trees = index_workspace_with_trees(&fixture(), &options).expect("fixture indexes");
    let java = with_trees
        .files
        .iter()
        .filter(|f| f.path.ends_with(".java"));
    assert!(java.clone().count() > 0);
    assert!(
        java.clone().all(|f| f.tree.is_some()),
        "every parsed Java file keeps its tree"
    );
    let reused = analyze(&with_trees, &AnalysisSettings::default());
    let fresh = analyse_fixture();
    assert_eq!(to_json(&reused), to_json(&fresh));
    assert_eq!(reused.stats.java_files, fresh.stats.java_files);
    with_trees.drop_trees();
    assert!(with_trees.files.iter().all(|f| f.tree.is_none()));
}

#[test]
fn every_record_cites_existing_chunks_and_generated_code_is_not_evidence() {
    let options = IndexOptions {
        use_cache: false,
        ..IndexOptions::default()
    };
    let index = index_workspace(&fixture(), &options).expect("fixture indexes");
    let analysis = analyze(&index, &AnalysisSettings::default());
    for rule in &analysis.rules {
        assert!(!rule.chunk_ids.is_empty(), "{rule:?}");
        for id in &rule.chunk_ids {
            let (file, _) = index.chunk(id).expect("rule cites an indexed chunk");
            assert!(
                !file.text.contains("@mbg.generated"),
                "rule cites generated code: {rule:?}"
            );
        }
    }
    for flow in &analysis.flows {
        assert!(flow.steps.iter().all(|s| {
            s.chunk_id
                .as_ref()
                .is_some_and(|c| index.chunk(c).is_some())
        }));
    }
    // Stable ids: a second run gives the same output, byte for byte.
    let again = analyze(&index, &AnalysisSettings::default());
    assert_eq!(
        serde_json::to_string(&analysis.rules).unwrap(),
        serde_json::to_string(&again.rules).unwrap()
    );
    assert_eq!(
        serde_json::to_string(&analysis.flows).unwrap(),
        serde_json::to_string(&again.flows).unwrap()
    );
    // Statements say the resolved values of the constants they mention.
    let pay = analysis
        .rules
        .iter()
        .find(|r| {
            r.condition.contains("OrderStatus.WAIT_PAY.getValue()") && r.symbol.contains(".pay(")
        })
        .expect("status check in pay");
    assert!(pay.statement.contains("= 0"), "{}", pay.statement);
}
