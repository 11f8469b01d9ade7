//! `minilm search`: the corpus lines nearest to each query, by cosine of their embeddings.
//!
//! The corpus's vectors are cached (see `cache.rs`), so a second search of an unchanged corpus
//! embeds only the queries.

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use minilm::{EmbedOptions, Embedder, Hit};

use crate::cache::{self, Lookup};
use crate::error::{CliError, CliResult};
use crate::input::{self, InputFormat};
use crate::model_args::ModelArgs;
use crate::progress::{Progress, Settings};

/// Print the corpus texts nearest to each query (rank, cosine score, line number, text).
///
/// The corpus holds one text per line (or one JSON string per line with --input-format
/// jsonl). Its vectors are cached, by default under $MINILM_HOME/cache/search/ (MINILM_HOME
/// defaults to ~/.cache/minilm): a second search of the same corpus with the same model
/// embeds only the queries. The cache records the corpus's content hash, the model files'
/// sizes and times, precision, max length, dimension and kernel path; when any differs, or
/// the file is damaged, the corpus is embedded again and the cache replaced. Examples:
///
///   minilm search --corpus faq.txt "how do I reset my password"
///
///   minilm search -c faq.txt -k 3 --json "refund policy" "opening hours"
///
///   minilm search -c notes.jsonl --input-format jsonl --cache notes.cache "deadline"
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct SearchArgs {
    /// Queries: each gets its own list of results.
    #[arg(value_name = "QUERY", required = true)]
    queries: Vec<String>,

    /// The texts to search: one per line (`-` reads stdin).
    #[arg(long, short = 'c', value_name = "FILE")]
    corpus: PathBuf,

    /// How --corpus holds texts: `text` (default), one per line; `jsonl`, one JSON string per
    /// line (blank lines skipped; results then give the line of the JSON string).
    #[arg(long, value_enum)]
    input_format: Option<InputFormat>,

    /// Results per query (fewer when the corpus is smaller).
    #[arg(long, short = 'k', value_name = "N", default_value_t = 5)]
    top_k: usize,

    /// Keep the corpus's vectors in FILE (default: under $MINILM_HOME/cache/search/; none for a
    /// corpus from stdin).
    #[arg(long, value_name = "FILE", conflicts_with = "no_cache")]
    cache: Option<PathBuf>,

    /// Neither read nor write a cache: embed the corpus every time.
    #[arg(long)]
    no_cache: bool,

    /// The queries' prompt. Default: the model's prompt named `query`, if it has one (the
    /// corpus then gets its `document`, `passage` or `corpus` prompt, the first it has), as
    /// retrieval models such as bge and e5 expect.
    #[command(flatten)]
    prompt: crate::prompt::PromptArgs,

    /// One JSON object per result: {"query", "rank", "score", "line", "text"}.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    model: ModelArgs,
}

/// The corpus: its texts, the line each is on, and the cache key of its bytes.
struct Corpus {
    texts: Vec<String>,
    lines: Vec<usize>,
    key: cache::Key,
}

/// Loads the model, embeds the corpus (or reads its cache) and the queries, and prints each
/// query's results.
pub fn run(args: SearchArgs, progress: Settings) -> CliResult {
    let embedder = &args.model.load()?;
    if args.top_k == 0 {
        return Err("--top-k must be at least 1".into());
    }
    let info = |message: String| {
        if !progress.quiet {
            let _ = writeln!(std::io::stderr(), "minilm: {message}");
        }
    };
    let corpus = read_corpus(&args, embedder)?;
    // The cache file, or why there is none.
    let cache_path = match (&args.cache, args.no_cache) {
        (_, true) => Err("--no-cache"),
        (Some(path), false) => Ok(path.clone()),
        (None, false) if args.corpus == Path::new("-") => Err("corpus from stdin"),
        (None, false) => cache::default_path(&args.corpus, &corpus.key)
            .ok_or("neither $MINILM_HOME nor $HOME is set"),
    };

    let count = corpus.texts.len();
    let vectors = if count == 0 {
        info(format!("{} holds no texts", args.corpus.display()));
        Vec::new()
    } else {
        let cached = match &cache_path {
            Ok(path) => cache::load(path, &corpus.key, count),
            Err(reason) => Lookup::Miss(reason),
        };
        match (cached, &cache_path) {
            (Lookup::Hit(vectors), Ok(path)) => {
                info(format!("cache hit: {} ({count} texts)", path.display()));
                vectors
            }
            (cached, _) => {
                let reason = match cached {
                    Lookup::Miss(reason) => reason,
                    Lookup::Hit(_) => "no cache",
                };
                info(format!("cache miss ({reason}): embedding {count} texts"));
                let vectors = embed_corpus(&corpus, embedder, progress)?;
                if let Ok(path) = &cache_path {
                    match cache::store(path, &corpus.key, &vectors, count) {
                        Ok(()) => info(format!("cache written: {}", path.display())),
                        Err(e) => info(format!("warning: no cache: {e}")),
                    }
                }
                vectors
            }
        }
    };

    // The prompt flags' prompt, else the model's query prompt (see `SearchArgs::prompt`).
    let query_options = args.prompt.apply(EmbedOptions::new().query(), embedder)?;
    let dim = embedder.dim();
    let mut queries = vec![0.0; args.queries.len() * dim];
    let report = embedder
        .embed_batch_with_into(&args.queries, &query_options, &mut queries)
        .map_err(|e| crate::long_text::describe(e, |index| format!("query {}", index + 1)))?;
    let mut tally = crate::long_text::Tally::default();
    tally.add(&report);
    tally.print(embedder, "queries", progress.quiet);
    let mut out = BufWriter::new(std::io::stdout().lock());
    for (q, (query, query_vector)) in args
        .queries
        .iter()
        .zip(queries.chunks_exact(dim.max(1)))
        .enumerate()
    {
        let hits = minilm::top_k(query_vector, &vectors, dim, args.top_k);
        write_results(&mut out, &args, q, query, &hits, &corpus).map_err(CliError::output)?;
    }
    out.flush().map_err(CliError::output)
}

