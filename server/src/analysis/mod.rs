//! Analysis of an indexed repository: symbols, call graph, domains, rules, flows, states.
//! (Being written: see the analysis issue.)
