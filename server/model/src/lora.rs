//! LoRA: a frozen linear plus a trainable low-rank update, saved in the PEFT layout.
//!
//! The base weight is a [`FrozenWeight`], never a `Var`: dense in the checkpoint's dtype or a
//! GGUF file's quantized blocks. In training its product goes through [`FrozenMatmul`], whose
//! backward returns the input gradient only (see [`crate::frozen`]).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use serde::{Deserialize, Serialize};

use super::frozen::{FrozenMatmul, FrozenWeight};
use super::{ModelError, Result, SplitMix64};

/// The projections LoRA may adapt. Embeddings and the lm_head are never adapted.
pub const ATTENTION_MODULES: [&str; 4] = ["q_proj", "k_proj", "v_proj", "o_proj"];
pub const MLP_MODULES: [&str; 3] = ["gate_proj", "up_proj", "down_proj"];

/// Rank, scaling and dropout of the adapters, and which projections get one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    pub rank: usize,
    pub alpha: f64,
    pub dropout: f32,
    /// Also adapt gate/up/down projections of the MLP.
    pub mlp: bool,
}

impl Default for LoraConfig {
    fn default() -> Self {
        LoraConfig {
            rank: 8,
            alpha: 16.0,
            dropout: 0.05,
            mlp: false,
        }
    }
}

impl LoraConfig {
    pub fn scale(&self) -> f64 {
        self.alpha / self.rank as f64
    }

    pub fn target_modules(&self) -> Vec<&'static str> {
        let mut modules = ATTENTION_MODULES.to_vec();
        if self.mlp {
            modules.extend(MLP_MODULES);
        }
        modules
    }
}

/// The trainable part of a [`LoraLinear`]: `A [r, in]`, `B [out, r]`.
#[derive(Clone, Debug)]
pub struct LoraAdapter {
    pub a: Var,
    pub b: Var,
    pub scale: f64,
    pub dropout: f32,
}

/// `y = x W^T + bias + scale * dropout(x) A^T B^T`.
#[derive(Clone, Debug)]
pub struct LoraLinear {
    /// `[out, in]`.
    pub weight: FrozenWeight,
    pub bias: Option<Tensor>,
    pub adapter: Option<LoraAdapter>,
}

impl LoraLinear {
    pub fn new(weight: FrozenWeight, bias: Option<Tensor>) -> Self {
        LoraLinear {
            weight,
            bias,
            adapter: None,
        }
    }

    pub fn in_dim(&self) -> usize {
        self.weight.dims().1
    }

    pub fn out_dim(&self) -> usize {
        self.weight.dims().0
    }

    /// Adds a fresh adapter: A kaiming-uniform-like (bound `1/sqrt(in)`), B zeros, so the
    /// adapted layer starts equal to the base.
    pub fn attach(
        &mut self,
        config: &LoraConfig,
        rng: &mut SplitMix64,
        device: &Device,
    ) -> Result<()> {
        let (out_dim, in_dim) = (self.out_dim(), self.in_dim());
        let bound = 1.0 / (in_dim as f32).sqrt();
        let a: Vec<f32> = (0..config.rank * in_dim)
            .map(|_| rng.uniform(bound))
            .collect();
        let a = Tensor::from_vec(a, (config.rank, in_dim), device)?;
        let b = Tensor::zeros((out_dim, config.rank), DType::F32, device)?;
        self.set_adapter(a, b, config)
    }

    /// Sets an adapter from given A and B (for loading a saved one).
    pub fn set_adapter(&mut self, a: Tensor, b: Tensor, config: &LoraConfig) -> Result<()> {
        let (out_dim, in_dim) = (self.out_dim(), self.in_dim());
        if a.dims() != [config.rank, in_dim] || b.dims() != [out_dim, config.rank] {
            return Err(ModelError::Invalid(format!(
                "LoRA shapes A {:?} B {:?} do not fit a [{out_dim}, {in_dim}] layer with rank {}",
                a.dims(),
                b.dims(),
                config.rank
            )));
        }
        self.adapter = Some(LoraAdapter {
            a: Var::from_tensor(&a.to_dtype(DType::F32)?)?,
            b: Var::from_tensor(&b.to_dtype(DType::F32)?)?,
            scale: config.scale(),
            dropout: config.dropout,
        });
        Ok(())
    }

    /// Folds the adapter into the base weight: `W += scale * B A`. Same outputs, no extra cost.
    pub fn merge(&mut self) -> Result<()> {
        if let Some(adapter) = self.adapter.take() {
            let delta = (adapter.b.as_tensor().matmul(adapter.a.as_tensor())? * adapter.scale)?;
            self.weight = match &self.weight {
                FrozenWeight::Dense(weight) => {
                    FrozenWeight::Dense((weight + delta.to_dtype(weight.dtype())?)?)
                }
                quantized => FrozenWeight::Dense((quantized.to_f32(delta.device())? + delta)?),
            };
        }
        Ok(())
    }

