//! JSON paths for error messages (`args[1].value.x`): a plain string grown one step at a
//! time, so a decode error can say exactly where in a request the bad value sits.

/// `base.key`, or `base["key"]` when the key is not a simple identifier.
pub(crate) fn key(base: &str, key: &str) -> String {
    let simple = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if simple {
        if base.is_empty() {
            key.to_owned()
        } else {
            format!("{base}.{key}")
        }
    } else {
        // serde_json string escaping keeps odd keys unambiguous.
        format!("{base}[{}]", serde_json::Value::String(key.to_owned()))
    }
}

/// `base[i]`.
pub(crate) fn index(base: &str, i: usize) -> String {
    format!("{base}[{i}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_indexes() {
        assert_eq!(key("$", "value"), "$.value");
        assert_eq!(key("", "value"), "value");
        assert_eq!(key("$", "my-field_2"), "$.my-field_2");
        assert_eq!(key("$", "a b"), "$[\"a b\"]");
        assert_eq!(key("$", ""), "$[\"\"]");
        assert_eq!(key("$", "q\""), "$[\"q\\\"\"]");
        assert_eq!(index("args", 1), "args[1]");
        assert_eq!(key(&index("args", 1), "value"), "args[1].value");
    }
}
