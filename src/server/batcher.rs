//! Batching across requests: handlers queue jobs (a bounded queue: a full one is the caller's
//! 429), and one thread takes every job waiting, up to a token budget, and embeds their texts
//! together. The embedder forms padding-free forward passes within its own token budget, and a
//! text's vector does not depend on what it was batched with, so each request gets exactly the
//! vectors it would get alone.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::error::Error;
use crate::long_text::LongTextReport;
use crate::runner::CallOptions;
use crate::server::metrics::Metrics;
use crate::Embedder;

/// What a job gets back: one row of `dim` floats per text, and the long-text report.
pub(crate) type JobResult = Result<(Vec<f32>, LongTextReport), Error>;

/// One request's texts, with how to embed them.
pub(crate) struct Job {
    pub texts: Vec<String>,
    pub prompt: Option<String>,
    pub call: CallOptions,
    pub reply: oneshot::Sender<JobResult>,
}

impl Job {
    /// A rough token count for forming rounds (the embedder enforces the real budget).
    fn estimated_tokens(&self, max_length: usize) -> usize {
        let prompt = self.prompt.as_deref().map_or(0, str::len);
        self.texts
            .iter()
            .map(|t| ((prompt + t.len()) / 4 + 2).min(max_length))
            .sum()
    }

    fn same_kind(&self, other: &Job) -> bool {
        self.prompt == other.prompt
            && self.call.long_text == other.call.long_text
            && self.call.normalize == other.call.normalize
    }
}

/// The handlers' side of the queue.
#[derive(Clone)]
pub(crate) struct Queue {
    sender: SyncSender<Job>,
}

/// Why a job was not queued.
pub(crate) enum Refused {
    Full,
    Stopped,
}

impl Queue {
    pub(crate) fn submit(&self, job: Job) -> Result<(), Refused> {
        self.sender.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => Refused::Full,
            TrySendError::Disconnected(_) => Refused::Stopped,
        })
    }
}

/// Starts the batcher thread; it stops once every [`Queue`] is dropped and the queue is empty.
pub(crate) fn start(
    embedder: Arc<Embedder>,
    metrics: Arc<Metrics>,
    capacity: usize,
    round_tokens: usize,
) -> std::io::Result<(Queue, JoinHandle<()>)> {
    let (sender, receiver) = sync_channel(capacity.max(1));
    let thread = std::thread::Builder::new()
        .name("minilm-batcher".into())
        .spawn(move || run(&embedder, &metrics, &receiver, round_tokens))?;
    Ok((Queue { sender }, thread))
}

fn run(embedder: &Embedder, metrics: &Metrics, receiver: &Receiver<Job>, round_tokens: usize) {
    let max_length = embedder.max_length();
    let mut waiting: Option<Job> = None;
    loop {
        let first = match waiting.take() {
            Some(job) => job,
            None => match receiver.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        // Every job of the same kind waiting now, within the round's token budget.
        let mut tokens = first.estimated_tokens(max_length);
        let mut round = vec![first];
        while tokens < round_tokens {
            match receiver.try_recv() {
                Ok(job) if job.same_kind(&round[0]) => {
                    tokens += job.estimated_tokens(max_length);
                    round.push(job);
                }
                Ok(job) => {
                    waiting = Some(job);
                    break;
                }
                Err(_) => break,
            }
        }
        embed_round(embedder, metrics, round);
    }
}

/// Embeds a round's texts in one call and answers each job with its rows and report; if the
/// call fails (one text over the limit in error mode, say), each job runs alone to get its own
/// answer.
fn embed_round(embedder: &Embedder, metrics: &Metrics, round: Vec<Job>) {
    let dim = embedder.dim();
    let texts: Vec<&str> = round
        .iter()
        .flat_map(|job| job.texts.iter().map(String::as_str))
        .collect();
    let (prompt, call) = (round[0].prompt.as_deref(), round[0].call);
    let mut rows = vec![0.0f32; texts.len() * dim];
    let mut outcomes = Vec::with_capacity(texts.len());
    let result = embedder.runner.embed_texts(
        &embedder.planner,
        prompt,
        &texts,
        call,
        &mut rows,
        &mut |o| outcomes.push(o),
    );
    match result {
        Ok(report) => {
            metrics.pass(report.texts, report.truncated, report.tokens);
            let mut next = 0;
            for job in round {
                let count = job.texts.len();
                let mine = rows[next * dim..(next + count) * dim].to_vec();
                let mut report = LongTextReport::default();
                for (i, outcome) in outcomes[next..next + count].iter().enumerate() {
                    report.record(i, outcome.windows, outcome.tokens, outcome.truncated);
                }
                next += count;
                metrics.queue_changed(false);
                let _ = job.reply.send(Ok((mine, report)));
            }
        }
        Err(_) if round.len() > 1 => {
            for job in round {
                embed_round(embedder, metrics, vec![job]);
            }
        }
        Err(e) => {
            if let Some(job) = round.into_iter().next() {
                metrics.queue_changed(false);
                let _ = job.reply.send(Err(e));
            }
        }
    }
}
