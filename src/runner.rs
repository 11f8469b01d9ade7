//! The batch runner: planned texts (or checked token ids) into forward passes within the token
//! budget, on the embedder's own team of threads, pooled into vectors. Pass buffers are kept
//! and reused, so a warm call allocates nothing in the passes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use minilm_kernels::team::{Team, TeamGuard};
use minilm_kernels::Kernels;

use crate::config::{BertConfig, Pooling};
use crate::error::{Error, Result};
use crate::long_text::{weighted_mean, LongText, LongTextReport};
use crate::model::bert::{Activations, Bert, Tap, TokenBatch};
use crate::model::names::Dense;
use crate::pool::pool_sequence;
use crate::text_plan::{Planned, Planner};
use crate::tokenize::Tokens;

/// How long the embedder's worker threads spin after a parallel region before they park: longer
/// than the gaps between the regions of a forward pass and between back-to-back passes, short
/// enough that an idle embedder costs no CPU within a fraction of a millisecond.
const TEAM_SPIN: Duration = Duration::from_micros(200);

/// How one call embeds: the embedder's own settings, or a request's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CallOptions {
    pub long_text: LongText,
    /// L2-normalise the pooled vectors (the model's Normalize module, or a request's choice).
    pub normalize: bool,
}

/// What became of one text of a call: the tokens the model ran for it and whether it was cut.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TextOutcome {
    pub windows: usize,
    pub tokens: usize,
    pub truncated: bool,
}

/// What one forward pass works in: the batch's tokens and the activations.
#[derive(Default)]
struct PassBuffers {
    batch: TokenBatch,
    act: Activations,
}

/// The model, its pooling, and the threads and buffers that run it.
pub(crate) struct Runner {
    pub bert: Bert,
    pub pooling: Pooling,
    /// Texts tokenised and run per round.
    pub batch_size: usize,
    /// Tokens per forward pass (a longer single sequence still runs alone).
    pub batch_tokens: usize,
    pub team: Team,
    /// Buffers of finished passes, reused by later ones (one per concurrent caller at most).
    spare: Mutex<Vec<PassBuffers>>,
    /// The kernels' workspace peak every pool thread has been grown to (see
    /// [`Runner::reserve_workspace`]).
    workspace_reserved: AtomicUsize,
}

impl Runner {
    /// A runner of `threads` threads (the caller's and `threads - 1` workers).
    pub(crate) fn new(
        bert: Bert,
        pooling: Pooling,
        batch_size: usize,
        batch_tokens: usize,
        threads: usize,
    ) -> Result<Runner> {
        let team = Team::new(threads, "minilm", TEAM_SPIN)
            .map_err(|e| Error::ThreadPool(e.to_string()))?;
        Ok(Runner {
            bert,
            pooling,
            batch_size,
            batch_tokens,
            team,
            spare: Mutex::new(Vec::new()),
            workspace_reserved: AtomicUsize::new(0),
        })
    }

    /// Length of each pooled vector.
    pub(crate) fn dim(&self) -> usize {
        self.bert.config().hidden_size * self.pooling.modes()
    }

    pub(crate) fn kernels(&self) -> &Kernels {
        self.bert.kernels()
    }

    pub(crate) fn config(&self) -> &BertConfig {
        self.bert.config()
    }

    /// Embeds `texts`, each after `prompt`, into `out` (`texts.len()` rows of [`Runner::dim`])
    /// as `call` says, telling `outcome` what became of each text in turn.
    pub(crate) fn embed_texts<S: AsRef<str> + Sync>(
        &self,
        planner: &Planner,
        prompt: Option<&str>,
        texts: &[S],
        call: CallOptions,
        out: &mut [f32],
        outcome: &mut dyn FnMut(TextOutcome),
    ) -> Result<LongTextReport> {
        let dim = self.dim();
        check_rows(texts.len(), dim, out)?;
        let mut pass = self.take_buffers();
        let mut report = LongTextReport::default();
        let mut result = Ok(());
        for (chunk_index, chunk) in texts.chunks(self.batch_size).enumerate() {
            let first = chunk_index * self.batch_size;
            let team = self.team.lock();
            result = planner
                .plan_texts(&team, prompt, chunk, first, call.long_text)
                .map(|planned| {
                    let rows = &mut out[first * dim..(first + chunk.len()) * dim];
                    self.run_planned(&team, &mut pass, &planned, call.normalize, rows);
                    for (i, text) in planned.iter().enumerate() {
                        let tokens = text.sequences.iter().map(|t| t.ids.len()).sum();
                        report.record(first + i, text.sequences.len(), tokens, text.truncated);
                        outcome(TextOutcome {
                            windows: text.sequences.len(),
                            tokens,
                            truncated: text.truncated,
                        });
                    }
                });
            if result.is_err() {
                break;
            }
        }
        self.return_buffers(pass);
        result.map(|()| report)
    }

