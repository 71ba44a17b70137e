//! The model list: one `GET <base-url>/models` per run, sent alongside the checks. When the
//! asked model is not listed, a not-found failure names the closest listed names (the same
//! name with or without `-cloud` / `:cloud` first). Never a fallback to another name, never a
//! retry. Pure apart from the request in [`super::client::ChatClient::models`].

use serde_json::Value;

use super::answer::Reply;

/// What `GET /models` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ModelList {
    /// Not asked (`--no-model-list`).
    Skipped,
    /// The listed ids (`data[].id`, OpenAI's and Ollama's and llama.cpp's shape; Ollama's
    /// `"data": null` is an empty list).
    Listed(Vec<String>),
    /// The endpoint has no model list (404 or 405): fine, said once on stderr.
    NoList(u16),
    /// Any other answer: the list is unknown (never a failure of the smoke).
    Unknown(String),
}

impl ModelList {
    /// Reads the reply to `GET /models`.
    pub(crate) fn from_reply(reply: &Reply) -> ModelList {
        match reply {
            Reply::Http { status, body } if (200..300).contains(status) => match parse_ids(body) {
                Some(ids) => ModelList::Listed(ids),
                None => ModelList::Unknown(format!("HTTP {status}, not a model list")),
            },
            Reply::Http { status, .. } if matches!(status, 404 | 405) => ModelList::NoList(*status),
            Reply::Http { status, .. } => ModelList::Unknown(format!("HTTP {status}")),
            Reply::Timeout => ModelList::Unknown("no answer in time".to_owned()),
            Reply::Unreachable { detail } => ModelList::Unknown(detail.clone()),
        }
    }

    /// Whether `model` is listed (`None` when there is no list).
    pub(crate) fn lists(&self, model: &str) -> Option<bool> {
        match self {
            ModelList::Listed(ids) => Some(ids.iter().any(|id| id == model)),
            _ => None,
        }
    }
}

/// `data[].id` of a model list; `None` when the body is not one.
pub(crate) fn parse_ids(body: &str) -> Option<Vec<String>> {
    let root: Value = serde_json::from_str(body).ok()?;
    match root.get("data")? {
        Value::Null => Some(Vec::new()),
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(|m| m.get("id").and_then(Value::as_str).map(str::to_owned))
                .collect(),
        ),
        _ => None,
    }
}

/// The name without a `-cloud` / `:cloud` suffix, lower-cased.
fn base(name: &str) -> String {
    let n = name.to_lowercase();
    n.strip_suffix("-cloud")
        .or_else(|| n.strip_suffix(":cloud"))
        .unwrap_or(&n)
        .to_owned()
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Up to three listed names closest to `model`: the same name with or without `-cloud` /
/// `:cloud` first, then by edit distance (at most half the name's length), ties by name.
pub(crate) fn closest(model: &str, ids: &[String]) -> Vec<String> {
    let want = base(model);
    let limit = want.chars().count().div_ceil(2).max(2);
    let mut scored: Vec<(usize, &String)> = ids
        .iter()
        .filter(|id| id.as_str() != model)
        .map(|id| {
            let b = base(id);
            let score = if b == want {
                0
            } else {
                1 + distance(&want, &b)
            };
            (score, id)
        })
        .filter(|(score, _)| *score <= limit)
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(3)
        .map(|(_, id)| id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloud_suffix_first_then_distance() {
        let ids: Vec<String> = ["llama3:8b", "gemma4:31b", "gemma4:e4b", "gemma3:27b"]
            .map(String::from)
            .to_vec();
        assert_eq!(closest("gemma4:31b-cloud", &ids)[0], "gemma4:31b");
        assert_eq!(
            closest("gemma4:31b", &["gemma4:31b-cloud".to_owned()]),
            ["gemma4:31b-cloud"]
        );
        assert!(closest("qwen", &ids).is_empty());
        assert_eq!(parse_ids(r#"{"object":"list","data":null}"#), Some(vec![]));
    }
}
