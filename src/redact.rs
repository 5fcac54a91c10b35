//! Keeping secrets out of what amlops shows: the signatures of shared access signatures,
//! and the values of sensitive variables, wherever text reaches the user.

/// `text` with the value of every `sig=` query parameter of a URL in it replaced, or `None`
/// when it holds none.
pub fn without_signature(text: &str) -> Option<String> {
    if !text.contains('?') {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    let mut found = false;
    let mut from = 0;
    while let Some(at) = lower[from..].find("sig=").map(|i| from + i) {
        from = at + 4;
        let query = match text[..at].chars().next_back() {
            Some('?') => true,
            Some('&') => text[..at].contains('?'),
            _ => false,
        };
        if !query {
            continue;
        }
        let end = text[from..]
            .find(|c: char| matches!(c, '&' | '#' | '"' | '\'') || c.is_whitespace())
            .map_or(text.len(), |i| from + i);
        out.push_str(&text[rest..from]);
        out.push_str(crate::plan::SENSITIVE);
        rest = end;
        from = end;
        found = true;
    }
    found.then(|| {
        out.push_str(&text[rest..]);
        out
    })
}

/// `text` with every secret in `secrets` and every URL signature replaced by `(sensitive)`.
pub fn masked(text: &str, secrets: &[String]) -> String {
    let mut out = secrets
        .iter()
        .filter(|s| !s.is_empty())
        .fold(text.to_owned(), |text, secret| {
            text.replace(secret.as_str(), crate::plan::SENSITIVE)
        });
    if let Some(signed) = without_signature(&out) {
        out = signed;
    }
    out
}

/// Masks, in every string of `value`, the secrets and URL signatures; says whether any was.
pub fn mask_json(value: &mut serde_json::Value, secrets: &[String]) -> bool {
    use serde_json::Value;
    match value {
        Value::String(text) => {
            let shown = masked(text, secrets);
            let changed = shown != *text;
            *text = shown;
            changed
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |any, v| mask_json(v, secrets) | any),
        Value::Object(map) => map
            .values_mut()
            .fold(false, |any, v| mask_json(v, secrets) | any),
        _ => false,
    }
}