    /// Embeds planned texts into `out`, one row each: texts of one sequence straight into their
    /// row, windows of chunked texts into a scratch buffer, then averaged.
    fn run_planned(
        &self,
        team: &TeamGuard<'_>,
        pass: &mut PassBuffers,
        planned: &[Planned],
        normalize: bool,
        out: &mut [f32],
    ) {
        if planned.iter().all(|text| text.sequences.len() == 1) {
            let sequence = |i: usize| {
                let tokens = &planned[i].sequences[0];
                (&tokens.ids[..], Some(&tokens.type_ids[..]))
            };
            self.run_passes(team, pass, planned.len(), &sequence, &|_| normalize, out);
            return;
        }
        let dim = self.dim();
        // Window k of the call belongs to text owner[k]; a text of one window is pooled (and
        // normalised) as in the one-sequence case, so it gets the same vector.
        let mut owner = Vec::new();
        let mut windows: Vec<&Tokens> = Vec::new();
        for (t, text) in planned.iter().enumerate() {
            owner.extend(std::iter::repeat_n(t, text.sequences.len()));
            windows.extend(&text.sequences);
        }
        let sequence = |k: usize| (&windows[k].ids[..], Some(&windows[k].type_ids[..]));
        let single = |k: usize| planned[owner[k]].sequences.len() == 1;
        let mut rows = vec![0.0f32; windows.len() * dim];
        self.run_passes(
            team,
            pass,
            windows.len(),
            &sequence,
            &|k| normalize && single(k),
            &mut rows,
        );
        let mut next = 0;
        for (text, row) in planned.iter().zip(out.chunks_exact_mut(dim.max(1))) {
            let count = text.sequences.len();
            let window_rows = &rows[next * dim..(next + count) * dim];
            next += count;
            if count == 1 {
                row.copy_from_slice(window_rows);
                continue;
            }
            weighted_mean(window_rows, &text.weights, row);
            if normalize {
                self.kernels().l2_normalize(row);
            }
        }
    }

    /// Embeds checked token-id sequences (type ids all 0) into `out`, [`Runner::batch_size`]
    /// at a time.
    pub(crate) fn embed_ids(&self, sequences: &[&[u32]], normalize: bool, out: &mut [f32]) {
        let dim = self.dim();
        let mut pass = self.take_buffers();
        for (chunk_index, chunk) in sequences.chunks(self.batch_size).enumerate() {
            let first = chunk_index * self.batch_size;
            let sequence = |i: usize| (chunk[i], None);
            let rows = &mut out[first * dim..(first + chunk.len()) * dim];
            self.run_passes(
                &self.team.lock(),
                &mut pass,
                chunk.len(),
                &sequence,
                &|_| normalize,
                rows,
            );
        }
        self.return_buffers(pass);
    }

