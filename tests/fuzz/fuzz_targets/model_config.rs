//! The JSON files that configure a model, from the input: `config.json`,
//! `sentence_bert_config.json`, `tokenizer_config.json`, `modules.json`, `1_Pooling/config.json`
//! and `tokenizer.json`, separated by 0xFF bytes (a part left out is a file left out). The
//! configs are parsed on their own, then the model is loaded with the small model's weights.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use minilm_fuzz::{CONFIG_FILES, SEPARATOR};

fuzz_target!(init: minilm_fuzz::tolerate_caught_tokenizer_panics(), |data: &[u8]| {
    let dir = minilm_fuzz::model_dir();
    let mut parts = data.split(|&b| b == SEPARATOR);
    for name in CONFIG_FILES {
        match parts.next() {
            Some(part) => minilm_fuzz::write(dir, name, part),
            None => {
                let _ = std::fs::remove_file(dir.join(name));
            }
        }
    }
    let _ = minilm::BertConfig::from_file(&dir.join("config.json"));
    let _ = minilm::SentenceConfig::from_dir(dir);
    minilm_fuzz::load_and_embed(dir);
});
