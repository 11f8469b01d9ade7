//! The BERT encoder: embeddings, then self-attention + feed-forward layers.
//!
//! A batch runs padding-free: the token rows of all its sequences are stacked into one matrix for
//! every dense layer, and attention runs per sequence over that sequence's own rows only. A
//! sequence's result therefore never depends on what else is in its batch.

use std::ops::Range;

use minilm_kernels::mapped_file::{MappedBytes, MappedF32};
use minilm_kernels::qgemm::{dequantize_weight, round_trip_weight_row};
use minilm_kernels::{AlignedF32, Epilogue, Kernels, TaskRunner};

use crate::config::BertConfig;
use crate::error::{Error, Result};
use crate::options::Precision;
use crate::weights::Tensors;

use super::linear::{Linear, Weight};
use super::names::Dense;
use super::smoothing::Smoothing;

/// Token rows of several sequences, stacked.
#[derive(Default)]
pub(crate) struct TokenBatch {
    /// Token ids of all sequences, back to back.
    pub ids: Vec<u32>,
    /// Token-type ids, one per token.
    pub type_ids: Vec<u32>,
    /// Each sequence's rows in `ids`.
    pub sequences: Vec<Range<usize>>,
}

impl TokenBatch {
    /// Empties the batch, keeping its memory.
    pub fn clear(&mut self) {
        self.ids.clear();
        self.type_ids.clear();
        self.sequences.clear();
    }

    /// Appends one sequence, with its token types (`None`: all 0).
    pub fn push(&mut self, ids: &[u32], type_ids: Option<&[u32]>) {
        let start = self.ids.len();
        self.ids.extend_from_slice(ids);
        match type_ids {
            Some(types) => self.type_ids.extend_from_slice(types),
            None => self.type_ids.resize(self.ids.len(), 0),
        }
        self.sequences.push(start..self.ids.len());
    }
}

/// The activations of one forward pass, kept between passes so that a pass over a batch no
/// larger than an earlier one allocates nothing.
#[derive(Default)]
pub(crate) struct Activations {
    /// The hidden state, `tokens x hidden`: the pass's result.
    pub hidden: Vec<f32>,
    qkv: Vec<f32>,
    context: Vec<f32>,
    intermediate: Vec<f32>,
}

/// `buffer` resized to `len` (its contents are overwritten by the pass), growing only when a
/// batch is larger than any before.
fn sized(buffer: &mut Vec<f32>, len: usize) -> &mut [f32] {
    buffer.resize(len, 0.0);
    buffer
}

struct LayerNorm {
    gamma: AlignedF32,
    beta: AlignedF32,
}

struct Layer {
    qkv: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

impl LayerNorm {
    fn load(tensors: &Tensors<'_>, name: &str, width: usize) -> Result<LayerNorm> {
        let (gamma, beta) = tensors.layernorm(name, width)?;
        Ok(LayerNorm { gamma, beta })
    }
}

impl Layer {
    fn load(
        config: &BertConfig,
        tensors: &Tensors<'_>,
        kernels: &Kernels,
        precision: Precision,
        smoothing: Option<&Smoothing>,
        index: usize,
    ) -> Result<Layer> {
        let (h, inner) = (config.hidden_size, config.intermediate_size);
        let prefix = format!("encoder.layer.{index}");
        let smooth = |dense| smoothing.map(|s| s.factors(index, dense));
        let linear = |dense, name: &str, n, k| {
            Linear::load(tensors, kernels, precision, smooth(dense), name, n, k)
        };
        Ok(Layer {
            qkv: Linear::load_qkv(tensors, kernels, precision, smooth(Dense::Qkv), &prefix, h)?,
            attention_out: linear(
                Dense::AttentionOut,
                &format!("{prefix}.attention.output.dense"),
                h,
                h,
            )?,
            attention_norm: LayerNorm::load(
                tensors,
                &format!("{prefix}.attention.output.LayerNorm"),
                h,
            )?,
            intermediate: linear(
                Dense::Intermediate,
                &format!("{prefix}.intermediate.dense"),
                inner,
                h,
            )?,
            output: linear(Dense::Output, &format!("{prefix}.output.dense"), h, inner)?,
            output_norm: LayerNorm::load(tensors, &format!("{prefix}.output.LayerNorm"), h)?,
        })
    }
}

/// A point in the forward pass that [`Bert::forward`] lets its caller observe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tap {
    /// The embedding layer's output (`tokens x hidden`).
    Embeddings,
    /// The input of dense layer `dense` of encoder layer `layer` (`tokens x k`).
    DenseInput { layer: usize, dense: Dense },
    /// Encoder layer `layer`'s output (`tokens x hidden`).
    LayerOutput { layer: usize },
}

