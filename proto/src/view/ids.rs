//! The ids of every offer, for a caller that reads nothing else of them
//! (the matcher's nothing-pending path: note the agent, decline the offer).
//!
//! [`EventView::offer_ids`] yields exactly what
//! `offers().map(|o| { let o = o?; Ok((o.id()?, o.agent_id()?)) })` yields
//! (the same values, and an error for the same offers), but reads an offer
//! the way a Mesos master writes it in one tight pass: `id`,
//! `framework_id` and `agent_id` first, each id message holding only its
//! value, then only the keys and lengths of the remaining fields (their
//! framing, the wire types of the fields [`OfferView`] reads, that `id`
//! and `agent_id` do not occur again — prost would merge a later
//! occurrence — and that `hostname` is there). Anything else (another
//! field order, a repeated id, a multi-byte key, a group, a bad id) is
//! read by [`OfferView::new`], [`OfferView::id`] and
//! [`OfferView::agent_id`] themselves, so errors and values are theirs.

use std::iter::FusedIterator;

use super::{
    Cursor, EventView, NestedLenFields, OFFER_READS, OfferView, ViewError, WT_FIXED32, WT_FIXED64,
    WT_LEN, WT_VARINT, bit, id, offer, only_short_string, tag,
};

/// The two ids of one offer; see [`EventView::offer_ids`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OfferIds<'a> {
    buf: &'a [u8],
    /// Both checked UTF-8 when the offer was yielded.
    id: &'a [u8],
    agent_id: &'a [u8],
    unavailability: bool,
}

impl<'a> OfferIds<'a> {
    /// `Offer.id.value`, as [`OfferView::id`] reads it (its UTF-8 is
    /// checked again here: [`OfferIds::id_bytes`] is the cheap form).
    pub fn id(&self) -> &'a str {
        // Checked when yielded: the empty fallback never runs.
        std::str::from_utf8(self.id).unwrap_or_default()
    }

    /// `Offer.agent_id.value`, as [`OfferView::agent_id`] reads it (UTF-8
    /// checked again, as [`OfferIds::id`]).
    pub fn agent_id(&self) -> &'a str {
        std::str::from_utf8(self.agent_id).unwrap_or_default()
    }

    /// The bytes of [`OfferIds::id`], valid UTF-8 (checked when the offer
    /// was yielded), pointing into the event.
    pub fn id_bytes(&self) -> &'a [u8] {
        self.id
    }

    /// The bytes of [`OfferIds::agent_id`], valid UTF-8 (checked when the
    /// offer was yielded): for a lookup that needs no `&str`.
    pub fn agent_id_bytes(&self) -> &'a [u8] {
        self.agent_id
    }

    /// Whether the offer has an `unavailability` field (then
    /// [`OfferView::unavailability`] is `Some` or an error).
    pub fn has_unavailability(&self) -> bool {
        self.unavailability
    }

    /// The whole offer's view (a second scan of the offer; it succeeds,
    /// the offer was scanned once already).
    ///
    /// # Errors
    ///
    /// None in practice: kept a `Result` like [`OfferView::new`].
    pub fn offer(&self) -> Result<OfferView<'a>, ViewError> {
        OfferView::new(self.buf)
    }
}

/// Iterator over the ids of an event's offers; see
/// [`EventView::offer_ids`].
#[derive(Clone, Debug)]
pub struct OfferIdsIter<'a> {
    inner: NestedLenFields<'a>,
}

impl<'a> EventView<'a> {
    /// The ids of every offer, in [`EventView::offers`]' order: for each
    /// offer what `OfferView::new`, `id()` and `agent_id()` give (the same
    /// values, an error for the same offers), read in one tight pass over
    /// the offer's keys when the offer is laid out as a Mesos master
    /// writes it (see the module `ids`). The iterator stops after its
    /// first error.
    pub fn offer_ids(&self) -> OfferIdsIter<'a> {
        OfferIdsIter {
            inner: self.offer_records(),
        }
    }
}

