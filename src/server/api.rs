//! The routes of text-embeddings-inference (`POST /embed`, `/similarity`, `/tokenize`, `GET
//! /info`, `/health`) and `GET /metrics`; OpenAI's is in `openai.rs`. Errors are JSON
//! `{"error": "...", "error_type": "..."}`: 413 over a size limit, 422 for bad JSON or fields,
//! 429 when the queue is full, 503 while shutting down or past the request timeout.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State as Shared;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::batcher::{Job, Refused};
use super::State;
use crate::runner::CallOptions;
use crate::{Error, LongText, LongTextReport};

pub(super) type Shared_ = Shared<Arc<State>>;

/// An error answer.
pub(super) struct Failure {
    status: StatusCode,
    error_type: &'static str,
    message: String,
}

impl Failure {
    fn new(status: StatusCode, error_type: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            status,
            error_type,
            message: message.into(),
        }
    }

    pub(super) fn validation(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::UNPROCESSABLE_ENTITY, "Validation", message)
    }

    fn shutting_down() -> Failure {
        Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Unhealthy",
            "shutting down",
        )
    }

    fn too_large(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::PAYLOAD_TOO_LARGE, "Validation", message)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.message, "error_type": self.error_type });
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        match error {
            Error::TextTooLong { .. } => Failure::too_large(error.to_string()),
            Error::Tokenize { .. } => Failure::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Tokenizer",
                error.to_string(),
            ),
            other => Failure::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Backend",
                other.to_string(),
            ),
        }
    }
}

/// A handler's answer or failure, recorded in the metrics.
pub(super) fn respond(
    state: &State,
    route: &'static str,
    started: Instant,
    result: Result<Response, Failure>,
) -> Response {
    let response = result.unwrap_or_else(IntoResponse::into_response);
    answered(state, route, started, response)
}

/// Records a route's answer in the metrics.
fn answered(state: &State, route: &'static str, started: Instant, response: Response) -> Response {
    state
        .metrics
        .request(route, response.status().as_u16(), started.elapsed());
    response
}

/// The body as `T`: 413 over the size limit, 422 for anything that does not parse.
pub(super) fn parse<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, Failure> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Failure::too_large(rejection.body_text())
        } else {
            Failure::validation(rejection.body_text())
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| Failure::validation(format!("bad JSON: {e}")))
}

/// One text or several.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum Inputs {
    One(String),
    Many(Vec<String>),
}

impl Inputs {
    pub(super) fn into_vec(self) -> Vec<String> {
        match self {
            Inputs::One(text) => vec![text],
            Inputs::Many(texts) => texts,
        }
    }
}

#[derive(Deserialize)]
struct EmbedRequest {
    inputs: Inputs,
    normalize: Option<bool>,
    truncate: Option<bool>,
    prompt_name: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    truncation_direction: Option<String>,
}

/// A request's settings, checked: the prompt's text and how to embed.
pub(super) fn settings(
    state: &State,
    prompt_name: Option<&str>,
    normalize: Option<bool>,
    truncate: Option<bool>,
) -> Result<(Option<String>, CallOptions), Failure> {
    let embedder = &state.embedder;
    let prompt = match prompt_name {
        Some(name) => Some(
            embedder
                .prompt(name)
                .ok_or_else(|| Failure::validation(format!("the model has no prompt {name:?}")))?
                .to_owned(),
        ),
        None => embedder.default_prompt().map(str::to_owned),
    };
    let mut call = embedder.call_options();
    if let Some(normalize) = normalize {
        call.normalize = normalize;
    }
    match truncate {
        Some(true) => call.long_text = LongText::Truncate,
        Some(false) => call.long_text = LongText::Error,
        None => {}
    }
    Ok((prompt, call))
}