/// The word-embedding table: in place in the mapped file when it is stored as aligned F32 or as
/// int8 rows (only the rows a text uses are ever read), else a converted copy.
enum WordEmbeddings {
    InPlace(MappedF32),
    Copied(AlignedF32),
    /// int8 values, one symmetric scale per row (a quantised file).
    Int8 {
        values: MappedBytes,
        scales: Vec<f32>,
    },
}

impl WordEmbeddings {
    const NAME: &'static str = "embeddings.word_embeddings.weight";

    fn load(tensors: &Tensors<'_>, vocab: usize, h: usize) -> Result<WordEmbeddings> {
        if tensors.is_quantized() {
            if let Some((values, scales)) = tensors.int8_rows_in_place(Self::NAME, vocab, h)? {
                return Ok(WordEmbeddings::Int8 { values, scales });
            }
        }
        Ok(match tensors.in_place(Self::NAME, &[vocab, h])? {
            Some(view) => WordEmbeddings::InPlace(view),
            None => WordEmbeddings::Copied(tensors.get(Self::NAME, &[vocab, h])?),
        })
    }

    /// Writes row `word` (`out.len()` wide) into `out`. With `int8`, an f32 table's row goes
    /// through the int8 round trip a quantised file stores, so quantising at load computes what
    /// the file would.
    fn row_into(&self, word: usize, out: &mut [f32], int8: bool) {
        let h = out.len();
        let f32_row = |table: &[f32], out: &mut [f32]| {
            out.copy_from_slice(&table[word * h..(word + 1) * h]);
            if int8 {
                round_trip_weight_row(out);
            }
        };
        match self {
            WordEmbeddings::InPlace(view) => f32_row(view, out),
            WordEmbeddings::Copied(values) => f32_row(values, out),
            WordEmbeddings::Int8 { values, scales } => {
                let scale = scales[word];
                for (d, &q) in out.iter_mut().zip(&values[word * h..(word + 1) * h]) {
                    *d = dequantize_weight(q as i8, scale);
                }
            }
        }
    }
}

/// BERT weights, packed for one kernel path.
pub(crate) struct Bert {
    config: BertConfig,
    kernels: &'static Kernels,
    precision: Precision,
    word_embeddings: WordEmbeddings,
    position_embeddings: AlignedF32,
    token_type_embeddings: AlignedF32,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
}

