//! Okapi BM25 over bags of stemmed terms: the lexical ranking of chunks and of analysis facts.

use std::collections::HashMap;

/// A BM25 index over documents given as term lists (see [`super::terms::document_terms`]).
pub struct Bm25 {
    term_freqs: Vec<HashMap<String, u32>>,
    lengths: Vec<f64>,
    doc_freq: HashMap<String, u32>,
    avg_len: f64,
}

impl Bm25 {
    const K1: f64 = 1.2;
    const B: f64 = 0.75;

    pub fn new(documents: impl IntoIterator<Item = Vec<String>>) -> Bm25 {
        let mut term_freqs = Vec::new();
        let mut lengths = Vec::new();
        let mut doc_freq: HashMap<String, u32> = HashMap::new();
        for terms in documents {
            let mut tf: HashMap<String, u32> = HashMap::new();
            lengths.push(terms.len() as f64);
            for term in terms {
                *tf.entry(term).or_default() += 1;
            }
            for term in tf.keys() {
                *doc_freq.entry(term.clone()).or_default() += 1;
            }
            term_freqs.push(tf);
        }
        let avg_len = if lengths.is_empty() {
            1.0
        } else {
            lengths.iter().sum::<f64>() / lengths.len() as f64
        };
        Bm25 {
            term_freqs,
            lengths,
            doc_freq,
            avg_len: avg_len.max(1.0),
        }
    }

    pub fn len(&self) -> usize {
        self.term_freqs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.term_freqs.is_empty()
    }

    /// Inverse document frequency of `term` (0 for a term no document holds).
    pub fn idf(&self, term: &str) -> f64 {
        let Some(&df) = self.doc_freq.get(term) else {
            return 0.0;
        };
        let n = self.len() as f64;
        let df = df as f64;
        ((n - df + 0.5) / (df + 0.5) + 1.0).ln()
    }

    /// BM25 score of every document for `query`, index-aligned. Each group is one question
    /// term with its alternatives (stems it extends), weighted: a document scores the best
    /// alternative of each group, so one question word never counts twice.
    pub fn scores(&self, query: &[Vec<(String, f64)>]) -> Vec<f64> {
        let idfs: Vec<Vec<f64>> = query
            .iter()
            .map(|group| group.iter().map(|(t, w)| w * self.idf(t)).collect())
            .collect();
        self.term_freqs
            .iter()
            .zip(&self.lengths)
            .map(|(tf, &len)| {
                let norm = Self::K1 * (1.0 - Self::B + Self::B * len / self.avg_len);
                query
                    .iter()
                    .zip(&idfs)
                    .map(|(group, idfs)| {
                        group
                            .iter()
                            .zip(idfs)
                            .filter_map(|((term, _), idf)| {
                                let f = *tf.get(term)? as f64;
                                Some(idf * f * (Self::K1 + 1.0) / (f + norm))
                            })
                            .fold(0.0, f64::max)
                    })
                    .sum()
            })
            .collect()
    }

    /// The most any document can score for `query`: the best alternative of every group with a
    /// saturated frequency. Scores divided by it say how much of the question a document
    /// covers, comparable across questions (the best of poor matches stays low).
    pub fn ceiling(&self, query: &[Vec<(String, f64)>]) -> f64 {
        query
            .iter()
            .map(|group| {
                group
                    .iter()
                    .map(|(t, w)| w * self.idf(t) * (Self::K1 + 1.0))
                    .fold(0.0, f64::max)
            })
            .sum()
    }

    /// Every term some document holds, in no particular order.
    pub fn vocabulary(&self) -> impl Iterator<Item = &String> {
        self.doc_freq.keys()
    }

    /// Whether document `doc` holds `term`.
    pub fn contains(&self, doc: usize, term: &str) -> bool {
        self.term_freqs[doc].contains_key(term)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(words: &str) -> Vec<String> {
        words.split(' ').map(str::to_string).collect()
    }

    fn query(words: &str) -> Vec<Vec<(String, f64)>> {
        doc(words).into_iter().map(|w| vec![(w, 1.0)]).collect()
    }

    #[test]
    fn rare_terms_weigh_more_and_absent_ones_score_nothing() {
        let bm25 = Bm25::new([doc("order pay"), doc("order stock"), doc("order list")]);
        let scores = bm25.scores(&query("order stock"));
        assert!(scores[1] > scores[0]);
        assert!(scores[0] > 0.0);
        assert_eq!(bm25.scores(&query("coupon")), [0.0, 0.0, 0.0]);
        assert!(bm25.idf("stock") > bm25.idf("order"));
        let alternatives = vec![vec![("stock".to_string(), 1.0), ("order".to_string(), 0.5)]];
        let best_of = bm25.scores(&alternatives);
        assert!((best_of[1] - (scores[1] - bm25.scores(&query("order"))[1])).abs() < 1e-12);
        assert!(best_of.iter().all(|s| *s <= bm25.ceiling(&alternatives)));
    }
}