/// Queues `texts` and waits for their vectors (one row of `dim` each).
pub(super) async fn embed_texts(
    state: &State,
    texts: Vec<String>,
    prompt: Option<String>,
    call: CallOptions,
) -> Result<(Vec<f32>, LongTextReport), Failure> {
    if state.shutting_down.load(Ordering::SeqCst) {
        return Err(Failure::shutting_down());
    }
    if texts.is_empty() {
        return Err(Failure::validation("no inputs"));
    }
    let max = state.options.max_client_batch_size;
    if texts.len() > max {
        return Err(Failure::too_large(format!(
            "{} inputs; at most {max} per request",
            texts.len()
        )));
    }
    let overloaded = || {
        Failure::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Overloaded",
            "the model is overloaded: too many requests in the queue",
        )
    };
    if state.in_flight.fetch_add(1, Ordering::SeqCst) >= state.options.max_concurrent_requests {
        state.in_flight.fetch_sub(1, Ordering::SeqCst);
        return Err(overloaded());
    }
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job = Job {
        texts,
        prompt,
        call,
        reply,
    };
    state.metrics.queue_changed(true);
    let queued = state.queue.submit(job);
    let result = match queued {
        Err(refused) => {
            state.metrics.queue_changed(false);
            Err(match refused {
                Refused::Full => overloaded(),
                Refused::Stopped => Failure::shutting_down(),
            })
        }
        Ok(()) => match tokio::time::timeout(state.options.request_timeout, answer).await {
            Ok(Ok(result)) => result.map_err(Failure::from),
            Ok(Err(_)) => Err(Failure::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Backend",
                "the batcher stopped",
            )),
            Err(_) => Err(Failure::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Overloaded",
                "request timed out",
            )),
        },
    };
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    result
}

pub(super) async fn embed(Shared(state): Shared_, body: Result<Bytes, BytesRejection>) -> Response {
    let started = Instant::now();
    let result = embed_inner(&state, body).await;
    respond(&state, "/embed", started, result)
}

async fn embed_inner(
    state: &State,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let request: EmbedRequest = parse(body)?;
    let (prompt, call) = settings(
        state,
        request.prompt_name.as_deref(),
        request.normalize,
        request.truncate,
    )?;
    let (rows, _) = embed_texts(state, request.inputs.into_vec(), prompt, call).await?;
    let dim = state.embedder.dim().max(1);
    let vectors: Vec<&[f32]> = rows.chunks_exact(dim).collect();
    Ok(axum::Json(vectors).into_response())
}

#[derive(Deserialize)]
struct SimilarityInputs {
    source_sentence: String,
    sentences: Vec<String>,
}

#[derive(Deserialize)]
struct SimilarityRequest {
    inputs: SimilarityInputs,
    truncate: Option<bool>,
    prompt_name: Option<String>,
}

pub(super) async fn similarity(
    Shared(state): Shared_,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let result = similarity_inner(&state, body).await;
    respond(&state, "/similarity", started, result)
}

async fn similarity_inner(
    state: &State,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let request: SimilarityRequest = parse(body)?;
    let (prompt, mut call) = settings(
        state,
        request.prompt_name.as_deref(),
        None,
        request.truncate,
    )?;
    call.normalize = true;
    if request.inputs.sentences.is_empty() {
        return Err(Failure::validation("`sentences` is empty"));
    }
    let mut texts = vec![request.inputs.source_sentence];
    texts.extend(request.inputs.sentences);
    let (rows, _) = embed_texts(state, texts, prompt, call).await?;
    let dim = state.embedder.dim().max(1);
    let mut rows = rows.chunks_exact(dim);
    let source = rows.next().unwrap_or(&[]);
    let scores: Vec<f32> = rows.map(|row| crate::cosine(source, row)).collect();
    Ok(axum::Json(scores).into_response())
}

#[derive(Deserialize)]
struct TokenizeRequest {
    inputs: Inputs,
    add_special_tokens: Option<bool>,
    prompt_name: Option<String>,
}

pub(super) async fn tokenize(
    Shared(state): Shared_,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let result = tokenize_inner(&state, body).await;
    respond(&state, "/tokenize", started, result)
}

