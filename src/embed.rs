//! The embedding calls: texts (or token ids) in, vectors out, with the embedder's settings or
//! a call's own ([`EmbedOptions`]).

use crate::embed_options::{EmbedOptions, PromptChoice};
use crate::embedder::Embedder;
use crate::error::{Error, Result};
use crate::long_text::{LongText, LongTextReport};
use crate::output_precision::{quantize_embeddings, Embeddings, OutputPrecision};
use crate::runner::{check_rows, CallOptions};

impl Embedder {
    /// The embedding of one text. A model whose `config_sentence_transformers.json` names a
    /// `default_prompt_name` gets that prompt in front of every text, as in
    /// sentence-transformers' `encode` (see [`Embedder::default_prompt`]).
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// let v = embedder.embed("The quick brown fox jumps over the lazy dog.")?;
    /// assert_eq!(v.len(), embedder.dim());
    /// let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    /// assert!((norm - 1.0).abs() < 1e-5); // all-MiniLM-L6-v2 normalises
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn embed(&self, text: &str) -> Result<Vec<f32>> {
        let mut vectors = self.embed_batch(&[text])?;
        Ok(vectors.pop().unwrap_or_default())
    }

    /// The embeddings of `texts`, in order. Texts are tokenised [`Options::batch_size`](crate::Options::batch_size) at a
    /// time and run in forward passes of at most that many texts and
    /// [`Options::batch_tokens`](crate::Options::batch_tokens) tokens. A text's embedding does not depend on the other texts.
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// let texts = vec!["first text".to_string(), "second text".to_string()];
    /// let vectors = embedder.embed_batch(&texts)?;
    /// assert_eq!(vectors.len(), 2);
    /// assert_eq!(vectors[1], embedder.embed("second text")?); // independent of the batch
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn embed_batch<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>> {
        self.embed_batch_prompted(self.default_prompt(), texts)
    }