impl<'a> Iterator for OfferIdsIter<'a> {
    type Item = Result<OfferIds<'a>, ViewError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let ids = self.inner.next()?.and_then(read_ids);
        if ids.is_err() {
            self.inner.finish();
        }
        Some(ids)
    }
}

impl FusedIterator for OfferIdsIter<'_> {}

fn read_ids(buf: &[u8]) -> Result<OfferIds<'_>, ViewError> {
    if let Some(ids) = fast(buf) {
        return Ok(ids);
    }
    let view = OfferView::new(buf)?;
    Ok(OfferIds {
        buf,
        id: view.id()?.as_bytes(),
        agent_id: view.agent_id()?.as_bytes(),
        unavailability: view.seen & bit(offer::UNAVAILABILITY) != 0,
    })
}

/// An id message holding only its value (`0a len value`, len < 128).
#[inline(always)]
fn short_id<'a>(cur: &mut Cursor<'a>, field: u32) -> Option<&'a [u8]> {
    let [key, len, ref rest @ ..] = *cur.rest else {
        return None;
    };
    let len = usize::from(len);
    if u64::from(key) != tag(field, WT_LEN) || len >= 0x80 || rest.len() < len {
        return None;
    }
    let (message, rest) = rest.split_at(len);
    cur.rest = rest;
    only_short_string(message, tag(id::VALUE, WT_LEN))
}

/// The ids of an offer in a master's layout, or `None` for the general
/// path (which then also finds any error).
#[inline]
fn fast(buf: &[u8]) -> Option<OfferIds<'_>> {
    let mut cur = Cursor::new(buf);
    let id = short_id(&mut cur, offer::ID)?;
    if let [key, ..] = *cur.rest
        && u64::from(key) == tag(offer::FRAMEWORK_ID, WT_LEN)
    {
        cur.rest = &cur.rest[1..];
        cur.read_len().ok()?;
    }
    let agent_id = short_id(&mut cur, offer::AGENT_ID)?;
    let mut seen = 0u32;
    while let [key, ref rest @ ..] = *cur.rest {
        // One-byte keys only (fields 1 to 15): a master's offer has no
        // other.
        if !(8..0x80).contains(&key) {
            return None;
        }
        cur.rest = rest;
        let field = u32::from(key >> 3);
        let wire_type = key & 7;
        if wire_type == WT_LEN {
            cur.read_len().ok()?;
        } else if OFFER_READS & bit(field) != 0 {
            return None;
        } else {
            match wire_type {
                WT_VARINT => {
                    cur.read_varint().ok()?;
                }
                WT_FIXED64 => {
                    cur.read_fixed::<8>().ok()?;
                }
                WT_FIXED32 => {
                    cur.read_fixed::<4>().ok()?;
                }
                _ => return None,
            }
        }
        seen |= bit(field);
    }
    if seen & (bit(offer::ID) | bit(offer::AGENT_ID)) != 0 || seen & bit(offer::HOSTNAME) == 0 {
        return None;
    }
    if !(valid_utf8(id) && valid_utf8(agent_id)) {
        return None;
    }
    Some(OfferIds {
        buf,
        id,
        agent_id,
        unavailability: seen & bit(offer::UNAVAILABILITY) != 0,
    })
}

/// Whether `bytes` are UTF-8: ids are ASCII, checked a word at a time
/// (a third of `str::from_utf8`'s instructions on a 40-byte id); anything
/// else by `str::from_utf8`.
#[inline]
fn valid_utf8(bytes: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut words = bytes.chunks_exact(8);
    let mut any = 0u64;
    for w in &mut words {
        any |= u64::from_le_bytes(w.try_into().unwrap_or_default());
    }
    for &b in words.remainder() {
        any |= u64::from(b);
    }
    any & HIGH == 0 || std::str::from_utf8(bytes).is_ok()
}
