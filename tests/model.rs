//! Model stage: a tiny random Qwen2 (2 layers, hidden 64) and a word-level tokenizer built
//! here (tests/support/tiny_model.rs), saved as safetensors + config.json + tokenizer.json into
//! a temporary directory.

#[path = "support/tiny_model.rs"]
mod tiny_model;

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use acdp_index::{IndexOptions, index_workspace};
use acdp_model::answer::{NOT_ENOUGH_EVIDENCE, RetrievedChunk, Task, check_answer};
use acdp_model::chat::{Message, render_chat, tokenize_chat};
use acdp_model::quantized_qwen2::{Kernels, ModelWeights};
use acdp_model::train::{TrainExample, TrainOptions, learning_rate, load_examples, train_lora};
use acdp_model::{
    GenerationOptions, LoadedModel, LoraConfig, Qwen2Config, Qwen2Model, SplitMix64, StopReason,
    generate::Network, load_model,
};
use acdp_retrieval::{RetrievalMode, Retriever};
use candle_core::{Device, IndexOp, Tensor};
use tiny_model::{random, vocab_size, write_tiny_gguf, write_tiny_model};
use tokenizers::Tokenizer;

fn tiny_model_dir(tie: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    write_tiny_model(dir.path(), tie, 7);
    dir
}

fn tokenizer(dir: &Path) -> Tokenizer {
    Tokenizer::from_file(dir.join("tokenizer.json")).expect("tokenizer")
}

fn ids(tok: &Tokenizer, text: &str) -> Tensor {
    let ids = tok.encode(text, false).unwrap().get_ids().to_vec();
    Tensor::new(ids.as_slice(), &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

#[test]
fn config_tolerates_null_sliding_window_and_missing_fields() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(
        &path,
        r#"{"vocab_size": 10, "hidden_size": 8, "intermediate_size": 16,
        "num_hidden_layers": 1, "num_attention_heads": 2, "sliding_window": null}"#,
    )
    .unwrap();
    let config = Qwen2Config::load(&path).expect("parses");
    assert_eq!(config.num_kv_heads(), 2);
    assert_eq!(config.rope_theta, 1_000_000.0);
    assert!(!config.tie_word_embeddings);
}

#[test]
fn logits_have_one_row_per_position_and_the_kv_cache_agrees() {
    let dir = tiny_model_dir(true);
    let tok = tokenizer(dir.path());
    let mut model = Qwen2Model::load(dir.path(), &Device::Cpu).unwrap();
    let input = ids(&tok, "<|im_start|>user what does the order service do");
    let seq = input.dims()[1];
    let logits = model.forward(&input, 0).unwrap();
    assert_eq!(logits.dims(), &[1, seq, vocab_size()]);

    model.clear_kv_cache();
    let prefix = input.narrow(1, 0, seq - 1).unwrap();
    model.forward_last(&prefix, 0).unwrap();
    let last = input.narrow(1, seq - 1, 1).unwrap();
    let cached = model.forward_last(&last, seq - 1).unwrap();
    let full_last = logits.i((0, seq - 1)).unwrap();
    assert!(max_abs_diff(&cached, &full_last) < 1e-4);
}

/// Writes a PEFT adapter with random A and B (B non-zero, so the adapter changes outputs).
fn write_random_adapter(dir: &Path, mlp: bool) {
    let mut rng = SplitMix64::new(3);
    let mut t = HashMap::new();
    let mut modules = vec![
        ("self_attn", "q_proj", 64, 64),
        ("self_attn", "k_proj", 64, 32),
        ("self_attn", "v_proj", 64, 32),
        ("self_attn", "o_proj", 64, 64),
    ];
    if mlp {
        modules.push(("mlp", "gate_proj", 64, 128));
    }
    for l in 0..2 {
        for (block, m, input, out) in &modules {
            let p = format!("base_model.model.model.layers.{l}.{block}.{m}");
            t.insert(
                format!("{p}.lora_A.weight"),
                random(&[4, *input], 0.2, &mut rng),
            );
            t.insert(
                format!("{p}.lora_B.weight"),
                random(&[*out, 4], 0.2, &mut rng),
            );
        }
    }
    candle_core::safetensors::save(&t, dir.join("adapter_model.safetensors")).unwrap();
    let targets: Vec<&str> = modules.iter().map(|m| m.1).collect();
    let config = serde_json::json!({"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 4,
        "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": targets, "bias": "none"});
    std::fs::write(dir.join("adapter_config.json"), config.to_string()).unwrap();
}

#[test]
fn merged_and_unmerged_adapters_give_the_same_logits() {
    let dir = tiny_model_dir(false);
    let adapter = tempfile::tempdir().unwrap();
    write_random_adapter(adapter.path(), true);
    let tok = tokenizer(dir.path());
    let input = ids(&tok, "<|im_start|>user who locks the stock after payment");

    let mut base = Qwen2Model::load(dir.path(), &Device::Cpu).unwrap();
    let base_logits = base.forward(&input, 0).unwrap();
    let mut model = Qwen2Model::load(dir.path(), &Device::Cpu).unwrap();
    model.load_adapter(adapter.path()).unwrap();
    let unmerged = model.forward(&input, 0).unwrap();
    model.clear_kv_cache();
    model.merge_lora().unwrap();
    let merged = model.forward(&input, 0).unwrap();

    assert!(
        max_abs_diff(&base_logits, &unmerged) > 1e-2,
        "the adapter must change the logits"
    );
    assert!(max_abs_diff(&unmerged, &merged) < 1e-4);
}

/// PEFT's string forms of `target_modules` (`"all-linear"`, a regex) load: the adapter's
/// tensors say what it adapts, and the logits equal those of the same adapter with the list.
#[test]
fn an_adapter_with_all_linear_target_modules_loads_as_the_listed_one() {
    let dir = tiny_model_dir(true);
    let listed = tempfile::tempdir().unwrap();
    write_random_adapter(listed.path(), true);
    let tok = tokenizer(dir.path());
    let input = ids(&tok, "<|im_start|>user who locks the stock after payment");
    let logits = |adapter: &Path| {
        let mut model = Qwen2Model::load(dir.path(), &Device::Cpu).unwrap();
        model.load_adapter(adapter).unwrap();
        model.forward(&input, 0).unwrap()
    };
    let expected = logits(listed.path());
    for pattern in ["all-linear", r".*\.(q_proj|k_proj|v_proj|o_proj|gate_proj)"] {
        let other = tempfile::tempdir().unwrap();
        std::fs::copy(
            listed.path().join("adapter_model.safetensors"),
            other.path().join("adapter_model.safetensors"),
        )
        .unwrap();
        let mut config: serde_json::Value = serde_json::from_slice(
            &std::fs::read(listed.path().join("adapter_config.json")).unwrap(),
        )
        .unwrap();
        config["target_modules"] = serde_json::json!(pattern);
        std::fs::write(other.path().join("adapter_config.json"), config.to_string()).unwrap();
        assert!(
            max_abs_diff(&expected, &logits(other.path())) < 1e-6,
            "{pattern}"
        );
    }
}

