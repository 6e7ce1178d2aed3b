//! LIKE/UNLIKE constraint patterns: regular expressions matched against a
//! whole attribute value, compiled once with bounded size (a pattern comes
//! from a user and must not cost the engine unbounded memory or time; the
//! `regex` crate matches in linear time).
//!
//! ```rust
//! use tritium_core::pattern::{MAX_PATTERN, Pattern};
//!
//! let rack = Pattern::compile("rack-[0-9]+")?;
//! assert!(rack.matches("rack-12"));
//! assert!(!rack.matches("rack-12b")); // always anchored at both ends
//! assert!(Pattern::compile("(").is_err());
//! assert!(Pattern::compile(&"a".repeat(MAX_PATTERN + 1)).is_err());
//! # Ok::<(), String>(())
//! ```

use regex::{Regex, RegexBuilder};

/// Longest pattern source accepted.
pub const MAX_PATTERN: usize = 1024;

/// A compiled, anchored pattern.
#[derive(Debug, Clone)]
pub struct Pattern(Regex);

impl Pattern {
    /// Compiles `src` (`regex` crate syntax, Unicode) anchored at both ends.
    ///
    /// # Errors
    ///
    /// A message for the user when `src` is longer than [`MAX_PATTERN`]
    /// bytes, is not a valid regex, nests groups deeper than 32, or would
    /// compile to more than 256 KiB.
    pub fn compile(src: &str) -> Result<Pattern, String> {
        if src.len() > MAX_PATTERN {
            return Err(format!("pattern longer than {MAX_PATTERN} bytes"));
        }
        RegexBuilder::new(&format!("^(?:{src})$"))
            .size_limit(256 * 1024)
            .dfa_size_limit(256 * 1024)
            .nest_limit(32)
            .build()
            .map(Pattern)
            .map_err(|e| format!("not a valid pattern: {e}"))
    }

    /// Whether the whole of `value` matches.
    pub fn matches(&self, value: &str) -> bool {
        self.0.is_match(value)
    }

    /// The compiled source, anchors included: `^(?:src)$`.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchored_and_bounded() {
        let p = Pattern::compile("rack-[0-9]+").unwrap();
        assert!(p.matches("rack-12"));
        assert!(!p.matches("xrack-12"));
        assert!(!p.matches("rack-12x"));
        assert!(Pattern::compile("(").is_err());
        assert!(Pattern::compile(&"a".repeat(MAX_PATTERN + 1)).is_err());
        assert!(Pattern::compile("(a{1000}){1000}").is_err(), "size limit");
    }
}
