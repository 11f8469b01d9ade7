//! `minilm serve`: the HTTP embedding server (`minilm::server`) on a host and port, until
//! SIGINT or SIGTERM.

use std::io::Write;
use std::time::Duration;

use minilm::server::{Server, ServerOptions};
use minilm::Embedder;

#[derive(clap::Args)]
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
}

impl ServeArgs {
    /// The embedder's pass budget: the server's round budget.
    pub fn batch_tokens(&self) -> usize {
        self.max_batch_tokens
    }
}

pub fn run(args: ServeArgs, embedder: Embedder, quiet: bool) -> Result<(), String> {
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