    /// `x`: `[..., in]`. With `rng`, training: dropout on the adapter's input and a base
    /// product that never builds a gradient for the frozen weight.
    pub fn forward(&self, x: &Tensor, rng: Option<&mut SplitMix64>) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let in_dim = self.in_dim();
        let rows: usize = dims[..dims.len() - 1].iter().product();
        let x2 = x.reshape((rows, in_dim))?;
        let training = rng.is_some();
        let mut y = if training && x2.device().is_cpu() && x2.dtype() == DType::F32 {
            x2.contiguous()?.apply_op1(FrozenMatmul {
                weight: self.weight.clone(),
            })?
        } else {
            self.weight.product(&x2)?
        };
        if let Some(bias) = &self.bias {
            y = y.broadcast_add(bias)?;
        }
        if let Some(adapter) = &self.adapter {
            let input = match rng {
                Some(rng) if adapter.dropout > 0.0 => dropout(&x2, adapter.dropout, rng)?,
                _ => x2.clone(),
            };
            let update = input
                .matmul(&adapter.a.as_tensor().t()?)?
                .matmul(&adapter.b.as_tensor().t()?)?;
            y = (y + (update * adapter.scale)?)?;
        }
        let mut out_dims = dims;
        *out_dims
            .last_mut()
            .expect("input has at least one dimension") = self.out_dim();
        Ok(y.reshape(out_dims)?)
    }
}

fn dropout(x: &Tensor, p: f32, rng: &mut SplitMix64) -> Result<Tensor> {
    let keep = 1.0 - p;
    let mask: Vec<f32> = (0..x.elem_count())
        .map(|_| {
            if rng.next_f32() < keep {
                1.0 / keep
            } else {
                0.0
            }
        })
        .collect();
    let mask = Tensor::from_vec(mask, x.shape(), x.device())?;
    Ok((x * mask)?)
}

/// `adapter_config.json` as PEFT writes and reads it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PeftAdapterConfig {
    pub peft_type: String,
    pub task_type: String,
    pub r: usize,
    pub lora_alpha: f64,
    #[serde(default)]
    pub lora_dropout: f32,
    pub target_modules: TargetModules,
    #[serde(default)]
    pub bias: String,
    #[serde(default)]
    pub fan_in_fan_out: bool,
    #[serde(default)]
    pub inference_mode: bool,
    #[serde(default)]
    pub base_model_name_or_path: Option<String>,
    /// PEFT options acdp does not apply; an adapter that sets them is refused rather than
    /// applied with the wrong scale (rsLoRA scales by alpha / sqrt(r)) or shape.
    #[serde(default, skip_serializing_if = "is_false")]
    pub use_rslora: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub use_dora: bool,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub rank_pattern: serde_json::Map<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub alpha_pattern: serde_json::Map<String, serde_json::Value>,
}

fn is_false(value: &bool) -> bool {
    !value
}

/// PEFT's `target_modules`: a list of module names, or one string (`"all-linear"`, or a regex
/// over full module paths) as TRL recipes and `LoraConfig(target_modules="all-linear")` write.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TargetModules {
    Names(Vec<String>),
    Pattern(String),
}

impl TargetModules {
    /// The Qwen2 projections whose A/B tensors an adapter may hold: the names listed, or every
    /// projection for a pattern (the adapter's tensors then say which ones it adapts, and a
    /// tensor of anything else is still refused by [`adapter_pairs`]).
    pub fn modules(&self) -> Vec<String> {
        match self {
            TargetModules::Names(names) => names.clone(),
            TargetModules::Pattern(_) => ATTENTION_MODULES
                .iter()
                .chain(MLP_MODULES.iter())
                .map(|m| m.to_string())
                .collect(),
        }
    }
}

/// One adapted projection: layer, module (`q_proj` …), `A [r, in]`, `B [out, r]`.
pub type AdapterPair = (usize, String, Tensor, Tensor);

