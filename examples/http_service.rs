//! A small embedding service over HTTP/1.1, on the standard library alone: one shared
//! `Embedder` (it is `Send + Sync` and computes on the calling thread and its own workers) and a
//! fixed number of connection threads. A sketch of vendoring the library with no async stack;
//! the server to deploy is `minilm serve` (`minilm::server`: keep-alive, TEI and OpenAI routes,
//! batching across requests, metrics, graceful stop).
//!
//! ```sh
//! cargo run --release --example http_service -- 127.0.0.1:8080 [--model DIR|ID]
//! curl -s localhost:8080/health
//! curl -s localhost:8080/embed -d '{"texts": ["A man is playing a guitar.", "Hello"]}'
//! # -> {"embeddings":[[0.0123,...],[...]],"dim":384,"truncated":0}
//! ```
//!
//! The first line on stdout is the address it listens on (port 0 picks a free port). One request
//! per connection (`Connection: close`); bodies over 1 MiB get 413, malformed requests 400, and
//! the service carries on. The model is `--model DIR|ID`, else the default one
//! (`$MINILM_MODEL_DIR`, else the copy `tools/fetch-model.sh` made). Texts longer than the model
//! reads are truncated, as sentence-transformers does, and `truncated` counts them; a text costs
//! what its first 256 tokens cost, however long it is.
#![forbid(unsafe_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use minilm::{Embedder, Options};
use serde::{Deserialize, Serialize};

/// Connection threads: each serves one connection at a time. Embedding itself runs on the
/// embedder's pool, so more threads than cores only add queueing there.
const CONNECTION_THREADS: usize = 4;
const MAX_HEAD_BYTES: u64 = 16 << 10;
const MAX_BODY_BYTES: usize = 1 << 20;
const MAX_TEXTS: usize = 1024;
/// A client that stalls mid-request frees its thread after this long.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
const LINGER: Duration = Duration::from_secs(2);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmbedRequest {
    texts: Vec<String>,
}

#[derive(Serialize)]
struct EmbedResponse {
    embeddings: Vec<Vec<f32>>,
    dim: usize,
    /// Texts longer than the model reads, embedded from their first tokens.
    truncated: usize,
}

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

/// A status code and a JSON body.
struct Response(u16, String);

fn error(status: u16, message: impl std::fmt::Display) -> Response {
    Response(
        status,
        serde_json::json!({ "error": message.to_string() }).to_string(),
    )
}

fn main() -> ExitCode {
    let mut addr = "127.0.0.1:8080".to_owned();
    let mut model = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--model" => model = args.next(),
            _ if arg.starts_with('-') => {
                eprintln!("usage: http_service [ADDR] [--model DIR|ID]");
                return ExitCode::from(2);
            }
            _ => addr = arg,
        }
    }
    match serve(&addr, model.as_deref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("http_service: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(addr: &str, model: Option<&str>) -> Result<(), Box<dyn std::error::Error>> {
    let dir = minilm::resolve_model(model)?;
    let embedder = Arc::new(Embedder::from_dir(dir, &Options::default())?);
    let listener = TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    println!("{}", listener.local_addr()?);
    io::stdout().flush()?;

    let listener = Arc::new(listener);
    let threads: Vec<_> = (0..CONNECTION_THREADS)
        .map(|_| {
            let (listener, embedder) = (Arc::clone(&listener), Arc::clone(&embedder));
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let result = stream.and_then(|stream| handle(stream, &embedder));
                    if let Err(e) = result {
                        eprintln!("http_service: connection: {e}");
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().map_err(|_| "a connection thread panicked")?;
    }
    Ok(())
}

fn handle(mut stream: TcpStream, embedder: &Embedder) -> io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let Response(status, body) = match read_request(&mut reader, &mut stream) {
        Ok(request) => route(&request, embedder),
        Err(response) => response,
    };
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        _ => "Internal Server Error",
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes())?;
    // Close gracefully: closing with unread request bytes pending would reset the connection,
    // which can destroy the response before the client has read it. So wait (briefly) for the
    // client to close its side, discarding what it still sends.
    stream.shutdown(Shutdown::Write)?;
    stream.set_read_timeout(Some(LINGER))?;
    let _ = io::copy(&mut reader.take(MAX_BODY_BYTES as u64), &mut io::sink());
    Ok(())
}

/// Reads the request line, the headers and a `Content-Length` body, within the size limits.
fn read_request(
    reader: &mut BufReader<TcpStream>,
    stream: &mut TcpStream,
) -> Result<Request, Response> {
    let mut head = reader.take(MAX_HEAD_BYTES);
    let mut next_line = || -> Result<String, Response> {
        let mut line = String::new();
        match head.read_line(&mut line) {
            Ok(_) if line.ends_with('\n') => Ok(line.trim_end().to_owned()),
            Ok(_) if head.limit() == 0 => Err(error(431, "request head over 16 KiB")),
            Ok(_) => Err(error(400, "request ended early")),
            Err(e) => Err(error(400, format!("cannot read request: {e}"))),
        }
    };

    let request_line = next_line()?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(error(400, "malformed request line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(error(400, "not an HTTP/1.x request"));
    }
    let path = target.split('?').next().unwrap_or_default().to_owned();
    let method = method.to_owned();

    let (mut length, mut expect_continue) = (None, false);
    loop {
        let line = next_line()?;
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(error(400, "malformed header"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| error(400, "bad Content-Length"))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(error(411, "send a Content-Length, not a chunked body"));
        } else if name.eq_ignore_ascii_case("expect") {
            expect_continue = value.eq_ignore_ascii_case("100-continue");
        }
    }

    let length = match (length, method.as_str()) {
        (Some(length), _) => length,
        (None, "POST") => return Err(error(411, "POST needs a Content-Length")),
        (None, _) => 0,
    };
    if length > MAX_BODY_BYTES {
        return Err(error(413, format!("body over {MAX_BODY_BYTES} bytes")));
    }
    if expect_continue {
        let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let mut body = vec![0; length];
    reader
        .read_exact(&mut body)
        .map_err(|e| error(400, format!("cannot read body: {e}")))?;
    Ok(Request { method, path, body })
}

fn route(request: &Request, embedder: &Embedder) -> Response {
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/health") => Response(200, r#"{"status":"ok"}"#.to_owned()),
        ("POST", "/embed") => embed(&request.body, embedder),
        (_, "/health" | "/embed") => error(405, "method not allowed"),
        _ => error(404, "not found"),
    }
}

fn embed(body: &[u8], embedder: &Embedder) -> Response {
    let request: EmbedRequest = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(e) => return error(400, format!("expected {{\"texts\": [\"...\"]}}: {e}")),
    };
    if request.texts.len() > MAX_TEXTS {
        return error(413, format!("more than {MAX_TEXTS} texts"));
    }
    let dim = embedder.dim();
    let mut flat = vec![0.0f32; request.texts.len() * dim];
    match embedder.embed_batch_into(&request.texts, &mut flat) {
        Ok(report) => {
            let response = EmbedResponse {
                embeddings: flat.chunks_exact(dim.max(1)).map(<[f32]>::to_vec).collect(),
                dim,
                truncated: report.truncated,
            };
            match serde_json::to_string(&response) {
                Ok(json) => Response(200, json),
                Err(e) => error(500, e),
            }
        }
        Err(e) => error(500, e),
    }
}