async fn tokenize_inner(
    state: &Arc<State>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let request: TokenizeRequest = parse(body)?;
    let (prompt, _) = settings(state, request.prompt_name.as_deref(), None, None)?;
    let texts = request.inputs.into_vec();
    let max = state.options.max_client_batch_size;
    if texts.len() > max {
        return Err(Failure::too_large(format!(
            "{} inputs; at most {max} per request",
            texts.len()
        )));
    }
    let special = request.add_special_tokens.unwrap_or(true);
    let _permit = state
        .tokenize_permits
        .acquire()
        .await
        .map_err(|_| Failure::shutting_down())?;
    let shared = Arc::clone(state);
    let tokens = tokio::task::spawn_blocking(move || {
        texts
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let details =
                    shared
                        .embedder
                        .planner
                        .token_details(prompt.as_deref(), text, special, i)?;
                Ok(details
                    .into_iter()
                    .map(|t| {
                        json!({
                            "id": t.id,
                            "text": t.text,
                            "special": t.special,
                            "start": t.offsets.map(|o| o.0),
                            "stop": t.offsets.map(|o| o.1),
                        })
                    })
                    .collect::<Vec<Value>>())
            })
            .collect::<Result<Vec<Vec<Value>>, Error>>()
    })
    .await
    .map_err(|_| {
        Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Tokenizer",
            "tokenizer failed",
        )
    })?
    .map_err(Failure::from)?;
    Ok(axum::Json(tokens).into_response())
}

pub(super) async fn info(Shared(state): Shared_) -> Response {
    let started = Instant::now();
    let embedder = &state.embedder;
    let options = &state.options;
    let pooling = embedder.pooling().to_string();
    let body = json!({
        "model_id": state.model_id,
        "model_dtype": embedder.precision().name(),
        "model_type": { "embedding": { "pooling": pooling } },
        "dim": embedder.dim(),
        "normalize": embedder.normalizes(),
        "max_concurrent_requests": options.max_concurrent_requests,
        "max_input_length": embedder.max_length(),
        "max_batch_tokens": options.max_batch_tokens,
        "max_client_batch_size": options.max_client_batch_size,
        "long_text": embedder.long_text().name(),
        "kernel": embedder.kernel_name(),
        "threads": embedder.threads(),
        "version": env!("CARGO_PKG_VERSION"),
    });
    answered(&state, "/info", started, axum::Json(body).into_response())
}

pub(super) async fn health(Shared(state): Shared_) -> Response {
    let started = Instant::now();
    let response = if state.shutting_down.load(Ordering::SeqCst) {
        Failure::shutting_down().into_response()
    } else {
        StatusCode::OK.into_response()
    };
    answered(&state, "/health", started, response)
}

pub(super) async fn metrics(Shared(state): Shared_) -> Response {
    let body = state.metrics.render();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

pub(super) async fn not_found() -> Response {
    Failure::new(StatusCode::NOT_FOUND, "NotFound", "no such route").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::{batcher, metrics, ServerOptions};
    use std::sync::atomic::{AtomicBool, AtomicUsize};

    /// A stopping server refuses new work with 503 and says so on `/health`.
    #[test]
    fn a_stopping_server_answers_503() {
        let dir = crate::default_model_dir().expect("the default model (tools/fetch-model.sh)");
        let embedder =
            Arc::new(crate::Embedder::from_dir(dir, &crate::Options::default()).unwrap());
        let metrics = Arc::new(metrics::Metrics::new());
        let (queue, batcher) =
            batcher::start(Arc::clone(&embedder), Arc::clone(&metrics), 4, 1024).unwrap();
        let state = Arc::new(State {
            embedder,
            options: ServerOptions::default(),
            model_id: "m".into(),
            queue,
            metrics,
            in_flight: AtomicUsize::new(0),
            shutting_down: AtomicBool::new(true),
            tokenize_permits: tokio::sync::Semaphore::new(1),
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let call = state.embedder.call_options();
            let refused = embed_texts(&state, vec!["x".into()], None, call).await;
            assert_eq!(
                refused.err().map(|f| f.status),
                Some(StatusCode::SERVICE_UNAVAILABLE)
            );
            let health = health(Shared(Arc::clone(&state))).await;
            assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
            state.shutting_down.store(false, Ordering::SeqCst);
            let (rows, report) = embed_texts(&state, vec!["x".into()], None, call)
                .await
                .ok()
                .unwrap();
            assert_eq!((rows.len(), report.texts), (state.embedder.dim(), 1));
        });
        drop(state);
        batcher.join().unwrap();
    }
}
