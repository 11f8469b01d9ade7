//! The server's Prometheus metrics, kept in atomics and a few small maps, rendered as the
//! Prometheus text format (version 0.0.4) on `GET /metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the request latency histogram's buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Upper bounds of the tokens-per-pass histogram's buckets.
const TOKEN_BUCKETS: [f64; 10] = [
    16.0, 64.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0, 16384.0, 65536.0,
];

/// A cumulative histogram.
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, value: f64) {
        for (bound, count) in self.bounds.iter().zip(&mut self.counts) {
            if value <= *bound {
                *count += 1;
            }
        }
        self.sum += value;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// Everything `/metrics` reports.
pub(crate) struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    latency: Mutex<BTreeMap<&'static str, Histogram>>,
    batch_tokens: Mutex<Histogram>,
    queue_depth: AtomicU64,
    texts: AtomicU64,
    truncated: AtomicU64,
    passes: AtomicU64,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        Metrics {
            requests: Mutex::new(BTreeMap::new()),
            latency: Mutex::new(BTreeMap::new()),
            batch_tokens: Mutex::new(Histogram::new(&TOKEN_BUCKETS)),
            queue_depth: AtomicU64::new(0),
            texts: AtomicU64::new(0),
            truncated: AtomicU64::new(0),
            passes: AtomicU64::new(0),
        }
    }

    /// One answered request.
    pub(crate) fn request(&self, route: &'static str, status: u16, elapsed: Duration) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *requests.entry((route, status)).or_insert(0) += 1;
        drop(requests);
        let mut latency = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        latency
            .entry(route)
            .or_insert_with(|| Histogram::new(&LATENCY_BUCKETS))
            .observe(elapsed.as_secs_f64());
    }

    /// One batcher round: the texts it embedded, how many were truncated, the tokens it ran.
    pub(crate) fn pass(&self, texts: usize, truncated: usize, tokens: usize) {
        self.texts.fetch_add(texts as u64, Ordering::Relaxed);
        self.truncated
            .fetch_add(truncated as u64, Ordering::Relaxed);
        self.passes.fetch_add(1, Ordering::Relaxed);
        self.batch_tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .observe(tokens as f64);
    }

    pub(crate) fn queue_changed(&self, queued: bool) {
        if queued {
            self.queue_depth.fetch_add(1, Ordering::Relaxed);
        } else {
            self.queue_depth.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// The Prometheus text format.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP minilm_requests_total HTTP requests answered, by route and status.\n");
        out.push_str("# TYPE minilm_requests_total counter\n");
        for ((route, status), count) in self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "minilm_requests_total{{route=\"{route}\",status=\"{status}\"}} {count}"
            );
        }
        out.push_str(
            "# HELP minilm_request_duration_seconds Time from request to response, by route.\n",
        );
        out.push_str("# TYPE minilm_request_duration_seconds histogram\n");
        for (route, histogram) in self
            .latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            histogram.render(
                &mut out,
                "minilm_request_duration_seconds",
                &format!("route=\"{route}\""),
            );
        }
        out.push_str("# HELP minilm_queue_depth Embedding requests waiting for or in a pass.\n");
        out.push_str("# TYPE minilm_queue_depth gauge\n");
        let _ = writeln!(
            out,
            "minilm_queue_depth {}",
            self.queue_depth.load(Ordering::Relaxed)
        );
        out.push_str(
            "# HELP minilm_batch_tokens Tokens per batcher round (one or more forward passes).\n",
        );
        out.push_str("# TYPE minilm_batch_tokens histogram\n");
        self.batch_tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .render(&mut out, "minilm_batch_tokens", "");
        let counters = [
            (
                "minilm_texts_embedded_total",
                "Texts embedded.",
                &self.texts,
            ),
            (
                "minilm_truncated_texts_total",
                "Texts longer than the model reads, cut.",
                &self.truncated,
            ),
            ("minilm_batches_total", "Batcher rounds run.", &self.passes),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        out
    }
}