    /// [`Embedder::embed_batch`] into a caller's buffer: `out` receives `texts.len()` rows of
    /// [`Embedder::dim`] floats. Returns what was done with texts longer than the model reads
    /// at once (see [`Options::long_text`](crate::Options::long_text)).
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// let mut out = vec![0.0f32; 2 * embedder.dim()]; // reuse it across calls
    /// embedder.embed_batch_into(&["first", "second"], &mut out)?;
    /// assert_eq!(&out[embedder.dim()..], &embedder.embed("second")?[..]);
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn embed_batch_into<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        out: &mut [f32],
    ) -> Result<LongTextReport> {
        self.embed_prompted_into(self.default_prompt(), texts, self.call_options(), out)
    }

    /// The embedding of `prompt` followed by `text`, the way sentence-transformers'
    /// `encode(text, prompt=...)` computes it: the two are joined as they are (no space added)
    /// and tokenised together. Retrieval models ask for one on one side: bge-small-en-v1.5 on
    /// queries, the e5 models `"query: "` and `"passage: "`. A model's named prompts are in
    /// [`Embedder::prompts`]. The default prompt is not added; an empty `prompt` adds nothing.
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &Default::default())?;
    /// let query = embedder.embed_with_prompt("query: ", "how do I bake bread")?;
    /// assert_eq!(query, embedder.embed("query: how do I bake bread")?);
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn embed_with_prompt(&self, prompt: &str, text: &str) -> Result<Vec<f32>> {
        let mut vectors = self.embed_batch_with_prompt(prompt, &[text])?;
        Ok(vectors.pop().unwrap_or_default())
    }

    /// [`Embedder::embed_with_prompt`] for many texts, each with the same prompt.
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// let passages = embedder.embed_batch_with_prompt("passage: ", &["Bread needs flour.", "Stocks fell."])?;
    /// assert_eq!(passages[0], embedder.embed("passage: Bread needs flour.")?);
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn embed_batch_with_prompt<S: AsRef<str> + Sync>(
        &self,
        prompt: &str,
        texts: &[S],
    ) -> Result<Vec<Vec<f32>>> {
        self.embed_batch_prompted(Some(prompt), texts)
    }

    /// [`Embedder::embed_batch_with_prompt`] into a caller's buffer, as
    /// [`Embedder::embed_batch_into`].
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// let mut out = vec![0.0f32; embedder.dim()];
    /// embedder.embed_batch_with_prompt_into("query: ", &["bread"], &mut out)?;
    /// assert_eq!(out, embedder.embed_with_prompt("query: ", "bread")?);
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn embed_batch_with_prompt_into<S: AsRef<str> + Sync>(
        &self,
        prompt: &str,
        texts: &[S],
        out: &mut [f32],
    ) -> Result<LongTextReport> {
        self.embed_prompted_into(Some(prompt), texts, self.call_options(), out)
    }

    /// The embeddings of `texts` as `options` says: prompt, normalisation, truncated
    /// dimension, long-text mode (the counterpart of sentence-transformers'
    /// `encode(texts, prompt_name=..., normalize_embeddings=..., truncate_dim=...)`). For
    /// quantised output use [`Embedder::encode`].
    ///
    /// ```
    /// use minilm::EmbedOptions;
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// let full = embedder.embed("Matryoshka dolls")?;
    /// let short = embedder.embed_batch_with(&["Matryoshka dolls"], &EmbedOptions::new().truncate_dim(64))?;
    /// assert_eq!(short[0], full[..64]); // the first 64 dimensions, as they are
    /// let unit = embedder.embed_batch_with(&["Matryoshka dolls"], &EmbedOptions::new().truncate_dim(64).normalize(true))?;
    /// let norm: f32 = unit[0].iter().map(|x| x * x).sum::<f32>().sqrt();
    /// assert!((norm - 1.0).abs() < 1e-5); // cut, then normalised again
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn embed_batch_with<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        options: &EmbedOptions,
    ) -> Result<Vec<Vec<f32>>> {
        let dim = self.output_dim(options)?;
        let mut flat = vec![0.0; texts.len() * dim];
        self.embed_batch_with_into(texts, options, &mut flat)?;
        Ok(flat.chunks_exact(dim.max(1)).map(<[f32]>::to_vec).collect())
    }

    /// [`Embedder::embed_batch_with`] of one text.
    ///
    /// ```
    /// use minilm::EmbedOptions;
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// let raw = embedder.embed_with("no Normalize module", &EmbedOptions::new().normalize(false))?;
    /// let norm: f32 = raw.iter().map(|x| x * x).sum::<f32>().sqrt();
    /// assert!(norm > 1.5); // the mean-pooled vector, as it is
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn embed_with(&self, text: &str, options: &EmbedOptions) -> Result<Vec<f32>> {
        let mut vectors = self.embed_batch_with(&[text], options)?;
        Ok(vectors.pop().unwrap_or_default())
    }

    /// [`Embedder::embed_batch_with`] into a caller's buffer: `out` receives `texts.len()` rows
    /// of [`Embedder::output_dim`] floats. Returns what was done with long texts. With
    /// `truncate_dim`, the full-width rows go through a scratch buffer first. A quantised
    /// precision is an error here (`out` holds floats): see [`Embedder::encode`].
    ///
    /// ```
    /// use minilm::EmbedOptions;
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// let options = EmbedOptions::new().truncate_dim(128);
    /// let mut out = vec![0.0f32; 2 * embedder.output_dim(&options)?];
    /// embedder.embed_batch_with_into(&["first", "second"], &options, &mut out)?;
    /// assert_eq!(&out[128..], &embedder.embed("second")?[..128]);
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn embed_batch_with_into<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        options: &EmbedOptions,
        out: &mut [f32],
    ) -> Result<LongTextReport> {
        if options.precision != OutputPrecision::Float32 {
            return Err(Error::InvalidOption(format!(
                "{} output needs Embedder::encode (or quantize_embeddings on the floats)",
                options.precision
            )));
        }
        self.embed_floats_into(texts, options, out)
    }

    /// The vectors of `texts` in the precision `options` asks for (f32, or quantised as
    /// sentence-transformers' `encode(..., precision=...)` quantises them: see
    /// [`quantize_embeddings`](crate::quantize_embeddings)), and what was done with long texts.
    ///
    /// ```
    /// use minilm::{EmbedOptions, Embeddings, OutputPrecision};
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// let options = EmbedOptions::new().precision(OutputPrecision::Ubinary);
    /// let (bits, _) = embedder.encode(&["A man is eating food.", "A man is eating pasta."], &options)?;
    /// assert_eq!((bits.len(), bits.row_len()), (2, 48)); // 384 bits in 48 bytes each
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn encode<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        options: &EmbedOptions,
    ) -> Result<(Embeddings, LongTextReport)> {
        let dim = self.output_dim(options)?;
        let mut flat = vec![0.0; texts.len() * dim];
        let report = self.embed_floats_into(texts, options, &mut flat)?;
        let embeddings = match options.precision {
            OutputPrecision::Float32 => Embeddings::Float32 { dim, values: flat },
            precision => quantize_embeddings(&flat, dim, precision, options.ranges.as_ref())?,
        };
        Ok((embeddings, report))
    }

    /// Length of the vectors a call with `options` returns: its `truncate_dim`, else
    /// [`Embedder::dim`]. An error when `truncate_dim` is 0 or more than [`Embedder::dim`].
    ///
    /// ```
    /// use minilm::EmbedOptions;
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// assert_eq!(embedder.output_dim(&EmbedOptions::new())?, 384);
    /// assert_eq!(embedder.output_dim(&EmbedOptions::new().truncate_dim(256))?, 256);
    /// assert!(embedder.output_dim(&EmbedOptions::new().truncate_dim(1000)).is_err());
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn output_dim(&self, options: &EmbedOptions) -> Result<usize> {
        match options.truncate_dim {
            None => Ok(self.dim()),
            Some(d) if d >= 1 && d <= self.dim() => Ok(d),
            Some(d) => Err(Error::InvalidOption(format!(
                "truncate_dim {d} must be from 1 to the model's dimension {}",
                self.dim()
            ))),
        }
    }

    /// The embedding of a search query, with the model's `query` prompt if it has one (as
    /// sentence-transformers' `encode_query`): see [`EmbedOptions::query`].
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// // all-MiniLM-L6-v2 has no prompts: a query embeds as any text.
    /// assert_eq!(embedder.embed_query("bread")?, embedder.embed("bread")?);
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        self.embed_with(text, &EmbedOptions::new().query())
    }

    /// The embedding of a document to be searched, with the model's `document`, `passage` or
    /// `corpus` prompt if it has one (as sentence-transformers' `encode_document`): see
    /// [`EmbedOptions::document`].
    pub fn embed_document(&self, text: &str) -> Result<Vec<f32>> {
        self.embed_with(text, &EmbedOptions::new().document())
    }

    /// The prompt queries get: the model's prompt named `query`, if any.
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// assert_eq!(embedder.query_prompt(), None); // all-MiniLM-L6-v2 names no prompts
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn query_prompt(&self) -> Option<&str> {
        self.prompt("query")
    }

    /// The prompt documents get: the first of the model's prompts named `document`, `passage`
    /// and `corpus`, as sentence-transformers' `encode_document` picks it.
    pub fn document_prompt(&self) -> Option<&str> {
        ["document", "passage", "corpus"]
            .iter()
            .find_map(|name| self.prompt(name))
    }

    /// The prompt text `choice` stands for (`None`: no prompt).
    pub(crate) fn resolve_prompt<'a>(
        &'a self,
        choice: &'a PromptChoice,
    ) -> Result<Option<&'a str>> {
        Ok(match choice {
            PromptChoice::ModelDefault => self.default_prompt(),
            PromptChoice::Text(text) => Some(text),
            PromptChoice::Named(name) => Some(self.prompt(name).ok_or_else(|| {
                let names: Vec<&str> = self.prompts().keys().map(String::as_str).collect();
                Error::InvalidOption(if names.is_empty() {
                    format!("prompt {name:?}: the model names no prompts")
                } else {
                    format!(
                        "prompt {name:?}: the model's prompts are {}",
                        names.join(", ")
                    )
                })
            })?),
            PromptChoice::Query => self.query_prompt().or(self.default_prompt()),
            PromptChoice::Document => self.document_prompt().or(self.default_prompt()),
        })
    }

    /// Embeds `texts` into `out` (rows of [`Embedder::output_dim`]) with the float-side
    /// settings of `options`.
    fn embed_floats_into<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        options: &EmbedOptions,
        out: &mut [f32],
    ) -> Result<LongTextReport> {
        let prompt = self.resolve_prompt(&options.prompt)?;
        let (dim, out_dim) = (self.dim(), self.output_dim(options)?);
        check_rows(texts.len(), out_dim, out)?;
        let truncating = out_dim < dim;
        // As sentence-transformers: the model's pipeline (its Normalize module, unless turned
        // off), then the cut, then normalize_embeddings.
        let (pooled_normalize, cut_normalize) = match options.normalize {
            None => (self.sentence.normalize, false),
            Some(false) => (false, false),
            Some(true) if truncating => (self.sentence.normalize, true),
            Some(true) => (true, false),
        };
        let long_text = options.long_text.unwrap_or(self.long_text);
        if let LongText::Chunk { overlap } = long_text {
            let width = self.planner.window_width();
            if overlap >= width {
                return Err(Error::InvalidOption(format!(
                    "chunk overlap {overlap} must be less than the {width} word pieces of a window"
                )));
            }
        }
        let call = CallOptions {
            long_text,
            normalize: pooled_normalize,
        };
        if !truncating {
            return self
                .runner
                .embed_texts(&self.planner, prompt, texts, call, out, &mut |_| {});
        }
        let mut full = vec![0.0f32; texts.len() * dim];
        let report =
            self.runner
                .embed_texts(&self.planner, prompt, texts, call, &mut full, &mut |_| {})?;
        for (row, full_row) in out.chunks_exact_mut(out_dim).zip(full.chunks_exact(dim)) {
            row.copy_from_slice(&full_row[..out_dim]);
            if cut_normalize {
                self.runner.kernels().l2_normalize(row);
            }
        }
        Ok(report)
    }

    fn embed_batch_prompted<S: AsRef<str> + Sync>(
        &self,
        prompt: Option<&str>,
        texts: &[S],
    ) -> Result<Vec<Vec<f32>>> {
        let dim = self.dim();
        let mut flat = vec![0.0; texts.len() * dim];
        self.embed_prompted_into(prompt, texts, self.call_options(), &mut flat)?;
        Ok(flat.chunks_exact(dim.max(1)).map(<[f32]>::to_vec).collect())
    }

    /// The embedder's own call settings.
    pub(crate) fn call_options(&self) -> CallOptions {
        CallOptions {
            long_text: self.long_text,
            normalize: self.sentence.normalize,
        }
    }

    /// Embeds `texts`, each after `prompt`, into `out` as `call` says.
    pub(crate) fn embed_prompted_into<S: AsRef<str> + Sync>(
        &self,
        prompt: Option<&str>,
        texts: &[S],
        call: CallOptions,
        out: &mut [f32],
    ) -> Result<LongTextReport> {
        self.runner
            .embed_texts(&self.planner, prompt, texts, call, out, &mut |_| {})
    }

    /// Embeddings of texts given as token ids (each as [`Embedder::token_ids`] returns them:
    /// `\[CLS\] … \[SEP\]`, at most [`Embedder::max_length`] ids, token type 0) into `out`,
    /// `sequences.len()` rows of [`Embedder::dim`] floats. For callers that tokenise once and
    /// embed often: once the embedder has run a batch at least as large, a call allocates
    /// nothing.
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// let ids = embedder.token_ids("tokenised once, embedded often")?;
    /// let mut out = vec![0.0f32; embedder.dim()];
    /// embedder.embed_token_ids_into(&[&ids], &mut out)?;
    /// assert_eq!(out, embedder.embed("tokenised once, embedded often")?);
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn embed_token_ids_into(&self, sequences: &[&[u32]], out: &mut [f32]) -> Result<()> {
        check_rows(sequences.len(), self.dim(), out)?;
        for (index, ids) in sequences.iter().enumerate() {
            self.planner.check_ids(ids, &[], index)?;
        }
        self.runner
            .embed_ids(sequences, self.sentence.normalize, out);
        Ok(())
    }
}
