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

/// A path built on the stack as a decoder descends, and spelled out only when an error
/// names it. Formatting `args[0].value` and its siblings for every argument of every
/// call, error or not, was ~0.6% of `ledgervm bench`'s CPU.
#[derive(Clone, Copy, Debug)]
pub(crate) enum At<'a> {
    /// The path the decoder was started at.
    Root(&'a str),
    /// `base.key` (see [`key`]).
    Key(&'a At<'a>, &'a str),
    /// `base[i]`.
    Index(&'a At<'a>, usize),
}

impl From<&At<'_>> for String {
    fn from(at: &At<'_>) -> String {
        match *at {
            At::Root(s) => s.to_owned(),
            At::Key(base, k) => key(&String::from(base), k),
            At::Index(base, i) => index(&String::from(base), i),
        }
    }
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

    #[test]
    fn a_lazy_path_spells_what_the_eager_one_does() {
        let root = At::Root("args");
        let first = At::Index(&root, 1);
        let value = At::Key(&first, "value");
        let odd = At::Key(&value, "a b");
        assert_eq!(String::from(&value), key(&index("args", 1), "value"));
        assert_eq!(String::from(&odd), "args[1].value[\"a b\"]");
        assert_eq!(String::from(&At::Key(&At::Root(""), "x")), "x");
    }
}
