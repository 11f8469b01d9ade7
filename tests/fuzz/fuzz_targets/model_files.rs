//! `config.json` and `model.safetensors` from the input (see
//! [`minilm_fuzz::model_files_input`]), the rest of the small model as is: load, then embed.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: minilm_fuzz::tolerate_caught_tokenizer_panics(), |data: &[u8]| {
    let Some((config, safetensors)) = minilm_fuzz::split_model_files_input(data) else {
        return;
    };
    let dir = minilm_fuzz::model_dir();
    minilm_fuzz::write(dir, "config.json", config);
    minilm_fuzz::write(dir, "model.safetensors", safetensors);
    minilm_fuzz::load_and_embed(dir);
});
