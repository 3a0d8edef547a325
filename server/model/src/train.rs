//! LoRA training: chat JSONL in, a PEFT adapter, checkpoints and a loss curve out.
//!
//! AdamW (our own, so its moments can be checkpointed) with linear warmup and linear or cosine
//! decay, gradient accumulation over samples, a maximum length (longer samples are truncated
//! and counted), loss on assistant tokens only. Checkpoints hold the adapter, the optimizer
//! state and the data position; `resume` continues from the latest one. Every file is written
//! atomically and a checkpoint folder appears whole (staged, then renamed), so `kill -9` at any
//! moment leaves the earlier checkpoints usable and a `--resume` run continues from the last.

use std::collections::HashMap;
use std::io::BufRead;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Device, Tensor, Var};

use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use super::chat::{ChatSample, tokenize_chat};
use super::{LoraConfig, ModelError, Qwen2Model, Result, SplitMix64};
use acdp_durable::sync_dir;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    Linear,
    Cosine,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainOptions {
    pub lora: LoraConfig,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub epochs: usize,
    /// Samples per optimizer step.
    pub accumulation: usize,
    pub warmup_steps: usize,
    pub schedule: Schedule,
    /// Tokens per sample; longer samples are cut and counted.
    pub max_len: usize,
    /// Optimizer steps between checkpoints; 0 for none.
    pub checkpoint_every: usize,
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            lora: LoraConfig::default(),
            learning_rate: 2e-4,
            weight_decay: 0.0,
            epochs: 1,
            accumulation: 8,
            warmup_steps: 10,
            schedule: Schedule::Cosine,
            max_len: 1024,
            checkpoint_every: 100,
            seed: 42,
        }
    }
}

/// A tokenized sample.
#[derive(Clone, Debug)]
pub struct TrainExample {
    pub tokens: Vec<u32>,
    pub loss_mask: Vec<bool>,
}

/// Samples read from a JSONL file, with what had to be cut or left out.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LoadedExamples {
    #[serde(skip)]
    pub examples: Vec<TrainExample>,
    pub truncated: usize,
    /// No assistant token left (after truncation) or no assistant turn at all.
    pub skipped: usize,
}

/// Reads `{"messages": [...], "sample_id": ...}` lines and tokenizes them.
pub fn load_examples(path: &Path, tokenizer: &Tokenizer, max_len: usize) -> Result<LoadedExamples> {
    let file = std::fs::File::open(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = LoadedExamples::default();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let sample: ChatSample = serde_json::from_str(&line).map_err(|e| ModelError::Format {
            path: path.to_path_buf(),
            message: format!("line {}: not a chat sample ({e})", n + 1),
        })?;
        let (mut tokens, mut loss_mask) = tokenize_chat(tokenizer, &sample.messages)?;
        if tokens.len() > max_len {
            tokens.truncate(max_len);
            loss_mask.truncate(max_len);
            out.truncated += 1;
        }
        if !loss_mask.iter().skip(1).any(|&m| m) {
            out.skipped += 1;
            continue;
        }
        out.examples.push(TrainExample { tokens, loss_mask });
    }
    Ok(out)
}

/// AdamW with decoupled weight decay; state is plain tensors so it can be saved.
pub struct AdamW {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub step: usize,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
}

impl AdamW {
    pub fn new(vars: &[Var], weight_decay: f64) -> Result<AdamW> {
        let zeros = |v: &Var| v.as_tensor().zeros_like();
        Ok(AdamW {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            step: 0,
            m: vars.iter().map(zeros).collect::<candle_core::Result<_>>()?,
            v: vars.iter().map(zeros).collect::<candle_core::Result<_>>()?,
        })
    }

