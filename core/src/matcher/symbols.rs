//! Interned strings: every agent attribute name and value, hostname and role
//! the matcher compares is turned into a `u32` [`Sym`] once, so constraint
//! checks compare integers, never strings.
//!
//! Owns the symbol table and the small hasher the matcher's maps use. Must
//! never grow without bound: [`MAX_SYMBOLS`] caps it, and a string that no
//! longer fits is reported as `None` (the caller treats it as unknown).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// Most distinct strings the table holds. A 10,000-agent cluster with 20
/// attributes each needs about 200,000 (hostnames, values); this leaves room
/// for fifty times that while bounding memory at roughly 100 MiB worst case.
pub const MAX_SYMBOLS: usize = 10_000_000;

/// An interned string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sym(pub(crate) u32);

/// A fast, non-cryptographic hasher (the multiply-rotate scheme of rustc's
/// FxHasher). Keys are agent ids and attribute strings from our own master,
/// and the tables are bounded, so HashDoS resistance buys nothing here while
/// SipHash would cost a third of the per-offer budget.
#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Builds [`FxHasher`]s for std maps and sets.
pub type FxBuild = BuildHasherDefault<FxHasher>;
/// A `HashMap` with [`FxHasher`]: only for bounded tables whose keys come
/// from the master, never for keys an API user chooses freely.
pub type FxMap<K, V> = HashMap<K, V, FxBuild>;

/// The symbol table. Strings are shared between the lookup map and the
/// by-symbol list (one allocation per distinct string).
///
/// Symbols are never freed: a symbol stays valid, and names the same string,
/// for the table's life.
///
/// ```rust
/// use tritium_core::matcher::symbols::Symbols;
///
/// let mut table = Symbols::default();
/// assert_eq!(table.get("rack"), None); // a lookup never interns
/// let rack = table.intern("rack").expect("table not full");
/// assert_eq!(table.intern("rack"), Some(rack));
/// assert_eq!(table.name(rack), "rack");
/// assert_eq!(table.len(), 1);
/// ```
#[derive(Debug, Default)]
pub struct Symbols {
    by_name: FxMap<Arc<str>, Sym>,
    names: Vec<Arc<str>>,
}

impl Symbols {
    /// The symbol of `s`, if it was interned.
    #[inline]
    pub fn get(&self, s: &str) -> Option<Sym> {
        self.by_name.get(s).copied()
    }

    /// The symbol of `s`, interning it first if needed; `None` once the
    /// table is full.
    #[inline]
    pub fn intern(&mut self, s: &str) -> Option<Sym> {
        if let Some(sym) = self.by_name.get(s) {
            return Some(*sym);
        }
        if self.names.len() >= MAX_SYMBOLS {
            return None;
        }
        let sym = Sym(self.names.len() as u32);
        let name: Arc<str> = Arc::from(s);
        self.names.push(name.clone());
        self.by_name.insert(name, sym);
        Some(sym)
    }

    /// The string of a symbol; `""` for a symbol of another table that is
    /// out of this one's range.
    #[inline]
    pub fn name(&self, sym: Sym) -> &str {
        self.names.get(sym.0 as usize).map_or("", |s| s)
    }

    /// Distinct strings interned so far (at most [`MAX_SYMBOLS`]).
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True before the first string is interned.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_stable_and_lookups_do_not_intern() {
        let mut t = Symbols::default();
        assert_eq!(t.get("rack"), None);
        let a = t.intern("rack").unwrap();
        let b = t.intern("zone").unwrap();
        assert_ne!(a, b);
        assert_eq!(t.intern("rack"), Some(a));
        assert_eq!(t.get("zone"), Some(b));
        assert_eq!(t.name(a), "rack");
        assert_eq!(t.len(), 2);
    }
}
