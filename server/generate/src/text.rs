//! Small helpers for writing sample text in both languages with seeded variety.

use acdp_sample::SampleLanguage;

/// Picks one of `options` deterministically from a seed and a key (a rule or flow id), so
/// phrasing varies across samples but not across runs.
pub fn pick<'t>(seed: u64, key: &str, options: &[&'t str]) -> &'t str {
    options[(seeded_rank(seed, key) % options.len() as u64) as usize]
}

/// A number fixed by the seed and the key: a deterministic order that varies with the seed.
pub fn seeded_rank(seed: u64, key: &str) -> u64 {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&seed.to_le_bytes());
    hasher.update(key.as_bytes());
    u64::from_le_bytes(
        hasher.finalize().as_bytes()[..8]
            .try_into()
            .expect("8 bytes"),
    )
}

/// `en` or `zh` by language.
pub fn by_lang<'t>(language: SampleLanguage, en: &'t str, zh: &'t str) -> &'t str {
    match language {
        SampleLanguage::En => en,
        SampleLanguage::Zh => zh,
    }
}

/// Source text on one line, whitespace compacted, for quoting in backticks.
pub fn one_line(code: &str) -> String {
    code.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Fills `{name}` placeholders.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}