    pub fn update(&mut self, vars: &[Var], grads: &[Tensor], lr: f64) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let c1 = 1.0 - self.beta1.powi(t);
        let c2 = 1.0 - self.beta2.powi(t);
        for (i, (var, grad)) in vars.iter().zip(grads).enumerate() {
            let m = ((&self.m[i] * self.beta1)? + (grad * (1.0 - self.beta1))?)?;
            let v = ((&self.v[i] * self.beta2)? + (grad.sqr()? * (1.0 - self.beta2))?)?;
            let m_hat = (&m / c1)?;
            let v_hat = (&v / c2)?;
            let step = (m_hat / (v_hat.sqrt()? + self.eps)?)?;
            let decayed = (var.as_tensor() * (1.0 - lr * self.weight_decay))?;
            var.set(&(decayed - (step * lr)?)?)?;
            self.m[i] = m;
            self.v[i] = v;
        }
        Ok(())
    }

    fn tensors(&self) -> HashMap<String, Tensor> {
        let mut map = HashMap::new();
        for (i, (m, v)) in self.m.iter().zip(&self.v).enumerate() {
            map.insert(format!("m.{i}"), m.clone());
            map.insert(format!("v.{i}"), v.clone());
        }
        map
    }

    fn restore(&mut self, mut tensors: HashMap<String, Tensor>, step: usize) -> Result<()> {
        for i in 0..self.m.len() {
            let (Some(m), Some(v)) = (
                tensors.remove(&format!("m.{i}")),
                tensors.remove(&format!("v.{i}")),
            ) else {
                return Err(ModelError::Invalid(format!(
                    "optimizer state lacks moments of variable {i}: the checkpoint was written \
                     with other LoRA settings"
                )));
            };
            self.m[i] = m;
            self.v[i] = v;
        }
        self.step = step;
        Ok(())
    }
}

/// The learning rate at optimizer step `step` (0-based) of `total`.
pub fn learning_rate(options: &TrainOptions, step: usize, total: usize) -> f64 {
    let base = options.learning_rate;
    if step < options.warmup_steps {
        return base * (step + 1) as f64 / options.warmup_steps as f64;
    }
    let span = total.saturating_sub(options.warmup_steps).max(1) as f64;
    let progress = ((step - options.warmup_steps) as f64 / span).min(1.0);
    match options.schedule {
        Schedule::Linear => base * (1.0 - progress),
        Schedule::Cosine => base * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
    }
}

/// What a checkpoint remembers besides the adapter and the optimizer moments.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainerState {
    pub step: usize,
    /// Samples consumed so far, over all epochs (the data position).
    pub samples_seen: usize,
    pub dropout_rng: u64,
    pub losses: Vec<(usize, f64, f64)>,
}

