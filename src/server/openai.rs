//! OpenAI's embeddings route, `POST /v1/embeddings` (also `/embeddings`): a string or an array
//! of strings in, float or base64 vectors out, `dimensions` for Matryoshka cuts, and `usage`.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State as Shared;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::api::{embed_texts, parse, respond, settings, Failure, Inputs};
use super::State;

#[derive(Deserialize)]
struct OpenAiRequest {
    input: Value,
    model: Option<String>,
    encoding_format: Option<String>,
    dimensions: Option<usize>,
    #[serde(default)]
    #[allow(dead_code)]
    user: Option<String>,
}

pub(super) async fn openai_embeddings(
    Shared(state): Shared<Arc<State>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let result = openai_inner(&state, body).await;
    respond(&state, "/v1/embeddings", started, result)
}

async fn openai_inner(
    state: &State,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let request: OpenAiRequest = parse(body)?;
    let texts =
        match serde_json::from_value::<Inputs>(request.input) {
            Ok(inputs) => inputs.into_vec(),
            Err(_) => return Err(Failure::validation(
                "`input` must be a string or an array of strings (token arrays are not supported)",
            )),
        };
    let base64 = match request.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(Failure::validation(format!(
                "`encoding_format` {other:?}: expected \"float\" or \"base64\""
            )))
        }
    };
    let dim = state.embedder.dim();
    let keep = match request.dimensions {
        Some(d) if d == 0 || d > dim => {
            return Err(Failure::validation(format!(
                "`dimensions` {d}: the model's vectors have 1 to {dim}"
            )))
        }
        Some(d) => d,
        None => dim,
    };
    let (prompt, call) = settings(state, None, None, None)?;
    let (rows, report) = embed_texts(state, texts, prompt, call).await?;
    let data: Vec<OpenAiEmbedding> = rows
        .chunks_exact(dim.max(1))
        .enumerate()
        .map(|(index, row)| {
            let mut vector = row[..keep].to_vec();
            if keep < dim && call.normalize {
                // Matryoshka-style: the first `keep` dimensions, normalised again, as the
                // library's `EmbedOptions::truncate_dim(keep).normalize(true)` gives them.
                state.embedder.runner.kernels().l2_normalize(&mut vector);
            }
            let embedding = if base64 {
                EmbeddingData::Base64(base64_of_floats(&vector))
            } else {
                EmbeddingData::Float(vector)
            };
            OpenAiEmbedding {
                object: "embedding",
                index,
                embedding,
            }
        })
        .collect();
    let model = request.model.unwrap_or_else(|| state.model_id.clone());
    Ok(axum::Json(OpenAiResponse {
        object: "list",
        data,
        model,
        usage: Usage {
            prompt_tokens: report.tokens,
            total_tokens: report.tokens,
        },
    })
    .into_response())
}

#[derive(Serialize)]
struct OpenAiResponse {
    object: &'static str,
    data: Vec<OpenAiEmbedding>,
    model: String,
    usage: Usage,
}

#[derive(Serialize)]
struct Usage {
    prompt_tokens: usize,
    total_tokens: usize,
}

#[derive(Serialize)]
struct OpenAiEmbedding {
    object: &'static str,
    index: usize,
    embedding: EmbeddingData,
}

/// Floats, or their little-endian bytes in base64.
#[derive(Serialize)]
#[serde(untagged)]
enum EmbeddingData {
    Float(Vec<f32>),
    Base64(String),
}

/// Little-endian f32 bytes in standard base64 (what OpenAI's `encoding_format: "base64"` gives).
fn base64_of_floats(values: &[f32]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> shift) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