impl Bert {
    /// Loads and packs every tensor, checking each against `config`. The word embeddings (half
    /// an f32 file) are checked on a second thread while the layers are packed.
    pub(crate) fn load(
        config: &BertConfig,
        tensors: &Tensors<'_>,
        kernels: &'static Kernels,
        precision: Option<Precision>,
        smoothing: Option<&Smoothing>,
    ) -> Result<Bert> {
        let h = config.hidden_size;
        let precision = match (precision, tensors.is_quantized()) {
            (Some(Precision::F32), true) => {
                return Err(Error::InvalidOption(
                    "the model file holds int8-quantised weights: load it with precision int8 \
                     (the default for such a file)"
                        .into(),
                ))
            }
            (_, true) => Precision::Int8,
            (precision, false) => precision.unwrap_or_default(),
        };
        // The word embeddings (half an f32 file) are read in place, checked on one thread while
        // the layers are packed on two: that is the whole of the load's work on a 2-core machine.
        let (word_embeddings, layers) = std::thread::scope(|scope| {
            let words = scope.spawn(|| WordEmbeddings::load(tensors, config.vocab_size, h));
            let half = config.num_layers / 2;
            let load = |layers: Range<usize>| {
                layers
                    .map(|index| Layer::load(config, tensors, kernels, precision, smoothing, index))
                    .collect::<Result<Vec<Layer>>>()
            };
            let second = scope.spawn(move || load(half..config.num_layers));
            let first = load(0..half);
            fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            }
            let second: Result<Vec<Layer>> = join(second);
            let layers = first.and_then(|mut first| {
                first.extend(second?);
                Ok(first)
            });
            (join(words), layers)
        });
        Ok(Bert {
            config: config.clone(),
            kernels,
            precision,
            word_embeddings: word_embeddings?,
            position_embeddings: tensors.get(
                "embeddings.position_embeddings.weight",
                &[config.max_position_embeddings, h],
            )?,
            token_type_embeddings: tensors.get(
                "embeddings.token_type_embeddings.weight",
                &[config.type_vocab_size, h],
            )?,
            embedding_norm: LayerNorm::load(tensors, "embeddings.LayerNorm", h)?,
            layers: layers?,
        })
    }

    pub(crate) fn config(&self) -> &BertConfig {
        &self.config
    }

    pub(crate) fn kernels(&self) -> &'static Kernels {
        self.kernels
    }

    pub(crate) fn precision(&self) -> Precision {
        self.precision
    }

    /// Runs the encoder over `batch`, leaving the last hidden state, one row per token, in
    /// `act.hidden`. `observe` sees the embedding output and then each layer's output.
    ///
    /// The caller guarantees every id is below `vocab_size`, every type id below
    /// `type_vocab_size`, and no sequence is longer than `max_position_embeddings`.
    /// Parallel regions run on `runner`.
    pub(crate) fn forward(
        &self,
        batch: &TokenBatch,
        act: &mut Activations,
        runner: &dyn TaskRunner,
        observe: &mut dyn FnMut(Tap, &[f32]),
    ) {
        let h = self.config.hidden_size;
        let rows = batch.ids.len();
        let hidden = sized(&mut act.hidden, rows * h);
        let qkv = sized(&mut act.qkv, rows * 3 * h);
        let context = sized(&mut act.context, rows * h);
        let intermediate = sized(&mut act.intermediate, rows * self.config.intermediate_size);
        self.embed(batch, hidden, runner);
        observe(Tap::Embeddings, hidden);
        let eps = self.config.layer_norm_eps;
        let input = |layer, dense| Tap::DenseInput { layer, dense };
        for (index, layer) in self.layers.iter().enumerate() {
            observe(input(index, Dense::Qkv), hidden);
            self.dense(
                hidden,
                &layer.qkv,
                Epilogue::Bias(&layer.qkv.bias),
                qkv,
                runner,
            );
            self.kernels.attention_batch(
                qkv,
                &batch.sequences,
                self.config.num_heads,
                context,
                runner,
            );
            observe(input(index, Dense::AttentionOut), context);
            self.dense(
                context,
                &layer.attention_out,
                Epilogue::BiasResidual(&layer.attention_out.bias),
                hidden,
                runner,
            );
            self.layernorm(hidden, &layer.attention_norm, eps, runner);
            observe(input(index, Dense::Intermediate), hidden);
            self.dense(
                hidden,
                &layer.intermediate,
                Epilogue::BiasGelu(&layer.intermediate.bias),
                intermediate,
                runner,
            );
            observe(input(index, Dense::Output), intermediate);
            self.dense(
                intermediate,
                &layer.output,
                Epilogue::BiasResidual(&layer.output.bias),
                hidden,
                runner,
            );
            self.layernorm(hidden, &layer.output_norm, eps, runner);
            observe(Tap::LayerOutput { layer: index }, hidden);
        }
    }

    /// Word + position + token-type embeddings, then LayerNorm.
    fn embed(&self, batch: &TokenBatch, out: &mut [f32], runner: &dyn TaskRunner) {
        let h = self.config.hidden_size;
        let int8 = self.precision == Precision::Int8;
        for range in &batch.sequences {
            for (position, row) in range.clone().enumerate() {
                let word = batch.ids[row] as usize;
                let kind = batch.type_ids[row] as usize;
                let dst = &mut out[row * h..(row + 1) * h];
                self.word_embeddings.row_into(word, dst, int8);
                let p = &self.position_embeddings[position * h..(position + 1) * h];
                let t = &self.token_type_embeddings[kind * h..(kind + 1) * h];
                for ((d, &p), &t) in dst.iter_mut().zip(p).zip(t) {
                    *d = *d + t + p;
                }
            }
        }
        self.layernorm(
            out,
            &self.embedding_norm,
            self.config.layer_norm_eps,
            runner,
        );
    }

    /// `out = epilogue(input · Wᵀ)` on the pool's threads (the kernels choose the split).
    fn dense(
        &self,
        input: &[f32],
        linear: &Linear,
        epilogue: Epilogue<'_>,
        out: &mut [f32],
        runner: &dyn TaskRunner,
    ) {
        let rows = input.len() / linear.weight.k();
        match &linear.weight {
            Weight::F32(w) => self
                .kernels
                .gemm_parallel(input, rows, w, epilogue, out, runner),
            Weight::Int8(w) => self
                .kernels
                .qgemm_parallel(input, rows, w, epilogue, out, runner),
        }
    }

    fn layernorm(&self, x: &mut [f32], norm: &LayerNorm, eps: f32, runner: &dyn TaskRunner) {
        self.kernels
            .layernorm_parallel(x, &norm.gamma, &norm.beta, eps, runner);
    }
}