/// One optimizer step, as reported to the progress callback and the loss curve.
#[derive(Clone, Debug, Serialize)]
pub struct StepLog {
    pub step: usize,
    pub total_steps: usize,
    pub loss: f64,
    pub learning_rate: f64,
    pub step_ms: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct TrainReport {
    pub samples: usize,
    pub steps: usize,
    pub resumed_from_step: Option<usize>,
    pub first_loss: Option<f64>,
    pub last_loss: Option<f64>,
    pub dev_loss: Option<f64>,
    pub mean_step_ms: f64,
    pub peak_memory_mib: Option<f64>,
    pub adapter_dir: PathBuf,
    /// The progress callback asked to stop: training ended after `steps` steps, whose
    /// checkpoint is in `checkpoint-NNNNNN/`; no final adapter, no dev loss.
    pub cancelled: bool,
}

/// Trains LoRA adapters on `examples`, writing checkpoints, the final adapter, `loss.csv` and
/// `loss.svg` into `out`. With `resume`, continues from the latest checkpoint in `out`.
///
/// `on_step` runs after every optimizer step; when it answers `Break`, training stops there:
/// the step is checkpointed (so `resume` continues from it), `loss.csv` and `loss.svg` are
/// written, the final adapter is not, and the report says `cancelled`.
#[allow(clippy::too_many_arguments)]
pub fn train_lora(
    model: &mut Qwen2Model,
    examples: &[TrainExample],
    dev: &[TrainExample],
    options: &TrainOptions,
    out: &Path,
    resume: bool,
    base_model: Option<String>,
    on_step: &mut dyn FnMut(&StepLog) -> ControlFlow<()>,
) -> Result<TrainReport> {
    if examples.is_empty() {
        return Err(ModelError::Invalid(
            "no training samples with assistant tokens".into(),
        ));
    }
    std::fs::create_dir_all(out).map_err(|source| ModelError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    remove_checkpoint_staging(out);
    let accumulation = options.accumulation.max(1);
    let total_samples = examples.len() * options.epochs.max(1);
    let total_steps = total_samples.div_ceil(accumulation);

    let checkpoint = if resume { latest_checkpoint(out) } else { None };
    match &checkpoint {
        Some(dir) => model.load_adapter(dir)?,
        None => model.attach_lora(&options.lora, options.seed)?,
    }
    let vars = model.lora_vars();
    let mut optimizer = AdamW::new(&vars, options.weight_decay)?;
    let mut state = TrainerState {
        step: 0,
        samples_seen: 0,
        dropout_rng: options.seed ^ 0xD00D,
        losses: Vec::new(),
    };
    let mut resumed_from_step = None;
    if let Some(dir) = checkpoint {
        state = super::read_json(&dir.join("trainer_state.json"))?;
        let moments =
            candle_core::safetensors::load(dir.join("optimizer.safetensors"), model.device())?;
        optimizer.restore(moments, state.step)?;
        resumed_from_step = Some(state.step);
    }
    model.set_training(Some(state.dropout_rng));

    let mut step_times = Vec::new();
    let mut cancelled = false;
    while state.samples_seen < total_samples {
        let started = Instant::now();
        let lr = learning_rate(options, state.step, total_steps);
        let mut grads: Vec<Option<Tensor>> = vec![None; vars.len()];
        let mut loss_sum = 0.0;
        let mut counted = 0;
        let batch_end = (state.samples_seen + accumulation).min(total_samples);
        for position in state.samples_seen..batch_end {
            let example = &examples[sample_at(position, examples.len(), options.seed)];
            let scale = 1.0 / (batch_end - state.samples_seen) as f64;
            let Some((loss, sample_grads)) =
                model.masked_loss_backward(&example.tokens, &example.loss_mask, scale)?
            else {
                continue;
            };
            loss_sum += loss;
            counted += 1;
            for (slot, g) in grads.iter_mut().zip(sample_grads) {
                *slot = Some(match slot.take() {
                    Some(acc) => (acc + g)?,
                    None => g,
                });
            }
        }
        let grads: Vec<Tensor> = grads
            .into_iter()
            .zip(&vars)
            .map(|(g, v)| g.map_or_else(|| v.as_tensor().zeros_like(), Ok))
            .collect::<candle_core::Result<_>>()?;
        optimizer.update(&vars, &grads, lr)?;
        state.samples_seen = batch_end;
        state.step += 1;
        let step_ms = started.elapsed().as_secs_f64() * 1000.0;
        step_times.push(step_ms);
        let loss = if counted > 0 {
            loss_sum / counted as f64
        } else {
            0.0
        };
        state.losses.push((state.step, loss, lr));
        let flow = on_step(&StepLog {
            step: state.step,
            total_steps,
            loss,
            learning_rate: lr,
            step_ms,
        });
        cancelled = flow.is_break() && state.samples_seen < total_samples;
        let due =
            options.checkpoint_every > 0 && state.step.is_multiple_of(options.checkpoint_every);
        if due || cancelled {
            state.dropout_rng = model.training_rng_state().unwrap_or(state.dropout_rng);
            save_checkpoint(model, &optimizer, &state, out, base_model.clone())?;
        }
        if cancelled {
            break;
        }
    }
    model.set_training(None);
    if cancelled {
        write_loss_csv(&out.join("loss.csv"), &state.losses)?;
        super::write_file(&out.join("loss.svg"), loss_svg(&state.losses).as_bytes())?;
        return Ok(TrainReport {
            samples: examples.len(),
            steps: state.step,
            resumed_from_step,
            first_loss: state.losses.first().map(|l| l.1),
            last_loss: state.losses.last().map(|l| l.1),
            dev_loss: None,
            mean_step_ms: mean(&step_times),
            peak_memory_mib: super::peak_memory_mib(),
            adapter_dir: out.to_path_buf(),
            cancelled: true,
        });
    }

    let dev_loss = mean_loss(model, dev)?;
    model.save_adapter(out, base_model)?;
    write_loss_csv(&out.join("loss.csv"), &state.losses)?;
    super::write_file(&out.join("loss.svg"), loss_svg(&state.losses).as_bytes())?;
    Ok(TrainReport {
        samples: examples.len(),
        steps: state.step,
        resumed_from_step,
        first_loss: state.losses.first().map(|l| l.1),
        last_loss: state.losses.last().map(|l| l.1),
        dev_loss,
        mean_step_ms: mean(&step_times),
        peak_memory_mib: super::peak_memory_mib(),
        adapter_dir: out.to_path_buf(),
        cancelled: false,
    })
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

/// The example index at data position `position`: each epoch is a seeded permutation.
fn sample_at(position: usize, n: usize, seed: u64) -> usize {
    let epoch = position / n;
    let order = SplitMix64::new(seed.wrapping_add(epoch as u64)).permutation(n);
    order[position % n]
}

/// Mean masked loss over `examples` in inference mode; `None` when there are none.
pub fn mean_loss(model: &mut Qwen2Model, examples: &[TrainExample]) -> Result<Option<f64>> {
    let mut sum = 0.0;
    let mut n = 0;
    for example in examples {
        if let Some(loss) = model.masked_loss_value(&example.tokens, &example.loss_mask)? {
            sum += loss;
            n += 1;
        }
    }
    Ok((n > 0).then(|| sum / n as f64))
}

/// Writes `checkpoint-NNNNNN` into `out`: the files go into a hidden staging folder that is
/// renamed into place once complete, so a checkpoint folder is always whole (a run killed
/// while saving leaves the previous checkpoints as they were).
fn save_checkpoint(
    model: &Qwen2Model,
    optimizer: &AdamW,
    state: &TrainerState,
    out: &Path,
    base_model: Option<String>,
) -> Result<()> {
    let dir = out.join(format!("checkpoint-{:06}", state.step));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ModelError::Io { path, source }
    };
    let staging = acdp_durable::staging_dir(out, CHECKPOINT_STAGING).map_err(io(out))?;
    model.save_adapter(staging.path(), base_model)?;
    super::save_tensors(
        &optimizer.tensors(),
        &staging.path().join("optimizer.safetensors"),
    )?;
    let json = serde_json::to_vec_pretty(state).map_err(|source| ModelError::Json {
        path: dir.join("trainer_state.json"),
        source,
    })?;
    super::write_file(&staging.path().join("trainer_state.json"), &json)?;
    sync_dir(staging.path()).map_err(io(staging.path()))?;
    if dir.exists() {
        // A checkpoint of the same step from an earlier run that was not resumed.
        std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
    }
    std::fs::rename(staging.keep(), &dir).map_err(io(&dir))?;
    sync_dir(out).map_err(io(out))
}

/// Prefix of the hidden folder a checkpoint is written into before it is renamed into place.
const CHECKPOINT_STAGING: &str = ".checkpoint-staging-";

/// Removes staging folders a killed run left in `out` (best effort: they are hidden leftovers).
fn remove_checkpoint_staging(out: &Path) {
    let Ok(entries) = std::fs::read_dir(out) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(CHECKPOINT_STAGING)
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The checkpoint directory with the highest step in `out`, if any.
pub fn latest_checkpoint(out: &Path) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("checkpoint-"))
                && p.join("trainer_state.json").is_file()
        })
        .collect();
    dirs.sort();
    dirs.pop()
}