#[test]
fn peft_adapter_round_trip_keeps_keys_shapes_and_logits() {
    let dir = tiny_model_dir(true);
    let adapter = tempfile::tempdir().unwrap();
    write_random_adapter(adapter.path(), false);
    let tok = tokenizer(dir.path());
    let input = ids(&tok, "<|im_start|>user how many points");

    let mut model = Qwen2Model::load(dir.path(), &Device::Cpu).unwrap();
    model.load_adapter(adapter.path()).unwrap();
    let before = model.forward(&input, 0).unwrap();
    let saved = tempfile::tempdir().unwrap();
    model
        .save_adapter(saved.path(), Some("tiny".into()))
        .unwrap();

    let tensors = candle_core::safetensors::load(
        saved.path().join("adapter_model.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    let a = &tensors["base_model.model.model.layers.1.self_attn.k_proj.lora_A.weight"];
    let b = &tensors["base_model.model.model.layers.1.self_attn.k_proj.lora_B.weight"];
    assert_eq!(a.dims(), &[4, 64]);
    assert_eq!(b.dims(), &[32, 4]);
    assert_eq!(tensors.len(), 2 * 4 * 2);
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(saved.path().join("adapter_config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(config["peft_type"], "LORA");
    assert_eq!(config["r"], 4);

    let mut reloaded = Qwen2Model::load(dir.path(), &Device::Cpu).unwrap();
    reloaded.load_adapter(saved.path()).unwrap();
    let after = reloaded.forward(&input, 0).unwrap();
    assert!(max_abs_diff(&before, &after) < 1e-6);
}

fn memorisation_set() -> Vec<Vec<Message>> {
    let qa = [
        (
            "what does the order service do",
            "it locks the stock and grants points after payment",
        ),
        (
            "who refunds a return",
            "the return service refunds the member",
        ),
        (
            "when does a coupon expire",
            "a coupon expires after payment",
        ),
    ];
    qa.iter()
        .map(|(q, a)| {
            vec![
                Message::new("system", "you answer about the shop"),
                Message::new("user", *q),
                Message::new("assistant", *a),
            ]
        })
        .collect()
}

fn examples(tok: &Tokenizer) -> Vec<TrainExample> {
    memorisation_set()
        .iter()
        .map(|m| {
            let (tokens, loss_mask) = tokenize_chat(tok, m).unwrap();
            TrainExample { tokens, loss_mask }
        })
        .collect()
}

fn memorise_options(epochs: usize) -> TrainOptions {
    TrainOptions {
        lora: LoraConfig {
            rank: 8,
            alpha: 16.0,
            dropout: 0.0,
            mlp: true,
        },
        learning_rate: 1e-2,
        epochs,
        accumulation: 1,
        warmup_steps: 5,
        checkpoint_every: 0,
        ..TrainOptions::default()
    }
}

#[test]
fn loss_covers_assistant_tokens_and_their_end_token_only() {
    let dir = tiny_model_dir(true);
    let tok = tokenizer(dir.path());
    let (tokens, mask) = tokenize_chat(&tok, &memorisation_set()[1]).unwrap();
    let trained: Vec<String> = tokens
        .iter()
        .zip(&mask)
        .filter(|(_, m)| **m)
        .map(|(t, _)| tok.id_to_token(*t).unwrap())
        .collect();
    assert_eq!(
        trained,
        [
            "the",
            "return",
            "service",
            "refunds",
            "the",
            "member",
            "<|im_end|>"
        ]
    );
    let text = render_chat(&memorisation_set()[1], false);
    assert!(text.starts_with("<|im_start|>system\nyou answer about the shop<|im_end|>\n"));
}

/// The LoRA gradients of one sample: `(loss, gradients in lora_vars order)`, either from the
/// plain backward over the whole graph or from the recomputing one. Dropout is on (same seed
/// both ways) and every B is random, so every A and B has a non-zero gradient.
fn lora_gradients(
    model: &mut Qwen2Model,
    example: &TrainExample,
    recompute: bool,
) -> (f64, Vec<Tensor>) {
    model.set_training(Some(9));
    if recompute {
        return model
            .masked_loss_backward(&example.tokens, &example.loss_mask, 1.0)
            .unwrap()
            .unwrap();
    }
    let loss = model
        .masked_loss(&example.tokens, &example.loss_mask)
        .unwrap()
        .unwrap();
    let store = loss.backward().unwrap();
    let grads = model
        .lora_vars()
        .iter()
        .map(|v| store.get(v).expect("every adapter has a gradient").clone())
        .collect();
    (loss.to_scalar::<f32>().unwrap() as f64, grads)
}

fn adapted_for_gradients(model: &mut Qwen2Model) {
    let config = LoraConfig {
        rank: 4,
        alpha: 8.0,
        dropout: 0.1,
        mlp: true,
    };
    model.attach_lora(&config, 5).unwrap();
    let mut rng = SplitMix64::new(11);
    for b in model.lora_vars().iter().skip(1).step_by(2) {
        b.set(&random(b.dims(), 0.1, &mut rng)).unwrap();
    }
}

#[test]
fn recomputed_layer_gradients_equal_the_plain_backward() {
    let dir = tiny_model_dir(true);
    let tok = tokenizer(dir.path());
    let example = &examples(&tok)[0];
    let mut model = Qwen2Model::load_for_training(dir.path(), &Device::Cpu).unwrap();
    adapted_for_gradients(&mut model);
    let (plain_loss, plain) = lora_gradients(&mut model, example, false);
    let plain_rng = model.training_rng_state();
    // Three trained rows per lm_head chunk, so the loss is also computed in pieces.
    model.set_loss_chunk_rows(Some(3));
    let (loss, grads) = lora_gradients(&mut model, example, true);
    assert_eq!(
        model.training_rng_state(),
        plain_rng,
        "dropout RNG ends where it would"
    );
    assert!((loss - plain_loss).abs() < 1e-5, "{loss} vs {plain_loss}");
    // 2 layers x 7 projections x (A, B).
    assert_eq!(grads.len(), 28);
    assert_eq!(plain.len(), 28);
    for (i, (g, p)) in grads.iter().zip(&plain).enumerate() {
        assert_eq!(g.dims(), p.dims());
        let size = p
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(
            size > 1e-4,
            "variable {i} has a gradient of zero in the plain backward"
        );
        let diff = max_abs_diff(g, p);
        assert!(
            diff < 1e-5,
            "variable {i}: recomputed gradient differs by {diff} (max {size})"
        );
    }
    // Without dropout, the graph-free loss (dev loss) equals the plain one.
    model.set_training(None);
    let value = model
        .masked_loss_value(&example.tokens, &example.loss_mask)
        .unwrap()
        .unwrap();
    let expected = model
        .masked_loss(&example.tokens, &example.loss_mask)
        .unwrap()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap() as f64;
    assert!((value - expected).abs() < 1e-5, "{value} vs {expected}");
}

#[test]
fn bf16_weights_stay_bf16_for_training_and_give_the_f32_gradients() {
    let dir = tiny_model_dir(false);
    let bf16 = tempfile::tempdir().unwrap();
    let tensors =
        candle_core::safetensors::load(dir.path().join("model.safetensors"), &Device::Cpu)
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, v.to_dtype(candle_core::DType::BF16).unwrap()))
            .collect::<HashMap<_, _>>();
    candle_core::safetensors::save(&tensors, bf16.path().join("model.safetensors")).unwrap();
    for file in ["config.json", "tokenizer.json"] {
        std::fs::copy(dir.path().join(file), bf16.path().join(file)).unwrap();
    }
    let tok = tokenizer(bf16.path());
    let example = &examples(&tok)[1];
    // The f32 model holds exactly the bf16 values, converted once at load.
    let mut f32_model = Qwen2Model::load(bf16.path(), &Device::Cpu).unwrap();
    let mut model = Qwen2Model::load_for_training(bf16.path(), &Device::Cpu).unwrap();
    assert_eq!(f32_model.matrix_dtype(), Some(candle_core::DType::F32));
    assert_eq!(model.matrix_dtype(), Some(candle_core::DType::BF16));
    adapted_for_gradients(&mut f32_model);
    adapted_for_gradients(&mut model);
    let (f32_loss, f32_grads) = lora_gradients(&mut f32_model, example, false);
    let (loss, grads) = lora_gradients(&mut model, example, true);
    assert!((loss - f32_loss).abs() < 1e-5, "{loss} vs {f32_loss}");
    for (i, (g, p)) in grads.iter().zip(&f32_grads).enumerate() {
        let diff = max_abs_diff(g, p);
        assert!(
            diff < 1e-5,
            "variable {i}: bf16-weight gradient differs by {diff}"
        );
    }
    // Inference on the training load works too (bf16 matrices converted per product).
    model.set_training(None);
    f32_model.set_training(None);
    let input = ids(&tok, "<|im_start|>user who refunds a return");
    let logits = model.forward(&input, 0).unwrap();
    let f32_logits = f32_model.forward(&input, 0).unwrap();
    assert!(max_abs_diff(&logits, &f32_logits) < 1e-4);
}

#[test]
fn training_memorises_and_generation_stops_at_im_end() {
    let dir = tiny_model_dir(true);
    let tok = tokenizer(dir.path());
    let data = examples(&tok);
    let out = tempfile::tempdir().unwrap();
    let mut model = Qwen2Model::load(dir.path(), &Device::Cpu).unwrap();
    let report = train_lora(
        &mut model,
        &data,
        &data,
        &memorise_options(40),
        out.path(),
        false,
        None,
        &mut |_| ControlFlow::Continue(()),
    )
    .unwrap();
    let first = report.first_loss.unwrap();
    let last = report.dev_loss.unwrap();
    assert!(last <= 0.2 * first, "loss went from {first} to {last}");
    assert!(out.path().join("adapter_model.safetensors").is_file());
    let csv = std::fs::read_to_string(out.path().join("loss.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + report.steps);
    assert!(
        std::fs::read_to_string(out.path().join("loss.svg"))
            .unwrap()
            .contains("<polyline")
    );

    // The trained adapter, loaded from disk and merged, answers a training question and stops.
    let mut loaded = load_model(dir.path(), Some(out.path()), &Device::Cpu).unwrap();
    let conversation = &memorisation_set()[0][..2];
    let options = GenerationOptions {
        max_tokens: 30,
        ..GenerationOptions::default()
    };
    let generation = loaded.chat(conversation, &options).unwrap();
    assert_eq!(generation.stop, StopReason::EndToken);
    assert_eq!(
        generation.text,
        "it locks the stock and grants points after payment"
    );
}

#[test]
fn checkpoints_resume_where_training_stopped() {
    let dir = tiny_model_dir(true);
    let tok = tokenizer(dir.path());
    let data = examples(&tok);
    let out = tempfile::tempdir().unwrap();
    let mut options = memorise_options(2);
    options.checkpoint_every = 3;
    let mut model = Qwen2Model::load(dir.path(), &Device::Cpu).unwrap();
    let first = train_lora(
        &mut model,
        &data,
        &[],
        &options,
        out.path(),
        false,
        None,
        &mut |_| ControlFlow::Continue(()),
    )
    .unwrap();
    assert_eq!(first.steps, 6);
    assert!(
        out.path()
            .join("checkpoint-000006/optimizer.safetensors")
            .is_file()
    );
    assert!(
        out.path()
            .join("checkpoint-000006/trainer_state.json")
            .is_file()
    );

    options.epochs = 4;
    let mut model = Qwen2Model::load(dir.path(), &Device::Cpu).unwrap();
    let mut steps = Vec::new();
    let resumed = train_lora(
        &mut model,
        &data,
        &[],
        &options,
        out.path(),
        true,
        None,
        &mut |s| {
            steps.push(s.step);
            ControlFlow::Continue(())
        },
    )
    .unwrap();
    assert_eq!(resumed.resumed_from_step, Some(6));
    assert_eq!(steps, (7..=12).collect::<Vec<_>>());
    let csv = std::fs::read_to_string(out.path().join("loss.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 12);
}

#[test]
fn a_stopped_run_checkpoints_its_last_step_and_resumes_from_it() {
    let dir = tiny_model_dir(true);
    let tok = tokenizer(dir.path());
    let data = examples(&tok);
    let out = tempfile::tempdir().unwrap();
    let mut options = memorise_options(2);
    options.checkpoint_every = 0;
    let mut model = Qwen2Model::load(dir.path(), &Device::Cpu).unwrap();
    let stopped = train_lora(
        &mut model,
        &data,
        &[],
        &options,
        out.path(),
        false,
        None,
        &mut |s| {
            if s.step == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        },
    )
    .unwrap();
    assert!(stopped.cancelled);
    assert_eq!(stopped.steps, 2);
    assert_eq!(stopped.dev_loss, None);
    assert!(
        out.path()
            .join("checkpoint-000002/trainer_state.json")
            .is_file()
    );
    assert!(!out.path().join("adapter_config.json").exists());

    let mut model = Qwen2Model::load(dir.path(), &Device::Cpu).unwrap();
    let mut steps = Vec::new();
    let resumed = train_lora(
        &mut model,
        &data,
        &[],
        &options,
        out.path(),
        true,
        None,
        &mut |s| {
            steps.push(s.step);
            ControlFlow::Continue(())
        },
    )
    .unwrap();
    assert!(!resumed.cancelled);
    assert_eq!(resumed.resumed_from_step, Some(2));
    assert_eq!(steps, (3..=6).collect::<Vec<_>>());
    assert!(out.path().join("adapter_config.json").is_file());
}

#[test]
fn learning_rate_warms_up_then_decays() {
    let options = TrainOptions {
        learning_rate: 1.0,
        warmup_steps: 4,
        ..TrainOptions::default()
    };
    assert!((learning_rate(&options, 0, 20) - 0.25).abs() < 1e-9);
    assert!((learning_rate(&options, 4, 20) - 1.0).abs() < 1e-9);
    assert!(learning_rate(&options, 19, 20) < 0.05);
}

#[test]
fn jsonl_samples_are_truncated_and_counted() {
    let dir = tiny_model_dir(true);
    let tok = tokenizer(dir.path());
    let data = tempfile::tempdir().unwrap();
    let path = data.path().join("train.jsonl");
    let lines: Vec<String> = memorisation_set()
        .into_iter()
        .enumerate()
        .map(|(i, m)| serde_json::json!({"messages": m, "sample_id": format!("s{i}")}).to_string())
        .collect();
    std::fs::write(&path, lines.join("\n")).unwrap();
    let loaded = load_examples(&path, &tok, 1000).unwrap();
    assert_eq!(
        (loaded.examples.len(), loaded.truncated, loaded.skipped),
        (3, 0, 0)
    );
    // 14 tokens keep the prompt and cut into the first answer: truncated, still trainable.
    let loaded = load_examples(&path, &tok, 16).unwrap();
    assert_eq!(loaded.truncated, 3);
    assert!(loaded.examples.iter().all(|e| e.tokens.len() <= 16));
}

fn chunk(id: &str, text: &str) -> RetrievedChunk {
    RetrievedChunk {
        chunk_id: id.into(),
        path: "src/Order.java".into(),
        symbol: "com.acme.Order".into(),
        start_line: 1,
        end_line: 3,
        score: 1.0,
        text: text.into(),
    }
}

#[test]
fn checker_accepts_grounded_answers_and_rejects_unknown_citations() {
    let retrieved = vec![chunk(
        "c0123456789ab",
        "void cancelOrder(Long orderId) { stock.release(); }",
    )];
    let question = "How is an order cancelled?";
    let good = check_answer(
        "`cancelOrder` releases the stock [c0123456789ab].",
        question,
        &retrieved,
    );
    assert!(good.valid, "{:?}", good.problems);
    assert_eq!(good.cited, ["c0123456789ab"]);

    let unknown = check_answer(
        "It releases stock [c0123456789ab][cffffffffffff].",
        question,
        &retrieved,
    );
    assert!(!unknown.valid);
    assert!(unknown.problems.iter().any(|p| p.contains("cffffffffffff")));

    assert!(!check_answer("It releases stock.", question, &retrieved).valid);
    let invented = check_answer(
        "`refundPayment` is called [c0123456789ab].",
        question,
        &retrieved,
    );
    assert!(!invented.valid);
}

fn shop() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/shop")
}

#[test]
fn an_ungrounded_model_answers_not_enough_evidence_with_the_retrieved_chunks() {
    let dir = tiny_model_dir(true);
    let mut options = IndexOptions::from_project(&shop()).unwrap();
    options.use_cache = false;
    let index = index_workspace(&shop(), &options).unwrap();
    let retrieval = Retriever::build(&index, None, RetrievalMode::Analysis);
    let mut model: LoadedModel = load_model(dir.path(), None, &Device::Cpu).unwrap();
    assert!(matches!(model.network, Network::Full(_)));
    let answer_options = acdp_model::answer::AnswerOptions {
        top_k: 3,
        generation: GenerationOptions {
            max_tokens: 8,
            ..GenerationOptions::default()
        },
        ..Default::default()
    };
    let answer = acdp_model::answer::answer_question(
        &mut model,
        &retrieval,
        "how does cancel order work",
        &answer_options,
    )
    .unwrap();
    assert!(!answer.validated);
    assert_eq!(answer.answer, NOT_ENOUGH_EVIDENCE);
    assert_eq!(answer.retrieved.len(), 3);
    assert_eq!(answer.citations.len(), 3);
    assert!(answer.stats.prompt_tokens > 0);
}

#[test]
fn a_prompt_longer_than_the_context_drops_the_lowest_ranked_chunks() {
    let dir = tiny_model_dir(true);
    let mut options = IndexOptions::from_project(&shop()).unwrap();
    options.use_cache = false;
    let index = index_workspace(&shop(), &options).unwrap();
    let retrieved = Retriever::build(&index, None, RetrievalMode::Analysis)
        .search("how does cancel order work", 6);
    assert_eq!(retrieved.len(), 6);
    let mut model: LoadedModel = load_model(dir.path(), None, &Device::Cpu).unwrap();
    let generation = GenerationOptions {
        max_tokens: 4,
        ..GenerationOptions::default()
    };
    // The tiny model holds 256 positions: short chunks, and a context just big enough for the
    // whole prompt first.
    const CHUNK_CHARS: usize = 40;
    let messages = acdp_model::answer::grounded_messages(
        "repository",
        "how does cancel order work",
        &retrieved,
        CHUNK_CHARS,
    );
    let full = model
        .count_tokens(&acdp_model::chat::render_chat(&messages, true))
        .unwrap();
    model.context_length = full + 16;
    let roomy = acdp_model::answer::answer_from_chunks(
        &mut model,
        Task::Question,
        "how does cancel order work",
        retrieved.clone(),
        &acdp_model::answer::AnswerOptions {
            generation: generation.clone(),
            max_chunk_chars: CHUNK_CHARS,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(roomy.dropped.is_empty());
    // A context one token short of that prompt: the lowest-ranked chunk goes, the others stay,
    // and the answer still comes (no error).
    let tight = acdp_model::answer::AnswerOptions {
        max_context: Some(roomy.stats.prompt_tokens - 1 + generation.max_tokens),
        max_chunk_chars: CHUNK_CHARS,
        generation,
        ..Default::default()
    };
    let answer = acdp_model::answer::answer_from_chunks(
        &mut model,
        Task::Question,
        "how does cancel order work",
        retrieved.clone(),
        &tight,
    )
    .unwrap();
    assert!(!answer.dropped.is_empty(), "{answer:?}");
    assert!(answer.stats.prompt_tokens < roomy.stats.prompt_tokens);
    let kept = answer.retrieved.len();
    assert_eq!(kept + answer.dropped.len(), 6);
    let ids: Vec<&str> = retrieved.iter().map(|c| c.chunk_id.as_str()).collect();
    assert_eq!(answer.retrieved, ids[..kept]);
    let mut dropped = answer.dropped.clone();
    dropped.reverse();
    assert_eq!(dropped, ids[kept..]);
}

#[test]
fn acdp_eval_runs_the_base_model_and_the_adapter_side_by_side() {
    let dir = tiny_model_dir(true);
    let adapter = tempfile::tempdir().unwrap();
    write_random_adapter(adapter.path(), true);
    let cases = tempfile::NamedTempFile::new().unwrap();
    let questions = std::fs::read_to_string(shop().join("eval/questions.jsonl")).unwrap();
    let designs = std::fs::read_to_string(shop().join("eval/designs.jsonl")).unwrap();
    let two: Vec<&str> = questions
        .lines()
        .take(2)
        .chain(designs.lines().take(1))
        .collect();
    std::fs::write(cases.path(), two.join("\n")).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_acdp"))
        .arg("eval")
        .arg(cases.path())
        .arg("--repo")
        .arg(shop())
        .arg("--model")
        .arg(dir.path())
        .arg("--adapter")
        .arg(adapter.path())
        .args(["--baseline", "--json", "--no-cache", "--max-tokens", "4"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("3/3 cases"), "{stderr}");
    let lines: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    for case in &lines[..3] {
        let labels: Vec<&str> = case["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["model"].as_str().unwrap())
            .collect();
        assert_eq!(labels, ["base", "adapter"], "{case}");
        // A random model never cites: refused, as the check must.
        assert!(
            case["models"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["validated"] == false)
        );
    }
    let summary = &lines[3]["summary"];
    assert_eq!(summary["models"][0]["model"], "base");
    assert_eq!(summary["models"][1]["validated_rate"], 0.0);
    assert_eq!(summary["models"][1]["design_validated_rate"], 0.0);
}

/// GPT-2's byte-to-character table, as byte-level BPE vocabularies spell bytes.
fn byte_chars() -> Vec<char> {
    let mut out = vec!['\0'; 256];
    let mut extra = 0;
    for b in 0..256u32 {
        let printable =
            (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        out[b as usize] = if printable {
            char::from_u32(b).unwrap()
        } else {
            extra += 1;
            char::from_u32(255 + extra).unwrap()
        };
    }
    out
}

#[test]
fn a_gguf_style_vocabulary_becomes_a_byte_level_bpe() {
    let chars = byte_chars();
    let mut tokens: Vec<String> = chars.iter().map(|c| c.to_string()).collect();
    let space = chars[b' ' as usize];
    tokens.push("he".into());
    tokens.push("hel".into());
    tokens.push(format!("{space}w"));
    tokens.push("<|im_end|>".into());
    let merges = vec!["h e".to_string(), "he l".to_string(), format!("{space} w")];
    let mut types = vec![1; tokens.len()];
    *types.last_mut().unwrap() = 3;
    let tok = acdp_model::tokenizer::tokenizer_from_vocab(&tokens, &merges, &types).unwrap();
    let text = "hello world<|im_end|>";
    let encoding = tok.encode(text, false).unwrap();
    assert_eq!(encoding.get_ids()[0], 257); // "hel"
    assert_eq!(*encoding.get_ids().last().unwrap(), 259); // <|im_end|> as one token
    assert_eq!(tok.decode(encoding.get_ids(), false).unwrap(), text);
}

/// `acdp ask --json` about fixtures/shop with `model` (and `adapter`), 4 new tokens at most;
/// panics unless it succeeds, returns its JSON answer.
fn ask_shop(model: &Path, adapter: Option<&Path>, top_k: usize) -> serde_json::Value {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_acdp"));
    command
        .args([
            "ask",
            "--json",
            "--max-tokens",
            "4",
            "--no-cache",
            "--top-k",
        ])
        .arg(top_k.to_string())
        .arg("--model")
        .arg(model);
    if let Some(adapter) = adapter {
        command.arg("--adapter").arg(adapter);
    }
    let ask = command
        .arg("--repo")
        .arg(shop())
        .arg("how does cancel order work")
        .output()
        .unwrap();
    assert!(
        ask.status.success(),
        "{}",
        String::from_utf8_lossy(&ask.stderr)
    );
    serde_json::from_slice(&ask.stdout).unwrap()
}

#[test]
fn train_and_ask_commands_drive_the_library() {
    let dir = tiny_model_dir(true);
    let data = tempfile::tempdir().unwrap();
    let lines: Vec<String> = memorisation_set()
        .into_iter()
        .enumerate()
        .map(|(i, m)| serde_json::json!({"messages": m, "sample_id": format!("s{i}")}).to_string())
        .collect();
    std::fs::write(data.path().join("train.jsonl"), lines.join("\n")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let acdp = env!("CARGO_BIN_EXE_acdp");
    let train = std::process::Command::new(acdp)
        .args([
            "train",
            "--epochs",
            "2",
            "--accum",
            "2",
            "--checkpoint-every",
            "1",
        ])
        .arg("--model")
        .arg(dir.path())
        .arg("--data")
        .arg(data.path())
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        train.status.success(),
        "{}",
        String::from_utf8_lossy(&train.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&train.stdout).unwrap();
    assert_eq!(report["steps"], 3);
    assert!(out.path().join("adapter_config.json").is_file());
    assert!(
        out.path()
            .join("checkpoint-000003/adapter_model.safetensors")
            .is_file()
    );

    let answer = ask_shop(dir.path(), Some(out.path()), 2);
    assert_eq!(answer["validated"], false);
    assert_eq!(answer["answer"], NOT_ENOUGH_EVIDENCE);
    assert_eq!(answer["retrieved"].as_array().unwrap().len(), 2);
    let citation = &answer["citations"][0];
    assert!(citation["chunk_id"].as_str().unwrap().starts_with('c'));
    assert!(citation["path"].as_str().unwrap().ends_with(".java"));
    assert!(citation["start_line"].as_u64().unwrap() >= 1);
    for key in [
        "prompt_tokens",
        "prompt_tokens_per_s",
        "generated_tokens",
        "generated_tokens_per_s",
    ] {
        assert!(answer["stats"][key].is_number(), "stats.{key}");
    }
}

// ---- GGUF ---------------------------------------------------------------------------------

/// Logits of candle's quantized Qwen2 after `tokens` and after one more step (see
/// [`prompt_then_step`]), with the weights read through `reader`.
fn gguf_logits<R: std::io::Read + std::io::Seek>(
    content: candle_core::quantized::gguf_file::Content,
    reader: &mut R,
    tokens: &[u32],
) -> Vec<f32> {
    let mut model = candle_transformers::models::quantized_qwen2::ModelWeights::from_gguf(
        content,
        reader,
        &Device::Cpu,
    )
    .unwrap();
    prompt_then_step(|input, at| model.forward(input, at).unwrap(), tokens)
}

/// The Q5_0 -> Q8_0 view changes which kernel reads the weights, not the model's output.
#[test]
fn a_q5_0_gguf_read_as_q8_0_gives_the_same_logits() {
    use candle_core::quantized::{GgmlDType, gguf_file::Content};
    let dir = tempfile::tempdir().unwrap();
    let path = write_tiny_gguf(dir.path(), 7, GgmlDType::Q5_0);
    let tokens = [2u32, 4, 10, 11, 3, 12, 13, 14];
    let mut file = std::fs::File::open(&path).unwrap();
    let content = Content::read(&mut file).unwrap();
    let plain = gguf_logits(content, &mut file, &tokens);

    let mut file = std::fs::File::open(&path).unwrap();
    let mut content = Content::read(&mut file).unwrap();
    let (mut view, widened) = acdp_model::gguf_q8::widen_q5_0(&mut content, file).unwrap();
    // Embeddings + 7 matrices in each of the 2 layers.
    assert_eq!(widened, 1 + 2 * 7);
    let wide = gguf_logits(content, &mut view, &tokens);

    assert_eq!(plain.len(), 2 * vocab_size());
    let scale = plain.iter().fold(0f32, |m, x| m.max(x.abs()));
    assert!(scale > 0.1, "logits too flat to compare: {plain:?}");
    for (a, b) in plain.iter().zip(&wide) {
        assert!((a - b).abs() <= 1e-4 * scale, "{a} vs {b}");
    }
}

#[test]
fn ask_answers_with_a_gguf_file_and_the_tokenizer_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_tiny_gguf(dir.path(), 7, candle_core::quantized::GgmlDType::Q5_0);
    let answer = ask_shop(&path, None, 1);
    assert_eq!(answer["retrieved"].as_array().unwrap().len(), 1);
    assert!(answer["stats"]["prompt_tokens"].as_u64().unwrap() > 10);
    assert!(answer["stats"]["generated_tokens"].as_u64().unwrap() >= 1);
}

/// The same for acdp's GGUF Qwen2 (grouped-query attention without copies) with `kernels`.
fn our_gguf_logits(path: &Path, tokens: &[u32], kernels: Kernels) -> Vec<f32> {
    let mut file = std::fs::File::open(path).unwrap();
    let content = candle_core::quantized::gguf_file::Content::read(&mut file).unwrap();
    let mut model =
        ModelWeights::from_gguf_with_kernels(content, &mut file, &Device::Cpu, kernels).unwrap();
    prompt_then_step(|input, at| model.forward(input, at).unwrap(), tokens)
}

/// Logits after `tokens` as one prompt, then after one more token through the KV cache
/// (generation's path), concatenated.
fn prompt_then_step(mut forward: impl FnMut(&Tensor, usize) -> Tensor, tokens: &[u32]) -> Vec<f32> {
    let input = Tensor::new(tokens, &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let mut logits: Vec<f32> = forward(&input, 0).flatten_all().unwrap().to_vec1().unwrap();
    let next = Tensor::new(&[tokens[0]], &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let step: Vec<f32> = forward(&next, tokens.len())
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    logits.extend(step);
    logits
}

/// candle's kernels (short inputs: candle's quantized kernel; long ones: the f32 GEMM over
/// dequantized weights) and the int8 kernel (`packed_int8.rs`, for both, where the CPU has
/// AVX-512 VNNI) all give candle's logits: candle's own kernel to rounding, the others within
/// the error of 8-bit activations (candle rounds each activation block's scale to f16, the int8
/// kernel keeps it in f32, the GEMM does not quantize them at all).
#[test]
fn the_gguf_model_gives_candles_logits_through_every_kernel() {
    use candle_core::quantized::{GgmlDType, gguf_file::Content};
    let mut kernels = vec![(Kernels::Candle, 1e-5f32)];
    if acdp_model::packed_int8::available() {
        kernels.push((Kernels::Int8WhereAvailable, 1e-2));
    } else {
        // CI sets it where /proc/cpuinfo lists avx512_vnni (see packed_int8.rs's tests).
        let required = std::env::var("ACDP_REQUIRE_INT8").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "ACDP_REQUIRE_INT8=1 but the int8 kernel is not available"
        );
        eprintln!("this CPU has no AVX-512 VNNI: the int8 kernel is not compared");
    }
    // Q5_0 read as it is (no widening), beside the Q8_0 it is widened to.
    for matrices in [GgmlDType::Q8_0, GgmlDType::Q5_0] {
        let dir = tempfile::tempdir().unwrap();
        let path = write_tiny_gguf(dir.path(), 11, matrices);
        let candle_logits = |tokens: &[u32]| {
            let mut file = std::fs::File::open(&path).unwrap();
            let content = Content::read(&mut file).unwrap();
            gguf_logits(content, &mut file, tokens)
        };
        for &(kernels, short_tolerance) in &kernels {
            for (length, tolerance) in [(8, short_tolerance), (40, 1e-2)] {
                let tokens: Vec<u32> = (0..length).map(|i| (i * 7 % 39) as u32 + 1).collect();
                let expected = candle_logits(&tokens);
                let ours = our_gguf_logits(&path, &tokens, kernels);
                let scale = expected.iter().fold(0f32, |m, x| m.max(x.abs()));
                assert!(scale > 0.1, "logits too flat to compare: {expected:?}");
                for (a, b) in expected.iter().zip(&ours) {
                    assert!(
                        (a - b).abs() <= tolerance * scale,
                        "{matrices:?}, {kernels:?}, {length} tokens: {a} vs {b} (scale {scale})"
                    );
                }
            }
        }
    }
}

/// Training–inference alignment: what a model is trained to say passes the check `acdp ask`
/// holds its answers to. Every exported assistant turn of the shop fixture's dataset (QA and
/// design, en and zh), given its own evidence as the retrieved chunks, passes
/// `check_answer` / `check_design`; a turn that fails would teach the model answers that
/// strict inference refuses.
#[test]
fn every_trained_answer_passes_the_inference_check() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/shop");
    let (checked, refused) = trained_answers_refused(&root);
    assert!(checked.len() == 2, "both tasks checked: {checked:?}");
    assert!(
        refused.is_empty(),
        "{} of {checked:?} refused:\n{}",
        refused.len(),
        refused.join("\n")
    );
}

/// The same on a repository of your own: `ACDP_ALIGN_REPO=/path/to/repo cargo test --test model
/// -- --ignored --nocapture trained_answers_of_a_repository` prints the counts and what was refused.
#[test]
#[ignore = "needs ACDP_ALIGN_REPO, a Java repository"]
fn trained_answers_of_a_repository() {
    let root = PathBuf::from(std::env::var("ACDP_ALIGN_REPO").expect("set ACDP_ALIGN_REPO"));
    let (checked, refused) = trained_answers_refused(&root);
    println!("checked {checked:?}; refused {}", refused.len());
    for line in &refused {
        println!("{line}");
    }
}

/// The dataset `acdp pipeline` makes of `root` (offline, defaults), each assistant turn
/// checked as strict inference checks a model's answer: samples checked by task, and the
/// refused ones with their problems.
fn trained_answers_refused(root: &Path) -> (HashMap<acdp_sample::Task, usize>, Vec<String>) {
    use acdp_model::answer_check::check_design;
    use acdp_sample::SampleBody;

    let options = IndexOptions {
        use_cache: false,
        ..Default::default()
    };
    let index = index_workspace(root, &options).unwrap();
    let analysis = acdp_analysis::analyze(&index, &acdp_config::AnalysisSettings::default());
    let generated = acdp_generate::generated_chunks(&index);
    let samples = acdp_generate::generate_offline(
        &index,
        &analysis,
        &generated,
        &acdp_generate::OfflineOptions::default(),
        &acdp_dataset::repo_info(root),
    );
    let dataset = acdp_dataset::build_dataset(
        samples,
        &index,
        &generated,
        &acdp_dataset::DatasetOptions::default(),
    );
    let retriever = Retriever::build(&index, None, RetrievalMode::Analysis);
    let exists = |name: &str| retriever.knows(name);
    let (mut checked, mut refused) = (HashMap::new(), Vec::new());
    for sample in &dataset.samples {
        let retrieved: Vec<RetrievedChunk> = sample
            .evidence
            .iter()
            .map(|e| RetrievedChunk {
                chunk_id: e.chunk_id.to_string(),
                path: e.path.clone(),
                symbol: e.symbol.clone(),
                start_line: e.start_line,
                end_line: e.end_line,
                score: 1.0,
                text: e.code.clone(),
            })
            .collect();
        let answer = acdp_sample::prompt::assistant_turn(sample);
        let check = match &sample.body {
            SampleBody::Qa { question, .. } => check_answer(&answer, question, &retrieved),
            SampleBody::Design { requirement, .. } => {
                check_design(&answer, requirement, &retrieved, &exists)
            }
        };
        *checked.entry(sample.body.task()).or_insert(0) += 1;
        if !check.valid {
            refused.push(format!("{}: {:?}", sample.sample_id, check.problems));
        }
    }
    (checked, refused)
}

/// Logits of a loaded model (either network) after `tokens`, then after one more token.
fn loaded_logits(model: &mut LoadedModel, tokens: &[u32]) -> Vec<f32> {
    prompt_then_step(
        |input, at| match &mut model.network {
            Network::Full(m) => m.forward_last(input, at).unwrap(),
            Network::Quantized(m) => m.forward(input, at).unwrap(),
        },
        tokens,
    )
}

/// `--model FILE.gguf --adapter DIR` applies the adapter at run time: the logits equal those
/// of the same weights as safetensors with the adapter merged (f32 GGUF: to rounding; Q8_0:
/// within its quantization error), and differ from the GGUF alone.
#[test]
fn a_gguf_model_with_an_adapter_answers_as_the_safetensors_model_with_it() {
    use candle_core::quantized::GgmlDType;
    let work = tempfile::tempdir().unwrap();
    let (hf, adapter) = (work.path().join("hf"), work.path().join("adapter"));
    std::fs::create_dir_all(&hf).unwrap();
    std::fs::create_dir_all(&adapter).unwrap();
    write_tiny_model(&hf, true, 11);
    write_random_adapter(&adapter, true);
    let tokens: Vec<u32> = (0..24).map(|i| (i * 7 % 39) as u32 + 1).collect();
    let mut merged = load_model(&hf, Some(&adapter), &Device::Cpu).unwrap();
    let expected = loaded_logits(&mut merged, &tokens);
    let scale = expected.iter().fold(0f32, |m, x| m.max(x.abs()));
    assert!(scale > 0.1, "logits too flat to compare");
    for (matrices, tolerance) in [(GgmlDType::F32, 1e-4f32), (GgmlDType::Q8_0, 3e-2)] {
        let dir = tempfile::tempdir().unwrap();
        let gguf = write_tiny_gguf(dir.path(), 11, matrices);
        let mut adapted = load_model(&gguf, Some(&adapter), &Device::Cpu).unwrap();
        let ours = loaded_logits(&mut adapted, &tokens);
        let worst = expected
            .iter()
            .zip(&ours)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            worst <= tolerance * scale,
            "{matrices:?}: differs by {worst} (scale {scale})"
        );
        let mut plain = load_model(&gguf, None, &Device::Cpu).unwrap();
        let base = loaded_logits(&mut plain, &tokens);
        let moved = base
            .iter()
            .zip(&ours)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            moved > 10.0 * tolerance * scale,
            "{matrices:?}: the adapter changed the logits by {moved} only"
        );
    }
    // An adapter for another model is told as such.
    let wrong = work.path().join("wrong");
    std::fs::create_dir_all(&wrong).unwrap();
    let mut tensors = HashMap::new();
    tensors.insert(
        acdp_model::lora::peft_key(0, "q_proj", 'A'),
        random(&[4, 10], 0.1, &mut SplitMix64::new(1)),
    );
    tensors.insert(
        acdp_model::lora::peft_key(0, "q_proj", 'B'),
        random(&[64, 4], 0.1, &mut SplitMix64::new(2)),
    );
    acdp_model::lora::save_peft_adapter(
        &wrong,
        &acdp_model::lora::PeftAdapterConfig::from_lora(&LoraConfig::default(), None),
        &tensors,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let gguf = write_tiny_gguf(dir.path(), 11, GgmlDType::F32);
    let error = load_model(&gguf, Some(&wrong), &Device::Cpu)
        .err()
        .expect("a misfit adapter is refused")
        .to_string();
    assert!(error.contains("does not fit the GGUF model"), "{error}");
}

/// The training model reads a GGUF file's shape, names and weights as the Hugging Face
/// checkpoint holds them: on f32 blocks, tied and untied, its logits equal those of the same
/// weights as safetensors (the tiny file's rope base and epsilon are not llama.cpp's defaults,
/// so a misread key shows). A path that is neither a GGUF file nor a model directory is refused
/// with what to give instead.
#[test]
fn the_training_model_reads_a_gguf_file_as_the_checkpoint() {
    use candle_core::quantized::GgmlDType;
    let tokens: Vec<u32> = (0..24).map(|i| (i * 5 % 39) as u32 + 1).collect();
    let input = Tensor::new(tokens.as_slice(), &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    for tie in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let gguf = tiny_model::write_tiny_gguf_with(dir.path(), 17, GgmlDType::F32, tie);
        let hf = tempfile::tempdir().unwrap();
        write_tiny_model(hf.path(), tie, 17);
        let (mut from_gguf, _) = acdp_model::train::load_for_training(&gguf, &Device::Cpu).unwrap();
        assert_eq!(from_gguf.config.rope_theta, 500000.0);
        assert!((from_gguf.config.rms_norm_eps - 1e-5).abs() < 1e-9);
        assert_eq!(from_gguf.config.tie_word_embeddings, tie);
        let mut from_hf = Qwen2Model::load(hf.path(), &Device::Cpu).unwrap();
        let (a, b) = (
            from_gguf.forward(&input, 0).unwrap(),
            from_hf.forward(&input, 0).unwrap(),
        );
        assert!(
            max_abs_diff(&a, &b) < 1e-4,
            "tie {tie}: {}",
            max_abs_diff(&a, &b)
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let not_gguf = dir.path().join("model.safetensors");
    std::fs::write(&not_gguf, b"not a model").unwrap();
    let refusal = |path: &Path| {
        acdp_model::train::load_for_training(path, &Device::Cpu)
            .err()
            .expect("refused")
            .to_string()
    };
    let error = refusal(&not_gguf);
    assert!(
        error.contains("not a GGUF file") && error.contains("Hugging Face model directory"),
        "{error}"
    );
    let error = refusal(dir.path());
    assert!(error.contains("a directory without config.json"), "{error}");
}

/// QLoRA-style training on a GGUF file (Q8_0 matrices, as candle writes them): the model reads
/// the shape and tokenizer from the file, its matrices stay quantized blocks, the loss falls to
/// memorisation, and the adapter it writes, applied at run time to the same file by `acdp ask`'s
/// model, gives the trained model's logits (within Q8_0's activation rounding: the base
/// matrices came out of training as the file holds them) and moves them away from the base's.
#[test]
fn a_gguf_base_trains_with_its_quantized_weights_frozen() {
    use candle_core::quantized::GgmlDType;
    let dir = tempfile::tempdir().unwrap();
    let gguf = write_tiny_gguf(dir.path(), 13, GgmlDType::Q8_0);
    let (mut model, tok) = acdp_model::train::load_for_training(&gguf, &Device::Cpu).unwrap();
    assert_eq!(model.matrix_dtype(), None, "matrices stay quantized");
    assert_eq!(model.config.num_hidden_layers, 2);
    assert!(model.config.tie_word_embeddings);
    model.set_loss_chunk_rows(Some(5));
    let tokens: Vec<u32> = (0..24).map(|i| (i * 7 % 39) as u32 + 1).collect();
    let base_logits = |model: &mut Qwen2Model| {
        let input = Tensor::new(tokens.as_slice(), &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        model.clear_kv_cache();
        let logits = model.forward_last(&input, 0).unwrap();
        model.clear_kv_cache();
        logits.to_vec1::<f32>().unwrap()
    };
    let before = base_logits(&mut model);

    let data = examples(&tok);
    let out = tempfile::tempdir().unwrap();
    let report = train_lora(
        &mut model,
        &data,
        &data,
        &memorise_options(40),
        out.path(),
        false,
        Some(gguf.to_string_lossy().into_owned()),
        &mut |_| ControlFlow::Continue(()),
    )
    .unwrap();
    let (first, last) = (report.first_loss.unwrap(), report.dev_loss.unwrap());
    assert!(last <= 0.2 * first, "loss went from {first} to {last}");
    let trained = base_logits(&mut model);

    let scale = trained.iter().fold(0f32, |m, x| m.max(x.abs()));
    let worst = |a: &[f32], b: &[f32]| a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    let mut plain = load_model(&gguf, None, &Device::Cpu).unwrap();
    let mut adapted = load_model(&gguf, Some(out.path()), &Device::Cpu).unwrap();
    let at_run_time = loaded_logits(&mut adapted, &tokens);
    let base_at_run_time = loaded_logits(&mut plain, &tokens);
    // loaded_logits gives the prompt's last logits, then those after one more token.
    let vocab = before.len();
    assert!(
        worst(&base_at_run_time[..vocab], &before) <= 3e-2 * scale,
        "the training model and the GGUF answer model read the file differently"
    );
    assert!(
        worst(&at_run_time[..vocab], &trained) <= 3e-2 * scale,
        "the adapter at run time differs from the trained model by {}",
        worst(&at_run_time[..vocab], &trained)
    );
    assert!(
        worst(&at_run_time, &base_at_run_time) > 0.3 * scale,
        "the adapter moved the logits by {} only",
        worst(&at_run_time, &base_at_run_time)
    );
    // The adapter answers a training question as memorised, on the quantized file.
    let options = GenerationOptions {
        max_tokens: 30,
        ..GenerationOptions::default()
    };
    let generation = adapted.chat(&memorisation_set()[0][..2], &options).unwrap();
    assert_eq!(
        generation.text,
        "it locks the stock and grants points after payment"
    );
}

/// `acdp export-adapter --format gguf` writes llama.cpp's LoRA GGUF: the adapter metadata and,
/// per adapted projection, `lora_a` / `lora_b` named after the base tensor, with the values of
/// PEFT's A and B (tests/llm-real/lora_gguf_parity.py checks that llama.cpp applies it).
#[test]
fn an_adapter_exports_as_a_llama_cpp_lora_gguf() {
    use candle_core::quantized::gguf_file::{Content, Value};
    let work = tempfile::tempdir().unwrap();
    let adapter = work.path().join("adapter");
    std::fs::create_dir_all(&adapter).unwrap();
    write_random_adapter(&adapter, true);
    let out = work.path().join("gguf/adapter.gguf");
    let exported = std::process::Command::new(env!("CARGO_BIN_EXE_acdp"))
        .args(["export-adapter", "--format", "gguf", "--adapter"])
        .arg(&adapter)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(exported.status.success(), "{exported:?}");
    let report: serde_json::Value = serde_json::from_slice(&exported.stdout).unwrap();
    assert_eq!(report["projections"], 2 * 5, "{report}");

    let mut file = std::fs::File::open(&out).unwrap();
    let content = Content::read(&mut file).unwrap();
    let text = |key: &str| match content.metadata.get(key) {
        Some(Value::String(s)) => s.clone(),
        other => panic!("{key}: {other:?}"),
    };
    assert_eq!(text("general.type"), "adapter");
    assert_eq!(text("adapter.type"), "lora");
    assert_eq!(text("general.architecture"), "qwen2");
    assert_eq!(
        content.metadata["adapter.lora.alpha"].to_f32().unwrap(),
        8.0
    );
    let (_, peft) = acdp_model::lora::load_peft_adapter(&adapter, &Device::Cpu).unwrap();
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    assert_eq!(names.len(), 2 * 5 * 2);
    for (gguf, module, matrix) in [
        ("blk.1.attn_k.weight.lora_a", "k_proj", 'A'),
        ("blk.1.attn_k.weight.lora_b", "k_proj", 'B'),
        ("blk.0.ffn_gate.weight.lora_b", "gate_proj", 'B'),
    ] {
        let layer = if gguf.starts_with("blk.1") { 1 } else { 0 };
        let expected = &peft[&acdp_model::lora::peft_key(layer, module, matrix)];
        let written = content
            .tensor(&mut file, gguf, &Device::Cpu)
            .unwrap()
            .dequantize(&Device::Cpu)
            .unwrap();
        assert_eq!(written.dims(), expected.dims(), "{gguf}");
        assert!(max_abs_diff(&written, expected) == 0.0, "{gguf}");
    }
}

/// An adapter is applied whole or refused: tensors under another key layout (PEFT's
/// `.lora_A.default.weight` of some versions) or options acdp does not apply (`use_rslora`)
/// are errors for safetensors and GGUF models alike, never a base model answering as if
/// adapted.
#[test]
fn an_adapter_acdp_cannot_apply_whole_is_refused() {
    use candle_core::quantized::GgmlDType;
    let work = tempfile::tempdir().unwrap();
    let hf = work.path().join("hf");
    std::fs::create_dir_all(&hf).unwrap();
    write_tiny_model(&hf, true, 11);
    let gguf = write_tiny_gguf(work.path(), 11, GgmlDType::F32);

    let renamed = work.path().join("renamed");
    std::fs::create_dir_all(&renamed).unwrap();
    write_random_adapter(&renamed, false);
    let file = renamed.join("adapter_model.safetensors");
    let tensors = candle_core::safetensors::load(&file, &Device::Cpu).unwrap();
    let tensors: HashMap<String, Tensor> = tensors
        .into_iter()
        .map(|(k, v)| (k.replace(".weight", ".default.weight"), v))
        .collect();
    candle_core::safetensors::save(&tensors, &file).unwrap();

    let rslora = work.path().join("rslora");
    std::fs::create_dir_all(&rslora).unwrap();
    write_random_adapter(&rslora, false);
    let config_path = rslora.join("adapter_config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    config["use_rslora"] = serde_json::json!(true);
    std::fs::write(&config_path, config.to_string()).unwrap();

    for model in [&hf, &gguf] {
        let error = load_model(model, Some(&renamed), &Device::Cpu)
            .err()
            .expect("renamed keys are refused")
            .to_string();
        assert!(error.contains("would not be applied"), "{error}");
        let error = load_model(model, Some(&rslora), &Device::Cpu)
            .err()
            .expect("rsLoRA is refused")
            .to_string();
        assert!(error.contains("use_rslora"), "{error}");
    }
}