/// The adapter's A/B pairs for a model of `layers` layers, in layer and module order. The one
/// reading of an adapter's tensors for both model kinds: a tensor left over (another key
/// layout, a module acdp does not adapt, `modules_to_save`) or no pair at all is an error,
/// never an adapter silently applied in part or not at all.
pub fn adapter_pairs(
    dir: &Path,
    peft: &PeftAdapterConfig,
    mut tensors: HashMap<String, Tensor>,
    layers: usize,
) -> Result<Vec<AdapterPair>> {
    let format = |message: String| ModelError::Format {
        path: dir.join("adapter_model.safetensors"),
        message,
    };
    let mut pairs = Vec::new();
    let modules = peft.target_modules.modules();
    for layer in 0..layers {
        for module in &modules {
            let (Some(a), Some(b)) = (
                tensors.remove(&peft_key(layer, module, 'A')),
                tensors.remove(&peft_key(layer, module, 'B')),
            ) else {
                continue;
            };
            if !ATTENTION_MODULES.contains(&module.as_str())
                && !MLP_MODULES.contains(&module.as_str())
            {
                return Err(format(format!(
                    "target module {module:?} is not a Qwen2 projection"
                )));
            }
            pairs.push((layer, module.clone(), a, b));
        }
    }
    if !tensors.is_empty() {
        let mut left: Vec<&String> = tensors.keys().collect();
        left.sort();
        return Err(format(format!(
            "{} tensor(s) would not be applied, e.g. {:?}: acdp reads A/B under PEFT's keys \
             (base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight) for the {} layers \
             of this model",
            left.len(),
            left.iter().take(3).collect::<Vec<_>>(),
            layers
        )));
    }
    if pairs.is_empty() {
        return Err(format(format!(
            "no A/B tensors of the target modules {modules:?}"
        )));
    }
    Ok(pairs)
}

impl PeftAdapterConfig {
    pub fn from_lora(config: &LoraConfig, base_model: Option<String>) -> Self {
        PeftAdapterConfig {
            peft_type: "LORA".into(),
            task_type: "CAUSAL_LM".into(),
            r: config.rank,
            lora_alpha: config.alpha,
            lora_dropout: config.dropout,
            target_modules: TargetModules::Names(
                config
                    .target_modules()
                    .iter()
                    .map(|m| m.to_string())
                    .collect(),
            ),
            bias: "none".into(),
            fan_in_fan_out: false,
            inference_mode: true,
            base_model_name_or_path: base_model,
            use_rslora: false,
            use_dora: false,
            rank_pattern: serde_json::Map::new(),
            alpha_pattern: serde_json::Map::new(),
        }
    }

    pub fn lora_config(&self) -> LoraConfig {
        LoraConfig {
            rank: self.r,
            alpha: self.lora_alpha,
            dropout: self.lora_dropout,
            mlp: self
                .target_modules
                .modules()
                .iter()
                .any(|m| MLP_MODULES.contains(&m.as_str())),
        }
    }
}

/// The PEFT key of a module's A or B matrix, e.g.
/// `base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight`.
pub fn peft_key(layer: usize, module: &str, matrix: char) -> String {
    let block = if MLP_MODULES.contains(&module) {
        "mlp"
    } else {
        "self_attn"
    };
    format!("base_model.model.model.layers.{layer}.{block}.{module}.lora_{matrix}.weight")
}

/// Writes `adapter_config.json` and `adapter_model.safetensors` into `dir`.
pub fn save_peft_adapter(
    dir: &Path,
    config: &PeftAdapterConfig,
    tensors: &HashMap<String, Tensor>,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| ModelError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let json = serde_json::to_vec_pretty(config).map_err(|source| ModelError::Json {
        path: dir.join("adapter_config.json"),
        source,
    })?;
    super::write_file(&dir.join("adapter_config.json"), &json)?;
    super::save_tensors(tensors, &dir.join("adapter_model.safetensors"))?;
    Ok(())
}

/// Reads an adapter directory written by [`save_peft_adapter`] or by PEFT.
pub fn load_peft_adapter(
    dir: &Path,
    device: &Device,
) -> Result<(PeftAdapterConfig, HashMap<String, Tensor>)> {
    let config: PeftAdapterConfig = super::read_json(&dir.join("adapter_config.json"))?;
    let unsupported: Vec<&str> = [
        ("use_rslora", config.use_rslora),
        ("use_dora", config.use_dora),
        ("rank_pattern", !config.rank_pattern.is_empty()),
        ("alpha_pattern", !config.alpha_pattern.is_empty()),
    ]
    .into_iter()
    .filter(|(_, set)| *set)
    .map(|(name, _)| name)
    .collect();
    if !unsupported.is_empty() {
        return Err(ModelError::Format {
            path: dir.join("adapter_config.json"),
            message: format!(
                "sets {unsupported:?}, which acdp does not apply: train the adapter without them"
            ),
        });
    }
    if config.peft_type != "LORA" {
        return Err(ModelError::Format {
            path: dir.join("adapter_config.json"),
            message: format!(
                "peft_type {:?}: only LORA adapters are supported",
                config.peft_type
            ),
        });
    }
    let path = dir.join("adapter_model.safetensors");
    if !path.is_file() {
        return Err(ModelError::Format {
            path,
            message: "missing: an adapter directory holds adapter_model.safetensors".into(),
        });
    }
    let tensors = candle_core::safetensors::load(&path, device)?;
    Ok((config, tensors))
}
