//! Train/dev/test splits without leakage.
//!
//! Samples are grouped (union-find) when they share their primary evidence chunk (the first
//! evidence item: the code the sample is about), their normalised question or requirement, or
//! their language-twin key. Whole groups go to one split, so a test question is never answered
//! by a train sample about the same code, in the same words, or in the other language. Groups
//! are placed in a seeded order, each into the split furthest below its target share.
//! Supporting evidence (an enum, a shared mapper statement) may appear on both sides; the
//! report counts that overlap separately.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use super::dedup::normalise;
use acdp_sample::Sample;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    Train,
    Dev,
    Test,
}

impl Split {
    pub const ALL: [Split; 3] = [Split::Train, Split::Dev, Split::Test];

    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Dev => "dev",
            Split::Test => "test",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct SplitOptions {
    pub dev: f64,
    pub test: f64,
    pub seed: u64,
}

impl Default for SplitOptions {
    fn default() -> Self {
        SplitOptions {
            dev: 0.1,
            test: 0.1,
            seed: 42,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct SplitReport {
    pub groups: usize,
    pub counts: BTreeMap<&'static str, usize>,
    /// Primary evidence chunks, prompts or twin keys found in more than one split: must be 0.
    pub leaked_groups: usize,
    /// Chunks cited (in any position) by samples of different splits: supporting evidence.
    pub shared_supporting_chunks: usize,
}

struct UnionFind(Vec<usize>);

impl UnionFind {
    fn find(&mut self, x: usize) -> usize {
        let mut root = x;
        while self.0[root] != root {
            root = self.0[root];
        }
        let mut x = x;
        while self.0[x] != root {
            let next = self.0[x];
            self.0[x] = root;
            x = next;
        }
        root
    }

    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.0[a.max(b)] = a.min(b);
        }
    }
}

/// Keys that must not be on two sides of a split.
fn group_keys(sample: &Sample) -> Vec<String> {
    let mut keys = vec![
        format!("prompt:{}", normalise(sample.body.prompt())),
        format!("twin:{}", sample.source.twin_key),
    ];
    if let Some(primary) = sample.evidence.first() {
        keys.push(format!("chunk:{}", primary.chunk_id));
    }
    keys
}

/// Assigns each sample (by position) to a split.
pub fn split_samples(samples: &[Sample], options: &SplitOptions) -> (Vec<Split>, SplitReport) {
    let mut sets = UnionFind((0..samples.len()).collect());
    let mut first_with_key: HashMap<String, usize> = HashMap::new();
    for (i, sample) in samples.iter().enumerate() {
        for key in group_keys(sample) {
            match first_with_key.get(&key) {
                Some(&j) => sets.union(i, j),
                None => {
                    first_with_key.insert(key, i);
                }
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..samples.len() {
        groups.entry(sets.find(i)).or_default().push(i);
    }
    // Seeded order: hash of the seed and the group's first sample id.
    let mut order: Vec<(blake3::Hash, Vec<usize>)> = groups
        .into_values()
        .map(|members| {
            let mut hasher = blake3::Hasher::new();
            hasher.update(&options.seed.to_le_bytes());
            hasher.update(samples[members[0]].sample_id.as_bytes());
            (hasher.finalize(), members)
        })
        .collect();
    order.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));

    let targets = [1.0 - options.dev - options.test, options.dev, options.test];
    let mut counts = [0usize; 3];
    let mut assignment = vec![Split::Train; samples.len()];
    let total = samples.len().max(1) as f64;
    for (_, members) in &order {
        // The split furthest below its target share after adding this group.
        let pick = (0..3)
            .filter(|&s| targets[s] > 0.0)
            .min_by(|&a, &b| {
                let deficit =
                    |s: usize| (counts[s] as f64 + members.len() as f64) / total - targets[s];
                deficit(a).total_cmp(&deficit(b))
            })
            .unwrap_or(0);
        counts[pick] += members.len();
        for &m in members {
            assignment[m] = Split::ALL[pick];
        }
    }
    let report = SplitReport {
        groups: order.len(),
        counts: Split::ALL
            .iter()
            .zip(counts)
            .map(|(s, c)| (s.as_str(), c))
            .collect(),
        leaked_groups: count_leaks(samples, &assignment, group_keys),
        shared_supporting_chunks: count_leaks(samples, &assignment, |s| {
            s.evidence.iter().map(|e| e.chunk_id.to_string()).collect()
        }),
    };
    (assignment, report)
}

/// How many keys occur in samples of more than one split.
pub fn count_leaks(
    samples: &[Sample],
    assignment: &[Split],
    keys: impl Fn(&Sample) -> Vec<String>,
) -> usize {
    let mut splits_of: HashMap<String, HashSet<Split>> = HashMap::new();
    for (sample, split) in samples.iter().zip(assignment) {
        for key in keys(sample) {
            splits_of.entry(key).or_default().insert(*split);
        }
    }
    splits_of.values().filter(|s| s.len() > 1).count()
}