/// The corpus's texts and line numbers, and its cache key (its bytes, format and the model).
fn read_corpus(args: &SearchArgs, embedder: &Embedder) -> CliResult<Corpus> {
    let format = args.input_format.unwrap_or(InputFormat::Text);
    let path = &args.corpus;
    let bytes = if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read stdin: {e}"))?;
        bytes
    } else {
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?
    };
    let key = cache::Key::new(&bytes, format.name(), embedder);
    let mut reader = input::Texts::from_bytes(bytes, path, format.layout());
    let (mut texts, mut lines) = (Vec::new(), Vec::new());
    while let Some(text) = reader.next_text()? {
        texts.push(text);
        lines.push(reader.line_number());
    }
    Ok(Corpus { texts, lines, key })
}

/// The corpus's vectors, row after row, a batch at a time under a progress bar.
fn embed_corpus(corpus: &Corpus, embedder: &Embedder, settings: Settings) -> CliResult<Vec<f32>> {
    let dim = embedder.dim();
    // The corpus gets the model's document prompt, if it names one (see `SearchArgs::prompt`).
    let document = EmbedOptions::new().document();
    let mut vectors = vec![0f32; corpus.texts.len() * dim];
    let mut progress = Progress::start(settings, Some(corpus.texts.len() as u64));
    let step = embedder.batch_size().max(1);
    let mut tally = crate::long_text::Tally::default();
    for (b, (texts, out)) in corpus
        .texts
        .chunks(step)
        .zip(vectors.chunks_mut(step * dim))
        .enumerate()
    {
        let report = embedder
            .embed_batch_with_into(texts, &document, out)
            .map_err(|e| {
                crate::long_text::describe(e, |index| match corpus.lines.get(b * step + index) {
                    Some(line) => format!("corpus line {line}"),
                    None => "corpus".into(),
                })
            })?;
        tally.add(&report);
        progress.advance(texts.len());
    }
    progress.finish();
    tally.print(embedder, "corpus texts", settings.quiet);
    Ok(vectors)
}

fn write_results(
    out: &mut impl Write,
    args: &SearchArgs,
    q: usize,
    query: &str,
    hits: &[Hit],
    corpus: &Corpus,
) -> std::io::Result<()> {
    if args.json {
        for (rank, &Hit { index: i, score }) in hits.iter().enumerate() {
            // By hand, to keep the fields in this order and the score a shortest-f32 number.
            let string = |s: &str| serde_json::Value::from(s).to_string();
            writeln!(
                out,
                r#"{{"query":{},"rank":{},"score":{},"line":{},"text":{}}}"#,
                string(query),
                rank + 1,
                json_f32(score),
                corpus.lines[i],
                string(&corpus.texts[i])
            )?;
        }
        return Ok(());
    }
    if q > 0 {
        writeln!(out)?;
    }
    writeln!(out, "query: {}", one_line(query))?;
    for (rank, &Hit { index: i, score }) in hits.iter().enumerate() {
        writeln!(
            out,
            "{:>4}  {score:.4}  line {}: {}",
            rank + 1,
            corpus.lines[i],
            one_line(&corpus.texts[i])
        )?;
    }
    Ok(())
}

/// `value` as a JSON number, in the shortest form that parses back to the same f32.
fn json_f32(value: f32) -> String {
    serde_json::to_string(&value).unwrap_or_else(|_| "null".into())
}

/// `text` on one line: control characters (a JSONL text's newlines) escaped.
fn one_line(text: &str) -> String {
    text.chars()
        .flat_map(|c| match c {
            c if c.is_control() => c.escape_default().collect::<Vec<_>>(),
            c => vec![c],
        })
        .collect()
}
