//! `minilm serve`: the HTTP embedding server (`minilm::server`) on a host and port, until
//! SIGINT or SIGTERM.

use std::io::Write;
use std::time::Duration;

use minilm::server::{Server, ServerOptions};
use minilm::Options;

use crate::error::CliResult;
use crate::model_args::ModelArgs;

/// Serve embeddings over HTTP: text-embeddings-inference routes (/embed, /similarity,
/// /tokenize, /info, /health), OpenAI's /v1/embeddings, Prometheus /metrics.
///
/// Concurrent requests are batched together; a served vector is the one `minilm embed`
/// gives. Stops gracefully on SIGINT or SIGTERM. Examples:
///
///   minilm serve --port 8080
///
///   curl -s localhost:8080/embed -d '{"inputs": ["A man is eating food."]}'
///
///   curl -s localhost:8080/v1/embeddings -d '{"input": "hello", "model": "all-MiniLM-L6-v2"}'
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,

    /// Port to listen on (0 picks a free one; the first line on stdout says which).
    #[arg(long, default_value_t = 8080)]
    port: u16,

    /// Estimated tokens the batcher gathers from queued requests into one round; also each
    /// forward pass's token budget.
    #[arg(long, value_name = "N", default_value_t = 16384)]
    max_batch_tokens: usize,

    /// Embedding requests queued or running at once; more get 429.
    #[arg(long, value_name = "N", default_value_t = 512)]
    max_concurrent_requests: usize,

    /// Texts in one request at most; more get 413.
    #[arg(long, value_name = "N", default_value_t = 32)]
    max_client_batch_size: usize,

    /// Request bodies over N bytes get 413.
    #[arg(long, value_name = "N", default_value_t = 2 << 20)]
    max_body_bytes: usize,

    /// Seconds a request may wait for its vectors before it gets 503.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    request_timeout: u64,

    /// The model's name in /info and OpenAI responses (default: its directory's name).
    #[arg(long, value_name = "NAME")]
    model_id: Option<String>,

    #[command(flatten)]
    model: ModelArgs,
}

/// Loads the model and serves it until SIGINT or SIGTERM; the first line on stdout gives the
/// address.
pub fn run(args: ServeArgs, quiet: bool) -> CliResult {
    // Requests are batched by the server: no cap on texts per call, and the server's token
    // budget (its round budget) per pass.
    let embedder = args.model.load_with(
        Options::default()
            .batch_size(4096)
            .batch_tokens(args.max_batch_tokens),
    )?;
    if args.max_concurrent_requests == 0 || args.max_client_batch_size == 0 {
        return Err(
            "--max-concurrent-requests and --max-client-batch-size must be at least 1".into(),
        );
    }
    let listener = std::net::TcpListener::bind((args.host.as_str(), args.port))
        .map_err(|e| format!("cannot listen on {}:{}: {e}", args.host, args.port))?;
    let mut options = ServerOptions::default();
    options.model_id = args.model_id;
    options.max_concurrent_requests = args.max_concurrent_requests;
    options.max_client_batch_size = args.max_client_batch_size;
    options.max_batch_tokens = args.max_batch_tokens;
    options.max_body_bytes = args.max_body_bytes;
    options.request_timeout = Duration::from_secs(args.request_timeout);
    let summary = format!(
        "{} on {}, {} threads, max length {}",
        embedder.model_dir().display(),
        embedder.kernel_name(),
        embedder.threads(),
        embedder.max_length()
    );
    let server = Server::start(listener, embedder, options)
        .map_err(|e| format!("cannot start the server: {e}"))?;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "listening on http://{}", server.local_addr());
    let _ = stdout.flush();
    drop(stdout);
    if !quiet {
        let _ = writeln!(std::io::stderr(), "minilm: serving {summary}");
    }
    server.wait().map_err(|e| format!("server: {e}"))?;
    if !quiet {
        let _ = writeln!(std::io::stderr(), "minilm: stopped");
    }
    Ok(())
}