fn write_loss_csv(path: &Path, losses: &[(usize, f64, f64)]) -> Result<()> {
    let mut text = String::from("step,loss,learning_rate\n");
    for (step, loss, lr) in losses {
        text.push_str(&format!("{step},{loss:.6},{lr:.8}\n"));
    }
    super::write_file(path, text.as_bytes())
}

/// The loss curve as a small standalone SVG (a polyline with axes and labels).
pub fn loss_svg(losses: &[(usize, f64, f64)]) -> String {
    let (w, h, pad) = (640.0, 360.0, 48.0);
    let max_step = losses.last().map_or(1, |l| l.0).max(1) as f64;
    let max_loss = losses.iter().map(|l| l.1).fold(0.0f64, f64::max).max(1e-9);
    let points: Vec<String> = losses
        .iter()
        .map(|(step, loss, _)| {
            let x = pad + (*step as f64 / max_step) * (w - 2.0 * pad);
            let y = h - pad - (loss / max_loss) * (h - 2.0 * pad);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <line x1=\"{pad}\" y1=\"{y0}\" x2=\"{x1}\" y2=\"{y0}\" stroke=\"black\"/>\n\
         <line x1=\"{pad}\" y1=\"{pad}\" x2=\"{pad}\" y2=\"{y0}\" stroke=\"black\"/>\n\
         <text x=\"{pad}\" y=\"{ty}\" font-size=\"12\">loss (max {max_loss:.3})</text>\n\
         <text x=\"{x1}\" y=\"{sy}\" font-size=\"12\" text-anchor=\"end\">step {max_step}</text>\n\
         <polyline fill=\"none\" stroke=\"steelblue\" stroke-width=\"2\" points=\"{}\"/>\n</svg>\n",
        points.join(" "),
        y0 = h - pad,
        x1 = w - pad,
        ty = pad - 8.0,
        sy = h - pad + 20.0,
    )
}

/// Loads the base model for training: a Hugging Face directory (frozen matrices in the
/// checkpoint's dtype on the CPU, see [`Qwen2Model::load_for_training`]) or a GGUF file (its
/// quantized blocks, see [`Qwen2Model::load_gguf_for_training`]; the tokenizer from
/// `tokenizer.json` beside it, else from its metadata).
pub fn load_for_training(path: &Path, device: &Device) -> Result<(Qwen2Model, Tokenizer)> {
    if super::gguf_base::is_gguf(path) {
        let model = Qwen2Model::load_gguf_for_training(path, device)?;
        let tokenizer = super::tokenizer::load_tokenizer(path)?;
        return Ok((model, tokenizer));
    }
    if !path.join("config.json").is_file() {
        let what = if path.is_file() {
            "not a GGUF file (no GGUF magic)"
        } else if path.is_dir() {
            "a directory without config.json"
        } else {
            "not found"
        };
        return Err(ModelError::Format {
            path: path.to_path_buf(),
            message: format!(
                "{what}: give a .gguf file or a Hugging Face model directory (config.json, \
                 safetensors, tokenizer.json) as the base model"
            ),
        });
    }
    let model = Qwen2Model::load_for_training(path, device)?;
    let tokenizer = super::tokenizer::load_tokenizer_json(&path.join("tokenizer.json"))?;
    Ok((model, tokenizer))
}

/// One training run on an exported dataset: what `acdp train` and the language server's
/// `acdp.train` both describe.
#[derive(Clone, Debug)]
pub struct DatasetTraining {
    /// The base model: a Hugging Face directory (config.json, safetensors, tokenizer.json) or
    /// a .gguf file.
    pub model: PathBuf,
    /// Dataset directory with `train.jsonl` and optionally `dev.jsonl` (chat `messages` form).
    pub data: PathBuf,
    /// Where the adapter, checkpoints, `loss.csv` and `loss.svg` go.
    pub out: PathBuf,
    pub options: TrainOptions,
    /// Continue from the latest checkpoint in `out`.
    pub resume: bool,
}

/// What was read from the dataset before training starts.
#[derive(Clone, Debug, Serialize)]
pub struct DatasetCounts {
    pub samples: usize,
    /// Samples cut to `max_len` tokens.
    pub truncated: usize,
    /// Samples without an assistant token (left out).
    pub skipped: usize,
    pub dev_samples: usize,
}

/// Loads the base model and the dataset, then [`train_lora`]. `on_loaded` hears the sample
/// counts before the first step; `on_step` after each step and may stop the run.
pub fn train_on_dataset(
    run: &DatasetTraining,
    device: &Device,
    on_loaded: &mut dyn FnMut(&DatasetCounts),
    on_step: &mut dyn FnMut(&StepLog) -> ControlFlow<()>,
) -> Result<TrainReport> {
    let train_path = run.data.join("train.jsonl");
    if !train_path.is_file() {
        return Err(ModelError::Format {
            path: train_path,
            message: "no training samples: export a dataset first (`acdp pipeline`, or \
                      acdp.exportDataset in the editor)"
                .into(),
        });
    }
    let (mut model, tokenizer) = load_for_training(&run.model, device)?;
    let max_len = run.options.max_len;
    let train = load_examples(&train_path, &tokenizer, max_len)?;
    let dev_path = run.data.join("dev.jsonl");
    let dev = if dev_path.is_file() {
        load_examples(&dev_path, &tokenizer, max_len)?.examples
    } else {
        Vec::new()
    };
    on_loaded(&DatasetCounts {
        samples: train.examples.len(),
        truncated: train.truncated,
        skipped: train.skipped,
        dev_samples: dev.len(),
    });
    let base = run.model.to_string_lossy().into_owned();
    train_lora(
        &mut model,
        &train.examples,
        &dev,
        &run.options,
        &run.out,
        run.resume,
        Some(base),
        on_step,
    )
}
