//! The optional second pass: the model reads a sample's evidence and its claims (the answer's
//! sentences or the design's summary, and every trace step) and says which ones the code does
//! not support. The verdict is stored in the sample (`judgement`); with `judge = "filter"` the
//! pipeline leaves unsupported samples out. A small model's verdict is a hint, not a proof:
//! the path-fact check and validation run regardless.

use serde::Deserialize;
use serde_json::{Value, json};

use super::prompt::push_evidence;
use super::reply::{ReplyError, first_json_object};
use acdp_sample::{Judgement, Sample, SampleBody};

pub fn system_message() -> String {
    "You check training data about Java code. The user gives code chunks, each headed by its \
     chunk id, and numbered claims someone wrote about that code. For each claim decide \
     whether the code shows it holds on every execution it describes: the names, values, \
     conditions and order of calls must match the code. A claim that says something happens \
     always, when the code does it only on one branch, is not supported. Reply with one JSON \
     object: {\"claims\": [{\"claim\": number, \"supported\": boolean}, ...]}, one entry per \
     claim, and nothing else."
        .to_owned()
}

/// The claims a sample makes, numbered from 1 in the user message.
pub fn claims(sample: &Sample) -> Vec<String> {
    let main = match &sample.body {
        SampleBody::Qa { answer, .. } => answer.clone(),
        SampleBody::Design { design, .. } => design.summary.clone(),
    };
    std::iter::once(main)
        .chain(sample.trace.iter().map(|step| step.claim.clone()))
        .filter(|claim| !claim.trim().is_empty())
        .collect()
}

pub fn user_message(sample: &Sample) -> String {
    let mut out = String::from("Code:\n");
    push_evidence(&mut out, &sample.evidence);
    out.push_str(&format!("\nAbout: {}\n\nClaims:\n", sample.body.prompt()));
    for (n, claim) in claims(sample).iter().enumerate() {
        out.push_str(&format!("{}. {claim}\n", n + 1));
    }
    out
}

pub fn schema(sample: &Sample) -> Value {
    let count = claims(sample).len();
    json!({
        "type": "object",
        "properties": {"claims": {
            "type": "array", "minItems": count, "maxItems": count,
            "items": {
                "type": "object",
                "properties": {
                    "claim": {"type": "integer"},
                    "supported": {"type": "boolean"},
                },
                "required": ["claim", "supported"],
                "additionalProperties": false,
            },
        }},
        "required": ["claims"],
        "additionalProperties": false,
    })
}

#[derive(Deserialize)]
struct Verdicts {
    claims: Vec<Verdict>,
}

#[derive(Deserialize)]
struct Verdict {
    claim: usize,
    supported: bool,
}

/// The sample with the verdict in the reply attached. A reply that leaves a claim out is a
/// wrong schema: a verdict on part of the claims is no verdict.
pub fn read(content: &str, sample: &Sample, model: &str) -> Result<Sample, ReplyError> {
    let object = first_json_object(content).ok_or_else(|| {
        ReplyError::MalformedJson("the reply contains no complete JSON object".to_owned())
    })?;
    let verdicts: Verdicts = serde_json::from_value(Value::Object(object))
        .map_err(|err| ReplyError::WrongSchema(err.to_string()))?;
    let claims = claims(sample);
    let mut judged = vec![None; claims.len()];
    for verdict in verdicts.claims {
        if let Some(slot) = verdict.claim.checked_sub(1).and_then(|i| judged.get_mut(i)) {
            *slot = Some(verdict.supported);
        }
    }
    if judged.iter().any(Option::is_none) {
        return Err(ReplyError::WrongSchema(format!(
            "give a verdict for each of the {} claims, numbered from 1",
            claims.len()
        )));
    }
    let unsupported: Vec<String> = claims
        .into_iter()
        .zip(judged)
        .filter(|(_, supported)| *supported == Some(false))
        .map(|(claim, _)| claim)
        .collect();
    let mut judged_sample = sample.clone();
    judged_sample.judgement = Some(Judgement {
        model: model.to_owned(),
        supported: unsupported.is_empty(),
        unsupported,
    });
    Ok(judged_sample)
}
