//! Strict JSON: the one parse step every request body goes through (app
//! documents, hydrogen's lists, taurus jobs, delete bodies).
//!
//! serde_json keeps the last of two equal keys in an object and drops the
//! first without a word; other parsers keep the first. A document that
//! names a key twice therefore means different things to different
//! readers (and to a proxy that checked it), so it is refused, naming the
//! key's path (`container.network[0].name`, `[1].instances` in a list).
//!
//! It reads serde_json's token stream with a visitor of its own that
//! builds the same [`Value`] serde_json would, checking each object's keys
//! as they come. Bounds are serde_json's: its recursion limit (128 nested
//! arrays or objects) is checked before each level is entered, so deep
//! nesting is an error, never a stack overflow; the body's size is bounded
//! by whoever read it (the REST API: `max_body`).
//! It must never accept what `serde_json::from_slice::<Value>` refuses.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::SpecError;

/// Parse `body` as one JSON document, refusing duplicate object keys.
///
/// ```
/// use tritium_core::spec::parse_strict_json;
/// let v = parse_strict_json(br#"{"name": "web", "instances": 2}"#).unwrap();
/// assert_eq!(v["instances"], 2);
/// let e = parse_strict_json(br#"[{"name": "a"}, {"name": "b", "name": "c"}]"#).unwrap_err();
/// assert_eq!(e.field, "[1].name");
/// ```
///
/// # Errors
///
/// Not JSON (`field` empty), or a key twice in one object (`field` is
/// its path).
pub fn parse_strict_json(body: &[u8]) -> Result<Value, SpecError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let mut path = Path::default();
    let parsed = Node { path: &mut path }.deserialize(&mut de);
    match parsed.and_then(|v| de.end().map(|()| v)) {
        Ok(v) => Ok(v),
        Err(e) => Err(match path.duplicate.take() {
            Some((field, key)) => SpecError::new(
                field,
                format!(
                    "duplicate key {key:?}: a key may appear once in an object (parsers differ on which one counts)"
                ),
            ),
            None => SpecError::new("", format!("not JSON: {e}")),
        }),
    }
}

/// Where the parser is, and the duplicate key it found.
#[derive(Default)]
struct Path {
    segs: Vec<Seg>,
    /// The duplicate's path and key (the parse stops at the first).
    duplicate: Option<(String, String)>,
}

enum Seg {
    Key(String),
    Index(usize),
}

impl Path {
    fn render(&self) -> String {
        let mut out = String::new();
        for s in &self.segs {
            match s {
                Seg::Key(k) if out.is_empty() => out.push_str(k),
                Seg::Key(k) => {
                    out.push('.');
                    out.push_str(k);
                }
                Seg::Index(i) => {
                    out.push('[');
                    out.push_str(&i.to_string());
                    out.push(']');
                }
            }
        }
        out
    }
}

/// One value at the current path.
struct Node<'p> {
    path: &'p mut Path,
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // serde_json reads no NaN or infinity, so this is always a number.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            self.path.segs.push(Seg::Index(items.len()));
            let item = seq.next_element_seed(Node {
                path: &mut *self.path,
            })?;
            self.path.segs.pop();
            match item {
                Some(v) => items.push(v),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            self.path.segs.push(Seg::Key(key));
            let Some(Seg::Key(key)) = self.path.segs.last() else {
                unreachable!("just pushed");
            };
            if out.contains_key(key) {
                let key = key.clone();
                self.path.duplicate = Some((self.path.render(), key));
                return Err(de::Error::custom("duplicate key"));
            }
            let value = map.next_value_seed(Node {
                path: &mut *self.path,
            })?;
            let Some(Seg::Key(key)) = self.path.segs.pop() else {
                unreachable!("the key pushed above");
            };
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(body: &str) -> String {
        let e = parse_strict_json(body.as_bytes()).expect_err("a duplicate key");
        assert!(e.error.contains("duplicate key"), "{e:?}");
        e.field
    }

    #[test]
    fn duplicate_keys_are_refused_with_their_path() {
        assert_eq!(field(r#"{"name": "a", "name": "b"}"#), "name");
        assert_eq!(
            field(r#"{"container": {"network": [{"name": "x"}, {"name": "y", "name": "z"}]}}"#),
            "container.network[1].name"
        );
        assert_eq!(
            field(r#"[{"name": "a"}, {"resources": {"cpu": 1, "cpu": 2}}]"#),
            "[1].resources.cpu"
        );
        // Equal after unescaping is equal.
        assert_eq!(field(r#"{"a": 1, "\u0061": 2}"#), "a");
    }

    #[test]
    fn agrees_with_serde_json_on_documents_without_duplicates() {
        for doc in [
            r#"{"a": [1, -2, 3.5, 1e300, 18446744073709551615, -9223372036854775808], "b": {"c": null, "d": true, "e": "\u00e9\n"}}"#,
            r#"[]"#,
            r#"{}"#,
            r#""text""#,
            r#"0.1"#,
            r#"[{"a": 1}, {"a": 1}]"#,
            r#"{"a": {"x": 1}, "b": {"x": 1}}"#,
        ] {
            let ours = parse_strict_json(doc.as_bytes()).expect(doc);
            let theirs: Value = serde_json::from_str(doc).expect(doc);
            assert_eq!(ours, theirs, "{doc}");
        }
    }

    #[test]
    fn what_serde_json_refuses_is_refused() {
        for doc in [
            "",
            "{",
            r#"{"a": 1,}"#,
            "[1] [2]",
            "nul",
            r#"{"a" 1}"#,
            "01",
        ] {
            let e = parse_strict_json(doc.as_bytes()).expect_err(doc);
            assert_eq!(e.field, "", "{doc}: {e:?}");
            assert!(e.error.starts_with("not JSON"), "{doc}: {e:?}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        for open in ["[", "{\"a\":"] {
            let doc = open.repeat(100_000);
            let e = parse_strict_json(doc.as_bytes()).expect_err("too deep");
            assert!(e.error.contains("recursion limit"), "{e:?}");
        }
        let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(parse_strict_json(ok.as_bytes()).is_ok());
    }
}
