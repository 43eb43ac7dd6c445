//! The labelled accuracy corpus of the masking plugins: its generator, its
//! scorer, and its file format (JSON Lines, one document per line).

pub mod audit;
pub mod generate;
pub mod independent;
mod prose;
pub mod score;
mod tech;
mod templates;
pub mod values;

use generate::Doc;

/// The corpus as JSON Lines: one `{"id":…,"text":…,"labels":[…]}` per line.
pub fn to_jsonl(docs: &[Doc]) -> Result<String, serde_json::Error> {
    let mut out = String::new();
    for doc in docs {
        out.push_str(&serde_json::to_string(doc)?);
        out.push('\n');
    }
    Ok(out)
}

/// Parses JSON Lines written by [`to_jsonl`]; the error names the line.
pub fn from_jsonl(text: &str) -> Result<Vec<Doc>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_round_trips() {
        let docs = generate::generate();
        let text = to_jsonl(&docs).expect("serialize");
        assert_eq!(text.lines().count(), docs.len());
        assert!(text.starts_with("{\"id\":0,\"text\":"), "{}", &text[..40]);
        assert_eq!(from_jsonl(&text).expect("parse"), docs);
    }
}
