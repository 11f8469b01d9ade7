//! An HTTP embedding server (feature `server`; `minilm serve` on the command line): the routes of
//! text-embeddings-inference (`/embed`, `/similarity`, `/tokenize`, `/info`, `/health`) and
//! OpenAI's `/v1/embeddings`, Prometheus `/metrics`, and batching across requests.
//!
//! ```no_run
//! use minilm::server::{Server, ServerOptions};
//! use minilm::{Embedder, Options};
//!
//! let embedder = Embedder::from_dir(minilm::default_model_dir()?, &Options::default())?;
//! let listener = std::net::TcpListener::bind("127.0.0.1:8080")?;
//! let server = Server::start(listener, embedder, ServerOptions::default())?;
//! println!("listening on {}", server.local_addr());
//! server.wait()?; // until SIGINT or SIGTERM, then a graceful stop
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod api;
mod batcher;
mod metrics;
mod openai;

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::Embedder;

/// How a [`Server`] runs. Start from [`ServerOptions::default`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerOptions {
    /// The model's name in `/info` and OpenAI responses (default: the model directory's name).
    pub model_id: Option<String>,
    /// Embedding requests queued or running at once; more get 429 (default 512).
    pub max_concurrent_requests: usize,
    /// Texts in one request at most; more get 413 (default 32, as text-embeddings-inference).
    pub max_client_batch_size: usize,
    /// Estimated tokens the batcher gathers from queued requests into one round (default 16384;
    /// the embedder's own `batch_tokens` bounds each forward pass).
    pub max_batch_tokens: usize,
    /// Request bodies larger than this get 413 (default 2 MiB).
    pub max_body_bytes: usize,
    /// A request not answered in this time gets 503 (default 60 s).
    pub request_timeout: Duration,
    /// Stop gracefully on SIGINT and SIGTERM (default true).
    pub handle_signals: bool,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            model_id: None,
            max_concurrent_requests: 512,
            max_client_batch_size: 32,
            max_batch_tokens: 16384,
            max_body_bytes: 2 << 20,
            request_timeout: Duration::from_secs(60),
            handle_signals: true,
        }
    }
}

/// What every handler shares.
pub(crate) struct State {
    pub embedder: Arc<Embedder>,
    pub options: ServerOptions,
    pub model_id: String,
    pub queue: batcher::Queue,
    pub metrics: Arc<metrics::Metrics>,
    /// Embedding requests admitted and not yet answered.
    pub in_flight: AtomicUsize,
    pub shutting_down: AtomicBool,
    /// At most this many `/tokenize` requests tokenise at once (they read their whole text).
    pub tokenize_permits: tokio::sync::Semaphore,
}

/// A running server: its own threads (an I/O runtime and the batcher) around a shared
/// [`Embedder`]. Dropping it stops it as [`Server::shutdown`] does.
pub struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// Serves on `listener` (already bound) until [`Server::shutdown`], or a signal when
    /// `options.handle_signals`.
    pub fn start(
        listener: TcpListener,
        embedder: Embedder,
        options: ServerOptions,
    ) -> std::io::Result<Server> {
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let embedder = Arc::new(embedder);
        let metrics = Arc::new(metrics::Metrics::new());
        let (queue, batcher) = batcher::start(
            Arc::clone(&embedder),
            Arc::clone(&metrics),
            options.max_concurrent_requests,
            options.max_batch_tokens,
        )?;
        let model_id = options.model_id.clone().unwrap_or_else(|| {
            embedder
                .model_dir()
                .file_name()
                .map_or_else(|| "model".into(), |n| n.to_string_lossy().into_owned())
        });
        let state = Arc::new(State {
            embedder,
            model_id,
            queue,
            metrics,
            in_flight: AtomicUsize::new(0),
            shutting_down: AtomicBool::new(false),
            tokenize_permits: tokio::sync::Semaphore::new(2),
            options,
        });
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("minilm-http")
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("minilm-server".into())
            .spawn(move || {
                let result = runtime.block_on(serve(listener, state, stopped));
                // The router (and with it the queue's last sender) is gone: the batcher
                // finishes what is queued and stops.
                let _ = batcher.join();
                result
            })?;
        Ok(Server {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections, answers the requests in flight, and returns when done.
    pub fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.join()
    }

    /// Runs until the server stops (a signal, with `handle_signals`).
    pub fn wait(mut self) -> std::io::Result<()> {
        self.join()
    }

    fn join(&mut self) -> std::io::Result<()> {
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(std::io::Error::other("the server thread panicked")),
            None => Ok(()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.join();
    }
}

async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    stopped: tokio::sync::oneshot::Receiver<()>,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let signals = state.options.handle_signals;
    let router = router(Arc::clone(&state));
    let shutdown = async move {
        tokio::select! {
            _ = stopped => {}
            _ = signal(), if signals => {}
        }
        state
            .shutting_down
            .store(true, std::sync::atomic::Ordering::SeqCst);
    };
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// SIGINT or SIGTERM.
async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Every route, over the shared state.
fn router(state: Arc<State>) -> axum::Router {
    use axum::routing::{get, post};
    let limit = state.options.max_body_bytes;
    axum::Router::new()
        .route("/embed", post(api::embed))
        .route("/v1/embeddings", post(openai::openai_embeddings))
        .route("/embeddings", post(openai::openai_embeddings))
        .route("/similarity", post(api::similarity))
        .route("/tokenize", post(api::tokenize))
        .route("/info", get(api::info))
        .route("/health", get(api::health))
        .route("/metrics", get(api::metrics))
        .fallback(api::not_found)
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .with_state(state)
}