    /// Embeds `count` checked sequences (ids, and type ids or `None` for all 0) into `out`, in
    /// forward passes within the token budget; `normalize(i)` says whether sequence `i`'s
    /// vector is L2-normalised.
    fn run_passes<'a>(
        &self,
        team: &TeamGuard<'_>,
        pass: &mut PassBuffers,
        count: usize,
        sequence: &(dyn Fn(usize) -> (&'a [u32], Option<&'a [u32]>) + Sync),
        normalize: &dyn Fn(usize) -> bool,
        out: &mut [f32],
    ) {
        let dim = self.dim();
        let h = self.config().hidden_size;
        let mut next = 0;
        while next < count {
            let start = next;
            pass.batch.clear();
            while next < count
                && (next == start
                    || pass.batch.ids.len() + sequence(next).0.len() <= self.batch_tokens)
            {
                let (ids, type_ids) = sequence(next);
                pass.batch.push(ids, type_ids);
                next += 1;
            }
            let PassBuffers { batch, act } = &mut *pass;
            self.bert.forward(batch, act, team, &mut |_, _| {});
            self.reserve_workspace(team);
            let rows = out[start * dim..next * dim].chunks_exact_mut(dim.max(1));
            for (i, (range, vector)) in batch.sequences.iter().zip(rows).enumerate() {
                pool_sequence(
                    self.kernels(),
                    self.pooling,
                    normalize(start + i),
                    &act.hidden[range.start * h..range.end * h],
                    h,
                    vector,
                );
            }
        }
    }

    /// Grows every pool thread's kernel workspace to the largest need met so far, when that has
    /// risen since the last time. Which thread runs which kernel task is up to the scheduler, so
    /// without this a thread could meet a larger task for the first time long after warm-up and
    /// allocate in the hot path. Costs two atomic loads (no write) when nothing has changed.
    fn reserve_workspace(&self, team: &TeamGuard<'_>) {
        let peak = minilm_kernels::workspace::peak();
        if peak > self.workspace_reserved.load(Ordering::Relaxed)
            && peak > self.workspace_reserved.fetch_max(peak, Ordering::Relaxed)
        {
            team.broadcast(&|_| minilm_kernels::workspace::reserve());
        }
    }

    /// Pass buffers from an earlier call, or new ones.
    fn take_buffers(&self) -> PassBuffers {
        self.spare
            .lock()
            .map(|mut spare| spare.pop())
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    fn return_buffers(&self, pass: PassBuffers) {
        if let Ok(mut spare) = self.spare.lock() {
            spare.push(pass);
        }
    }

    /// The encoder's hidden states for one sequence: the embedding layer's output, then each
    /// layer's, each `tokens x hidden` floats row-major.
    pub(crate) fn hidden_states(&self, tokens: &Tokens) -> Vec<Vec<f32>> {
        let mut batch = TokenBatch::default();
        batch.push(&tokens.ids, Some(&tokens.type_ids));
        let mut states = Vec::with_capacity(self.config().num_layers + 1);
        let mut act = Activations::default();
        self.bert
            .forward(&batch, &mut act, &self.team.lock(), &mut |tap, rows| {
                if matches!(tap, Tap::Embeddings | Tap::LayerOutput { .. }) {
                    states.push(rows.to_vec());
                }
            });
        states
    }

    /// For each encoder layer and each of its dense layers (in [`Dense::ALL`] order), the
    /// largest magnitude each input channel takes over the tokens of `texts` (truncated as
    /// `planner` cuts them): the statistics SmoothQuant calibrates with.
    pub(crate) fn dense_input_maxima(
        &self,
        planner: &Planner,
        texts: &[&str],
    ) -> Result<Vec<Vec<Vec<f32>>>> {
        let config = self.config();
        let widths = [
            config.hidden_size,
            config.hidden_size,
            config.hidden_size,
            config.intermediate_size,
        ];
        let mut maxima: Vec<Vec<Vec<f32>>> = (0..config.num_layers)
            .map(|_| widths.iter().map(|&k| vec![0.0f32; k]).collect())
            .collect();
        let mut act = Activations::default();
        for chunk in texts.chunks(self.batch_size.max(1)) {
            let mut batch = TokenBatch::default();
            for (index, text) in chunk.iter().enumerate() {
                let tokens = planner.tokenize_one(text, index)?;
                batch.push(&tokens.ids, Some(&tokens.type_ids));
            }
            let team = self.team.lock();
            self.bert
                .forward(&batch, &mut act, &team, &mut |tap, rows| {
                    let Tap::DenseInput { layer, dense } = tap else {
                        return;
                    };
                    let slot = Dense::ALL.iter().position(|&d| d == dense).unwrap_or(0);
                    let max = &mut maxima[layer][slot];
                    for row in rows.chunks_exact(max.len().max(1)) {
                        for (m, &x) in max.iter_mut().zip(row) {
                            *m = m.max(x.abs());
                        }
                    }
                });
        }
        Ok(maxima)
    }
}

/// Errors unless `out` holds exactly `count` rows of `width` floats.
pub(crate) fn check_rows(count: usize, width: usize, out: &[f32]) -> Result<()> {
    if out.len() != count * width {
        return Err(Error::InvalidOption(format!(
            "output buffer holds {} floats; {count} embeddings of {width} need {}",
            out.len(),
            count * width
        )));
    }
    Ok(())
}
