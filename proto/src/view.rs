//! Borrowed, lazy reader for `mesos.v1.scheduler.Event`, built for the OFFERS
//! hot path.
//!
//! This module owns the protobuf wire-format reading of exactly the fields the
//! offer matcher needs: per offer its id, framework id, agent id, hostname and
//! allocation role; per resource its name, type, scalar / ranges / set value,
//! role (legacy field and reservation stack), allocation role, persistent
//! volume id and revocability; per attribute its name, type and value. Every
//! other field is skipped by its length without being looked at.
//!
//! It must never allocate, never panic on any input (every index is checked,
//! there is no `unsafe`), and never build prost structs.
//!
//! # What is checked when
//!
//! The view checks the framing needed to find things when it finds them,
//! and each value when it is read, so that what a caller never reads is
//! never validated:
//!
//! - [`EventView::new`] walks the top level of the event once (a handful of
//!   keys; sub-messages are skipped by length), keeping `type` and the byte
//!   span of the `offers` field.
//! - [`OffersIter`] walks that span lazily. Each [`OfferView`] it yields was
//!   scanned once over its own fields: every key, length and wire type of
//!   that level is checked, `id`, `agent_id` and `hostname` must be
//!   present, and where each field the view reads lies is noted. Nothing
//!   inside those fields is read yet.
//! - [`ResourceIter`] / [`AttributeIter`] walk the resources' (attributes')
//!   span; each [`ResourceView`] / [`AttributeView`] is scanned the same
//!   way over its own fields when yielded (`name` and `type` must be
//!   present).
//! - Every accessor that reads inside a field (a string's UTF-8, a
//!   sub-message's fields, a scalar, ranges, set items, roles) checks what
//!   it reads when it is called and returns a `Result`. [`RangesIter`] and
//!   [`SetIter`] are checked by the accessor that returns them, so they
//!   cannot fail. Only what the scans already read (the value type, the
//!   byte spans) is returned without a `Result`.
//!
//! Errors are therefore reported lazily, at the item or accessor that
//! reads them, and every iterator stops (is fused) after yielding its first
//! `Err`. A caller that must treat the event atomically, as prost does,
//! calls [`EventView::validate`] first.
//!
//! # Agreement with prost
//!
//! The contract, checked by `proto/tests/view_props.rs` and the fuzz target
//! `event` on valid, merged, sparse, truncated, corrupted and arbitrary
//! input: every accessor returns what prost gives when it decodes the
//! message's own bytes (the offer's, the resource's, the attribute's) into
//! a message declaring only the fields that accessor reads, every other
//! field being unknown to it (so only framing-checked): `Ok` with prost's
//! value when that decode succeeds, an error when it fails. Hence wherever
//! prost decodes the whole message, every accessor agrees with it; and
//! where prost rejects the message, an accessor errs exactly when what it
//! reads is broken. The exceptions, each stricter than prost:
//!
//! - the scans (the iterators) reject a message whose own level prost would
//!   reject anyway (a key, length or wire type of a field the view reads),
//!   and one missing a field the matcher cannot do without (offer id,
//!   agent id, hostname, resource and attribute name and type,
//!   [`ViewError::MissingField`], where prost substitutes a default);
//! - unknown groups nest at most [`MAX_GROUP_DEPTH`] deep
//!   ([`ViewError::GroupTooDeep`]; prost allows 100 levels of any nesting).
//!
//! How prost reads repeated and merged fields, which the view follows:
//!
//! - a non-repeated scalar or string field that occurs more than once: the
//!   last occurrence wins (every occurrence of a string is UTF-8 checked);
//! - a non-repeated embedded message that occurs more than once is
//!   *merged*; the view merges every sub-message it reads: `Event.offers`
//!   (offers of all occurrences, in order), `Offer.id`,
//!   `Offer.framework_id`, `Offer.agent_id`, `Offer.allocation_info`,
//!   `Offer.domain`, `Offer.unavailability`, `Resource.allocation_info`,
//!   `Resource.disk` / `DiskInfo.persistence`, `Resource.revocable`, and
//!   the `scalar`, `ranges`, `set` and `text` values (ranges and set items
//!   of all occurrences are concatenated in order, the last scalar / text
//!   value wins);
//! - repeated fields are yielded in order; unknown fields of every wire
//!   type, groups included, are skipped.
//!
//! Equal contents, not equal addresses: well-known resource names are
//! returned as constants (so that the common case costs no UTF-8 check).
//! `Offer.id` and the `as_bytes` slices always point into the input.

use std::fmt;
use std::iter::FusedIterator;

mod ids;
#[cfg(feature = "oracle")]
pub mod oracle;

pub use ids::{OfferIds, OfferIdsIter};

// ---------------------------------------------------------------------------
// Field numbers, from the Mesos reference definitions (mesos-go
// `api/v1/lib/mesos.proto` and `scheduler/scheduler.proto`).

/// `mesos.v1.scheduler.Event`.
mod event {
    /// `optional Type type = 1;`
    pub(super) const TYPE: u32 = 1;
    /// `optional Offers offers = 3;`
    pub(super) const OFFERS: u32 = 3;
}

/// `mesos.v1.scheduler.Event.Offers`.
mod event_offers {
    /// `repeated Offer offers = 1;`
    pub(super) const OFFERS: u32 = 1;
}

/// `mesos.v1.OfferID`, `AgentID`, `FrameworkID`: all `required string value = 1;`.
mod id {
    /// `required string value = 1;`
    pub(super) const VALUE: u32 = 1;
}

/// `mesos.v1.Offer`.
mod offer {
    /// `required OfferID id = 1;`
    pub(super) const ID: u32 = 1;
    /// `required FrameworkID framework_id = 2;`
    pub(super) const FRAMEWORK_ID: u32 = 2;
    /// `required AgentID agent_id = 3;`
    pub(super) const AGENT_ID: u32 = 3;
    /// `required string hostname = 4;`
    pub(super) const HOSTNAME: u32 = 4;
    /// `repeated Resource resources = 5;`
    pub(super) const RESOURCES: u32 = 5;
    /// `repeated Attribute attributes = 7;`
    pub(super) const ATTRIBUTES: u32 = 7;
    /// `optional Unavailability unavailability = 9;`
    pub(super) const UNAVAILABILITY: u32 = 9;
    /// `optional Resource.AllocationInfo allocation_info = 10;`
    pub(super) const ALLOCATION_INFO: u32 = 10;
    /// `optional DomainInfo domain = 11;`
    pub(super) const DOMAIN: u32 = 11;
}

/// `mesos.v1.Resource`.
mod resource {
    /// `required string name = 1;`
    pub(super) const NAME: u32 = 1;
    /// `required Value.Type type = 2;`
    pub(super) const TYPE: u32 = 2;
    /// `optional Value.Scalar scalar = 3;`
    pub(super) const SCALAR: u32 = 3;
    /// `optional Value.Ranges ranges = 4;`
    pub(super) const RANGES: u32 = 4;
    /// `optional Value.Set set = 5;`
    pub(super) const SET: u32 = 5;
    /// `optional string role = 6 [default = "*", deprecated = true];`
    pub(super) const ROLE: u32 = 6;
    /// `optional DiskInfo disk = 7;`
    pub(super) const DISK: u32 = 7;
    /// `optional RevocableInfo revocable = 9;`
    pub(super) const REVOCABLE: u32 = 9;
    /// `optional AllocationInfo allocation_info = 11;`
    pub(super) const ALLOCATION_INFO: u32 = 11;
    /// `repeated ReservationInfo reservations = 13;`
    pub(super) const RESERVATIONS: u32 = 13;
}

/// `mesos.v1.Resource.AllocationInfo`.
mod allocation_info {
    /// `optional string role = 1;`
    pub(super) const ROLE: u32 = 1;
}

/// `mesos.v1.Resource.ReservationInfo`.
mod reservation_info {
    /// `optional string role = 3;`
    pub(super) const ROLE: u32 = 3;
}

/// `mesos.v1.Resource.DiskInfo`.
mod disk_info {
    /// `optional Persistence persistence = 1;`
    pub(super) const PERSISTENCE: u32 = 1;
    /// `optional Source source = 3;`
    pub(super) const SOURCE: u32 = 3;
}

/// `mesos.v1.Resource.DiskInfo.Persistence`.
mod persistence {
    /// `required string id = 1;`
    pub(super) const ID: u32 = 1;
}

/// `mesos.v1.Attribute` (note: `text` is 5 and `set` is 6, unlike `Resource`).
mod attribute {
    /// `required string name = 1;`
    pub(super) const NAME: u32 = 1;
    /// `required Value.Type type = 2;`
    pub(super) const TYPE: u32 = 2;
    /// `optional Value.Scalar scalar = 3;`
    pub(super) const SCALAR: u32 = 3;
    /// `optional Value.Ranges ranges = 4;`
    pub(super) const RANGES: u32 = 4;
    /// `optional Value.Text text = 5;`
    pub(super) const TEXT: u32 = 5;
    /// `optional Value.Set set = 6;`
    pub(super) const SET: u32 = 6;
}

/// `mesos.v1.Value.Scalar`, `.Ranges`, `.Range`, `.Set`, `.Text`.
mod value {
    /// `Value.Scalar`: `required double value = 1;`
    pub(super) const SCALAR_VALUE: u32 = 1;
    /// `Value.Ranges`: `repeated Range range = 1;`
    pub(super) const RANGES_RANGE: u32 = 1;
    /// `Value.Range`: `required uint64 begin = 1;`
    pub(super) const RANGE_BEGIN: u32 = 1;
    /// `Value.Range`: `required uint64 end = 2;`
    pub(super) const RANGE_END: u32 = 2;
    /// `Value.Set`: `repeated string item = 1;`
    pub(super) const SET_ITEM: u32 = 1;
    /// `Value.Text`: `required string value = 1;`
    pub(super) const TEXT_VALUE: u32 = 1;
}

/// A varint is at most 10 bytes: 64 bits in 7-bit groups.
const MAX_VARINT_LEN: usize = 10;

/// How deeply unknown groups (deprecated wire types 3/4) may nest before the
/// reader gives up. Skipping a group recurses, so this bounds stack use on
/// hostile input; prost's own limit is 100 levels of any nesting.
pub const MAX_GROUP_DEPTH: u32 = 64;

/// The role of an unreserved resource (`Resource.role`'s declared default).
const UNRESERVED_ROLE: &str = "*";

// ---------------------------------------------------------------------------
// Errors.

/// Why a buffer could not be read as (the part the view reads of) a Mesos
/// scheduler event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ViewError {
    /// The input ended inside a field: in a key, a varint, a fixed-width value,
    /// or a length-delimited payload longer than the bytes left.
    Truncated,
    /// A varint ran past 10 bytes, or its 10th byte carried bits beyond 64.
    VarintOverflow,
    /// A key had field number 0 or did not fit in 32 bits (as prost).
    InvalidKey(u64),
    /// A key had wire type 6 or 7, which protobuf does not define.
    InvalidWireType(u8),
    /// A field the view reads arrived with a wire type its declaration does
    /// not allow (`field` is `Message.field`).
    BadWireType {
        /// The field, as `Message.field`.
        field: &'static str,
        /// The wire type found (0..=5).
        wire_type: u8,
    },
    /// A `string` field the view reads is not valid UTF-8.
    InvalidUtf8 {
        /// The field, as `Message.field`.
        field: &'static str,
    },
    /// A required field the view needs is absent.
    MissingField(&'static str),
    /// A sub-message the view hands to prost (`Offer.unavailability`)
    /// did not decode.
    Malformed(&'static str),
    /// An end-group key without a matching start-group key.
    UnmatchedEndGroup,
    /// Unknown groups nested deeper than [`MAX_GROUP_DEPTH`].
    GroupTooDeep,
}

impl fmt::Display for ViewError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ViewError::Truncated => f.write_str("protobuf input truncated inside a field"),
            ViewError::VarintOverflow => f.write_str("protobuf varint longer than 64 bits"),
            ViewError::InvalidKey(key) => write!(f, "invalid protobuf key {key}"),
            ViewError::InvalidWireType(wt) => write!(f, "invalid protobuf wire type {wt}"),
            ViewError::BadWireType { field, wire_type } => {
                write!(f, "field {field} has unexpected wire type {wire_type}")
            }
            ViewError::InvalidUtf8 { field } => write!(f, "field {field} is not valid UTF-8"),
            ViewError::MissingField(field) => write!(f, "required field {field} is missing"),
            ViewError::Malformed(field) => write!(f, "field {field} does not decode"),
            ViewError::UnmatchedEndGroup => {
                f.write_str("protobuf end-group without matching start")
            }
            ViewError::GroupTooDeep => {
                write!(f, "protobuf groups nested deeper than {MAX_GROUP_DEPTH}")
            }
        }
    }
}

impl std::error::Error for ViewError {}

// ---------------------------------------------------------------------------
// Wire reader.

const WT_VARINT: u8 = 0;
const WT_FIXED64: u8 = 1;
const WT_LEN: u8 = 2;
const WT_START_GROUP: u8 = 3;
const WT_END_GROUP: u8 = 4;
const WT_FIXED32: u8 = 5;

/// One decoded field value. Groups are skipped while reading and leave only
/// their marker, so a caller can still report a wrong wire type.
#[derive(Clone, Copy, Debug)]
enum FieldValue<'a> {
    Varint,
    Fixed64,
    Len(&'a [u8]),
    Group,
    Fixed32,
}

impl<'a> FieldValue<'a> {
    fn wire_type(self) -> u8 {
        match self {
            FieldValue::Varint => WT_VARINT,
            FieldValue::Fixed64 => WT_FIXED64,
            FieldValue::Len(_) => WT_LEN,
            FieldValue::Group => WT_START_GROUP,
            FieldValue::Fixed32 => WT_FIXED32,
        }
    }

    fn bad(self, field: &'static str) -> ViewError {
        ViewError::BadWireType {
            field,
            wire_type: self.wire_type(),
        }
    }

    /// The payload of a length-delimited field (string, bytes, message).
    #[inline]
    fn len(self, field: &'static str) -> Result<&'a [u8], ViewError> {
        match self {
            FieldValue::Len(b) => Ok(b),
            other => Err(other.bad(field)),
        }
    }

    /// A `string` field, UTF-8 checked.
    #[inline]
    fn string(self, field: &'static str) -> Result<&'a str, ViewError> {
        utf8(self.len(field)?, field)
    }
}

#[inline]
fn utf8<'a>(bytes: &'a [u8], field: &'static str) -> Result<&'a str, ViewError> {
    std::str::from_utf8(bytes).map_err(|_| ViewError::InvalidUtf8 { field })
}

/// A resource name the matcher knows by name, as a constant: the same
/// contents as the bytes, without a UTF-8 check.
#[inline]
fn known_name(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        b"cpus" => Some("cpus"),
        b"mem" => Some("mem"),
        b"disk" => Some("disk"),
        b"ports" => Some("ports"),
        b"gpus" => Some("gpus"),
        _ => None,
    }
}

/// The raw tag of field `field` with wire type `wire_type`, as
/// [`Cursor::read_tag`] returns it.
const fn tag(field: u32, wire_type: u8) -> u64 {
    ((field as u64) << 3) | wire_type as u64
}

/// The error for field `name` arriving with the wire type of `tag`.
#[cold]
#[inline(never)]
fn bad_wire_type(name: &'static str, tag: u64) -> ViewError {
    ViewError::BadWireType {
        field: name,
        // The mask keeps 3 bits, which always fit in a u8.
        wire_type: (tag & 7) as u8,
    }
}

/// Reads fields from the front of a message's bytes.
#[derive(Clone, Copy)]
struct Cursor<'a> {
    rest: &'a [u8],
}

impl fmt::Debug for Cursor<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cursor")
            .field("remaining", &self.rest.len())
            .finish()
    }
}

impl<'a> Cursor<'a> {
    #[inline]
    fn new(buf: &'a [u8]) -> Self {
        Cursor { rest: buf }
    }

    #[inline]
    fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Makes every later read see the end of input (used to fuse iterators).
    #[inline]
    fn finish(&mut self) {
        self.rest = &[];
    }

    #[inline(always)]
    fn read_varint(&mut self) -> Result<u64, ViewError> {
        // Fast paths: keys, lengths and small values are one byte; lengths
        // of offers and port numbers are two or three.
        match *self.rest {
            [b0, ref rest @ ..] if b0 < 0x80 => {
                self.rest = rest;
                Ok(u64::from(b0))
            }
            [b0, b1, ref rest @ ..] if b1 < 0x80 => {
                self.rest = rest;
                Ok(u64::from(b0 & 0x7f) | (u64::from(b1) << 7))
            }
            [b0, b1, b2, ref rest @ ..] if b2 < 0x80 => {
                self.rest = rest;
                Ok(u64::from(b0 & 0x7f) | (u64::from(b1 & 0x7f) << 7) | (u64::from(b2) << 14))
            }
            _ => {
                // Out of line and by value, so that the cursor stays in
                // registers in the scans that inline this.
                let (value, rest) = varint_slow(self.rest)?;
                self.rest = rest;
                Ok(value)
            }
        }
    }

    /// Skips the value of any field, given its raw tag.
    #[inline(always)]
    fn skip_value(&mut self, tag: u64) -> Result<(), ViewError> {
        self.skip_unread(tag, 0, |_| "")
    }

    /// Reads a key as its raw tag, `field << 3 | wire_type`: one compare
    /// against a constant [`tag`] then checks field and wire type at once.
    /// The field number is checked (non-zero, fits in 32 bits) as in
    /// [`Cursor::read_key`].
    #[inline(always)]
    fn read_tag(&mut self) -> Result<u64, ViewError> {
        if let [b, ref rest @ ..] = *self.rest
            && (8..0x80).contains(&b)
        {
            self.rest = rest;
            return Ok(u64::from(b));
        }
        let (tag, rest) = tag_slow(self.rest)?;
        self.rest = rest;
        Ok(tag)
    }

    /// Skips the value of a field the caller does not read, given its raw
    /// tag; `reads` has bit `n` set for every field number `n` the caller
    /// does read (so a tag that reached here with such a field number has
    /// the wrong wire type: [`ViewError::BadWireType`], named by `names`).
    /// The value is read first, as [`Cursor::next_field`] would, so a
    /// truncated value reports [`ViewError::Truncated`] either way.
    #[inline(always)]
    fn skip_unread(
        &mut self,
        tag: u64,
        reads: u32,
        names: impl FnOnce(u64) -> &'static str,
    ) -> Result<(), ViewError> {
        match (tag & 7) as u8 {
            WT_LEN => {
                self.read_len()?;
            }
            WT_VARINT => {
                self.read_varint()?;
            }
            WT_FIXED64 => {
                self.read_fixed::<8>()?;
            }
            wire_type => {
                // A tag that came through `read_tag` has a field that fits
                // in 32 bits.
                self.rest = value_slow(self.rest, (tag >> 3) as u32, wire_type)?;
            }
        }
        let field = tag >> 3;
        if field < 32 && reads & (1 << field) != 0 {
            return Err(bad_wire_type(names(field), tag));
        }
        Ok(())
    }

    /// Reads a key: field number and wire type.
    #[inline]
    fn read_key(&mut self) -> Result<(u32, u8), ViewError> {
        let key = self.read_varint()?;
        // As prost: a key must fit in 32 bits (field numbers below 2^29).
        if key > u64::from(u32::MAX) {
            return Err(ViewError::InvalidKey(key));
        }
        let field = (key >> 3) as u32;
        if field == 0 {
            return Err(ViewError::InvalidKey(key));
        }
        // The mask keeps 3 bits, which always fit in a u8.
        let wire_type = (key & 7) as u8;
        Ok((field, wire_type))
    }

    #[inline]
    fn read_len(&mut self) -> Result<&'a [u8], ViewError> {
        let len = self.read_varint()?;
        let len = usize::try_from(len).map_err(|_| ViewError::Truncated)?;
        let (payload, rest) = self
            .rest
            .split_at_checked(len)
            .ok_or(ViewError::Truncated)?;
        self.rest = rest;
        Ok(payload)
    }

    #[inline]
    fn read_fixed<const N: usize>(&mut self) -> Result<[u8; N], ViewError> {
        let (bytes, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(ViewError::Truncated)?;
        self.rest = rest;
        Ok(*bytes)
    }

    /// Reads the value of a field whose key has been read. Kept out of line:
    /// the hot wire types are handled in [`Cursor::next_field`].
    #[inline(never)]
    fn read_value(
        &mut self,
        field: u32,
        wire_type: u8,
        depth: u32,
    ) -> Result<FieldValue<'a>, ViewError> {
        match wire_type {
            WT_VARINT => self.read_varint().map(|_| FieldValue::Varint),
            WT_FIXED64 => self.read_fixed::<8>().map(|_| FieldValue::Fixed64),
            WT_LEN => self.read_len().map(FieldValue::Len),
            WT_FIXED32 => self.read_fixed::<4>().map(|_| FieldValue::Fixed32),
            WT_START_GROUP => self
                .skip_group(field, depth + 1)
                .map(|()| FieldValue::Group),
            WT_END_GROUP => Err(ViewError::UnmatchedEndGroup),
            other => Err(ViewError::InvalidWireType(other)),
        }
    }

    /// Skips the body of group `field` up to and including its end-group key.
    #[cold]
    fn skip_group(&mut self, field: u32, depth: u32) -> Result<(), ViewError> {
        if depth > MAX_GROUP_DEPTH {
            return Err(ViewError::GroupTooDeep);
        }
        loop {
            if self.rest.is_empty() {
                return Err(ViewError::Truncated);
            }
            let (inner, wire_type) = self.read_key()?;
            if wire_type == WT_END_GROUP {
                return if inner == field {
                    Ok(())
                } else {
                    Err(ViewError::UnmatchedEndGroup)
                };
            }
            self.read_value(inner, wire_type, depth)?;
        }
    }

    /// The next field, or `None` at the end of the message.
    #[inline(always)]
    fn next_field(&mut self) -> Result<Option<(u32, FieldValue<'a>)>, ViewError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let (field, wire_type) = self.read_key()?;
        // Messages, strings, varints and doubles are all the view reads;
        // everything else (fixed32, groups, errors) takes the slow path.
        let value = match wire_type {
            WT_LEN => FieldValue::Len(self.read_len()?),
            WT_VARINT => {
                self.read_varint()?;
                FieldValue::Varint
            }
            WT_FIXED64 => {
                self.read_fixed::<8>()?;
                FieldValue::Fixed64
            }
            _ => self.read_value(field, wire_type, 0)?,
        };
        Ok(Some((field, value)))
    }
}

/// A varint that is not one of [`Cursor::read_varint`]'s short fast
/// paths: the value and the bytes after it. Out of line and by value (no
/// `&mut` cursor escapes), so callers keep their cursor in registers.
#[inline(never)]
fn varint_slow(buf: &[u8]) -> Result<(u64, &[u8]), ViewError> {
    let mut value = 0u64;
    for i in 0..MAX_VARINT_LEN {
        let Some(&b) = buf.get(i) else {
            return Err(ViewError::Truncated);
        };
        value |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            // The 10th byte holds only bit 63; anything more overflows.
            if i == MAX_VARINT_LEN - 1 && b > 1 {
                return Err(ViewError::VarintOverflow);
            }
            let (_, rest) = buf.split_at_checked(i + 1).ok_or(ViewError::Truncated)?;
            return Ok((value, rest));
        }
    }
    Err(ViewError::VarintOverflow)
}

/// A key that is not one byte, as [`Cursor::read_tag`] returns it, and the
/// bytes after it (checked as [`Cursor::read_key`] does).
#[inline(never)]
fn tag_slow(buf: &[u8]) -> Result<(u64, &[u8]), ViewError> {
    let mut cur = Cursor::new(buf);
    let (field, wire_type) = cur.read_key()?;
    Ok(((u64::from(field) << 3) | u64::from(wire_type), cur.rest))
}

/// Skips the value of a field with a wire type the fast paths do not
/// handle (fixed32, groups, errors): the bytes after it.
#[inline(never)]
fn value_slow(buf: &[u8], field: u32, wire_type: u8) -> Result<&[u8], ViewError> {
    let mut cur = Cursor::new(buf);
    cur.read_value(field, wire_type, 0)?;
    Ok(cur.rest)
}

/// One field of a scan, as [`fast_field`] / [`slow_field`] find it: its raw
/// tag; for a length-delimited field the payload's bounds `start..end` in
/// the scanned buffer, for any other field `start == end` = where the field
/// ends and, for a varint, its value in `varint`.
#[derive(Clone, Copy)]
struct Field {
    tag: u64,
    start: usize,
    end: usize,
    varint: u64,
}

/// The field at `buf[i..]` when it takes the common shape: a one-byte key,
/// then either a one- or two-byte length whose payload fits in `buf`, or a
/// one-byte varint. `None` for anything else (longer keys and lengths,
/// other wire types, truncation, malformed keys), which [`slow_field`]
/// reads exactly as [`Cursor`] does. Works on plain indices, so that a
/// scan keeps its state in registers.
#[inline(always)]
fn fast_field(buf: &[u8], i: usize) -> Option<Field> {
    let t = *buf.get(i)?;
    // A one-byte key with field number >= 1.
    if !(8..0x80).contains(&t) {
        return None;
    }
    let b0 = *buf.get(i + 1)?;
    match t & 7 {
        WT_LEN => {
            let (len, start) = if b0 < 0x80 {
                (usize::from(b0), i + 2)
            } else {
                let b1 = *buf.get(i + 2)?;
                if b1 >= 0x80 {
                    return None;
                }
                (usize::from(b0 & 0x7f) | (usize::from(b1) << 7), i + 3)
            };
            // `start` is at most `buf.len() + 1` and `len` below 2^14: no
            // overflow.
            let end = start + len;
            if end > buf.len() {
                return None;
            }
            Some(Field {
                tag: u64::from(t),
                start,
                end,
                varint: 0,
            })
        }
        WT_VARINT if b0 < 0x80 => Some(Field {
            tag: u64::from(t),
            start: i + 2,
            end: i + 2,
            varint: u64::from(b0),
        }),
        _ => None,
    }
}

/// Any field at `buf[i..]` (`i <= buf.len()`), read with [`Cursor`]: the
/// same checks and errors as `read_tag` then `read_len` (length-delimited)
/// or `skip_value` (anything else; a varint's value is kept). Out of line
/// and by value.
#[inline(never)]
fn slow_field(buf: &[u8], i: usize) -> Result<Field, ViewError> {
    let rest = buf.get(i..).unwrap_or_default();
    let mut cur = Cursor::new(rest);
    let tag = cur.read_tag()?;
    let at = |cur: &Cursor<'_>| buf.len() - cur.remaining();
    match (tag & 7) as u8 {
        WT_LEN => {
            let payload = cur.read_len()?;
            let end = at(&cur);
            Ok(Field {
                tag,
                start: end - payload.len(),
                end,
                varint: 0,
            })
        }
        WT_VARINT => {
            let varint = cur.read_varint()?;
            let end = at(&cur);
            Ok(Field {
                tag,
                start: end,
                end,
                varint,
            })
        }
        _ => {
            cur.skip_value(tag)?;
            let end = at(&cur);
            Ok(Field {
                tag,
                start: end,
                end,
                varint: 0,
            })
        }
    }
}

/// The field at `buf[i..]`: [`fast_field`], else [`slow_field`].
#[inline(always)]
fn field_at(buf: &[u8], i: usize) -> Result<Field, ViewError> {
    match fast_field(buf, i) {
        Some(f) => Ok(f),
        None => slow_field(buf, i),
    }
}

/// The error for a field of a scanned message that the view reads
/// (`reads` has its bit) but that came with another wire type; `Ok` for a
/// field the view does not read (already skipped).
#[inline(always)]
fn check_unread(tag: u64, reads: u32, names: fn(u64) -> &'static str) -> Result<(), ViewError> {
    let field = tag >> 3;
    if field < 32 && reads & (1 << field) != 0 {
        return Err(bad_wire_type(names(field), tag));
    }
    Ok(())
}

/// Debug-formats what an iterator yields as a list (without consuming it).
struct DebugList<I>(I);

impl<I> fmt::Debug for DebugList<I>
where
    I: Iterator + Clone,
    I::Item: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.clone()).finish()
    }
}

/// Calls `f` for every field of `buf`, in order.
#[inline]
fn for_each_field<'a>(
    buf: &'a [u8],
    mut f: impl FnMut(u32, FieldValue<'a>) -> Result<(), ViewError>,
) -> Result<(), ViewError> {
    let mut cur = Cursor::new(buf);
    while let Some((field, value)) = cur.next_field()? {
        f(field, value)?;
    }
    Ok(())
}

/// The bytes from the first to the last occurrence of one repeated (or
/// merged) field in a message, recorded during a scan so that a lazy iterator
/// can re-walk just that part. In the usual case, one occurrence or a run of
/// consecutive ones, it holds nothing but those occurrences.
#[derive(Clone, Copy, Default)]
struct Span {
    start: Option<usize>,
    end: usize,
}

impl Span {
    #[inline]
    fn note(&mut self, start: usize, end: usize) {
        debug_assert!(start < end && end >= self.end, "span grows forward");
        if self.start.is_none() {
            self.start = Some(start);
        }
        self.end = end;
    }

    #[inline]
    fn slice(self, buf: &[u8]) -> &[u8] {
        self.start
            .and_then(|s| buf.get(s..self.end))
            .unwrap_or_default()
    }
}

/// Yields the payloads of every occurrence of one length-delimited field.
#[derive(Clone, Copy, Debug)]
struct LenFields<'a> {
    cur: Cursor<'a>,
    field: u32,
    name: &'static str,
}

impl<'a> LenFields<'a> {
    #[inline]
    fn new(buf: &'a [u8], field: u32, name: &'static str) -> Self {
        LenFields {
            cur: Cursor::new(buf),
            field,
            name,
        }
    }
}

impl<'a> Iterator for LenFields<'a> {
    type Item = Result<&'a [u8], ViewError>;

    // Always inlined, so that the iterating loop keeps the cursor in
    // registers.
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        let want = tag(self.field, WT_LEN);
        // The common case: the next field is the one wanted, in its common
        // shape.
        let rest = self.cur.rest;
        if let Some(f) = fast_field(rest, 0)
            && f.tag == want
            && let (Some(payload), Some(after)) = (rest.get(f.start..f.end), rest.get(f.end..))
        {
            self.cur.rest = after;
            return Some(Ok(payload));
        }
        while !self.cur.rest.is_empty() {
            let step = match self.cur.read_tag() {
                Ok(t) if t == want => self.cur.read_len().map(Some),
                Ok(other) => {
                    let field = self.field;
                    let name = self.name;
                    // Any other field is skipped; this one with another wire
                    // type is an error.
                    let skipped = self.cur.skip_value(other);
                    skipped.and_then(|()| {
                        if other >> 3 == u64::from(field) {
                            Err(bad_wire_type(name, other))
                        } else {
                            Ok(None)
                        }
                    })
                }
                Err(e) => Err(e),
            };
            match step {
                Ok(Some(payload)) => return Some(Ok(payload)),
                Ok(None) => {}
                Err(e) => {
                    self.cur.finish();
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

impl FusedIterator for LenFields<'_> {}

/// The payloads of every occurrence of one length-delimited field: all the
/// matching fields of a message, or one payload already found.
#[derive(Clone, Copy, Debug)]
enum Occurrences<'a> {
    /// The one occurrence (`None` once yielded, or for an absent field).
    One(Option<&'a [u8]>),
    /// Every occurrence in a message.
    Many(LenFields<'a>),
}

impl<'a> Occurrences<'a> {
    /// No occurrence.
    const NONE: Occurrences<'static> = Occurrences::One(None);

    fn finish(&mut self) {
        match self {
            Occurrences::One(one) => *one = None,
            Occurrences::Many(fields) => fields.cur.finish(),
        }
    }
}

impl<'a> Iterator for Occurrences<'a> {
    type Item = Result<&'a [u8], ViewError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Occurrences::One(one) => one.take().map(Ok),
            Occurrences::Many(fields) => fields.next(),
        }
    }
}

impl FusedIterator for Occurrences<'_> {}

/// Yields the payloads of field `inner` inside every occurrence of a
/// message field: the merged view of a non-repeated sub-message's repeated
/// field.
#[derive(Clone, Copy, Debug)]
struct NestedLenFields<'a> {
    outer: Occurrences<'a>,
    inner: LenFields<'a>,
}

impl<'a> NestedLenFields<'a> {
    /// Field `inner` of every `outer` field of `span`.
    #[inline]
    fn new(span: &'a [u8], outer: (u32, &'static str), inner: (u32, &'static str)) -> Self {
        Self::over(
            Occurrences::Many(LenFields::new(span, outer.0, outer.1)),
            inner.0,
            inner.1,
        )
    }

    /// Field `inner` of every message `outer` yields.
    #[inline]
    fn over(outer: Occurrences<'a>, inner: u32, name: &'static str) -> Self {
        NestedLenFields {
            outer,
            inner: LenFields::new(&[], inner, name),
        }
    }

    fn finish(&mut self) {
        self.outer.finish();
        self.inner.cur.finish();
    }
}

impl<'a> Iterator for NestedLenFields<'a> {
    type Item = Result<&'a [u8], ViewError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.inner.next() {
                Some(Ok(payload)) => return Some(Ok(payload)),
                Some(Err(e)) => {
                    self.finish();
                    return Some(Err(e));
                }
                None => {}
            }
            match self.outer.next()? {
                Ok(message) => self.inner.cur = Cursor::new(message),
                Err(e) => {
                    self.finish();
                    return Some(Err(e));
                }
            }
        }
    }
}

impl FusedIterator for NestedLenFields<'_> {}

// ---------------------------------------------------------------------------
// Event.

/// `mesos.v1.scheduler.Event.Type`, with a catch-all for values this build
/// does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// `UNKNOWN = 0` (also what an event without `type` reads as, like
    /// prost's getter).
    Unknown,
    /// `SUBSCRIBED = 1`
    Subscribed,
    /// `OFFERS = 2`
    Offers,
    /// `RESCIND = 3`
    Rescind,
    /// `UPDATE = 4`
    Update,
    /// `MESSAGE = 5`
    Message,
    /// `FAILURE = 6`
    Failure,
    /// `ERROR = 7`
    Error,
    /// `HEARTBEAT = 8`
    Heartbeat,
    /// `INVERSE_OFFERS = 9`
    InverseOffers,
    /// `RESCIND_INVERSE_OFFER = 10`
    RescindInverseOffer,
    /// `UPDATE_OPERATION_STATUS = 11` (upstream Mesos, newer than the
    /// mesos-go reference copy).
    UpdateOperationStatus,
    /// Any other value (a newer master).
    Unrecognized(i32),
}

impl EventType {
    /// The enum for a wire value.
    pub fn from_i32(value: i32) -> Self {
        match value {
            0 => EventType::Unknown,
            1 => EventType::Subscribed,
            2 => EventType::Offers,
            3 => EventType::Rescind,
            4 => EventType::Update,
            5 => EventType::Message,
            6 => EventType::Failure,
            7 => EventType::Error,
            8 => EventType::Heartbeat,
            9 => EventType::InverseOffers,
            10 => EventType::RescindInverseOffer,
            11 => EventType::UpdateOperationStatus,
            other => EventType::Unrecognized(other),
        }
    }

    /// The wire value.
    pub fn as_i32(self) -> i32 {
        match self {
            EventType::Unknown => 0,
            EventType::Subscribed => 1,
            EventType::Offers => 2,
            EventType::Rescind => 3,
            EventType::Update => 4,
            EventType::Message => 5,
            EventType::Failure => 6,
            EventType::Error => 7,
            EventType::Heartbeat => 8,
            EventType::InverseOffers => 9,
            EventType::RescindInverseOffer => 10,
            EventType::UpdateOperationStatus => 11,
            EventType::Unrecognized(other) => other,
        }
    }
}

/// The type of an encoded `Event`, for a dispatcher that only needs to know
/// where to send it. Scans the top level like [`EventView::new`] (which is
/// cheap: sub-messages are skipped by length); an absent `type` reads as
/// [`EventType::Unknown`].
pub fn event_type(buf: &[u8]) -> Result<EventType, ViewError> {
    EventView::new(buf).map(|e| e.event_type())
}

/// A borrowed view of an encoded `mesos.v1.scheduler.Event`.
///
/// Building it scans the top level once; offers are read lazily through
/// [`EventView::offers`].
///
/// # Example
///
/// Summing the unreserved cpus of an OFFERS event:
///
/// ```
/// use prost::Message;
/// use tritium_proto::view::{EventType, EventView, ViewError};
/// use tritium_proto::{scheduler, v1};
///
/// fn cpus(name: &str, value: f64) -> v1::Resource {
///     v1::Resource {
///         name: name.into(),
///         r#type: v1::value::Type::Scalar as i32,
///         scalar: Some(v1::value::Scalar { value }),
///         ..Default::default()
///     }
/// }
/// let offer = |id: &str, cpu: f64| v1::Offer {
///     id: v1::OfferId { value: id.into() },
///     framework_id: v1::FrameworkId { value: "fw".into() },
///     agent_id: v1::AgentId { value: format!("agent-{id}") },
///     hostname: format!("{id}.example"),
///     resources: vec![cpus("cpus", cpu), cpus("mem", 1024.0)],
///     ..Default::default()
/// };
/// let bytes = scheduler::Event {
///     r#type: Some(scheduler::event::Type::Offers as i32),
///     offers: Some(scheduler::event::Offers {
///         offers: vec![offer("o1", 2.0), offer("o2", 1.5)],
///     }),
///     ..Default::default()
/// }
/// .encode_to_vec();
///
/// let event = EventView::new(&bytes)?;
/// assert_eq!(event.event_type(), EventType::Offers);
/// let mut total = 0.0;
/// for offer in event.offers() {
///     let offer = offer?;
///     for resource in offer.resources() {
///         let resource = resource?;
///         if resource.name()? == "cpus" && !resource.is_reserved()? {
///             total += resource.scalar()?.unwrap_or(0.0);
///         }
///     }
/// }
/// assert_eq!(total, 3.5);
/// # Ok::<(), ViewError>(())
/// ```
#[derive(Clone, Copy)]
pub struct EventView<'a> {
    buf: &'a [u8],
    type_raw: Option<i32>,
    offers: &'a [u8],
}

impl fmt::Debug for EventView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventView")
            .field("len", &self.buf.len())
            .field("type", &self.type_raw)
            .field("offers_bytes", &self.offers.len())
            .finish()
    }
}

impl<'a> EventView<'a> {
    /// Scans the top level of an encoded `Event`: checks its framing and
    /// records `type` (last occurrence wins) and where `offers` is. Nothing
    /// inside sub-messages is read yet.
    pub fn new(buf: &'a [u8]) -> Result<Self, ViewError> {
        const TYPE: u64 = tag(event::TYPE, WT_VARINT);
        const OFFERS: u64 = tag(event::OFFERS, WT_LEN);
        const READS: u32 = (1 << event::TYPE) | (1 << event::OFFERS);
        fn names(field: u64) -> &'static str {
            if field == u64::from(event::TYPE) {
                "Event.type"
            } else {
                "Event.offers"
            }
        }
        let mut type_raw = None;
        let mut offers = Span::default();
        let mut cur = Cursor::new(buf);
        while !cur.rest.is_empty() {
            let start = buf.len() - cur.remaining();
            match cur.read_tag()? {
                // Truncation is the protobuf rule for an enum read from a
                // varint.
                TYPE => type_raw = Some(cur.read_varint()? as i32),
                OFFERS => {
                    cur.read_len()?;
                    offers.note(start, buf.len() - cur.remaining());
                }
                other => cur.skip_unread(other, READS, names)?,
            }
        }
        Ok(EventView {
            buf,
            type_raw,
            offers: offers.slice(buf),
        })
    }

    /// The event type; an absent `type` reads as [`EventType::Unknown`].
    pub fn event_type(&self) -> EventType {
        EventType::from_i32(self.type_raw.unwrap_or(0))
    }

    /// The raw `type` value, `None` if the field is absent.
    pub fn event_type_raw(&self) -> Option<i32> {
        self.type_raw
    }

    /// Whether the event has an `offers` field at all (whatever its type
    /// says, like prost).
    pub fn has_offers(&self) -> bool {
        !self.offers.is_empty()
    }

    /// The offers of `Event.offers`, in order (of all occurrences of the
    /// field, as prost merges them). Empty when the field is absent. Each
    /// offer is pre-scanned when yielded; the iterator stops after its first
    /// error.
    pub fn offers(&self) -> OffersIter<'a> {
        OffersIter {
            inner: self.offer_records(),
        }
    }

    /// Each offer's bytes in `Event.offers`, framing checked as they are
    /// yielded (what [`offers`](Self::offers) and `offer_ids` read).
    fn offer_records(&self) -> NestedLenFields<'a> {
        NestedLenFields::new(
            self.offers,
            (event::OFFERS, "Event.offers"),
            (event_offers::OFFERS, "Event.Offers.offers"),
        )
    }

    /// How many offers [`EventView::offers`] yields, counted from their
    /// framing alone (no offer is scanned): what a caller that must answer
    /// every offer checks its answers against. A framing error ends the
    /// count and counts as one, as `offers` yields it.
    pub fn offer_count(&self) -> usize {
        NestedLenFields::new(
            self.offers,
            (event::OFFERS, "Event.offers"),
            (event_offers::OFFERS, "Event.Offers.offers"),
        )
        .count()
    }

    /// The bytes this view reads.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Reads everything the view exposes once (every offer, resource and
    /// attribute, and every accessor of each: [`OfferView::validate`]), so
    /// that errors the lazy iterators and accessors would report late are
    /// reported now. For callers that must accept or reject the event as a
    /// whole: after `Ok`, nothing the view yields of this event fails.
    pub fn validate(&self) -> Result<(), ViewError> {
        for offer in self.offers() {
            offer?.validate()?;
        }
        Ok(())
    }
}

/// Iterator over the offers of an event; see [`EventView::offers`].
#[derive(Clone, Debug)]
pub struct OffersIter<'a> {
    inner: NestedLenFields<'a>,
}

impl<'a> Iterator for OffersIter<'a> {
    type Item = Result<OfferView<'a>, ViewError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let offer = self.inner.next()?.and_then(OfferView::new);
        if offer.is_err() {
            self.inner.finish();
        }
        Some(offer)
    }
}

impl FusedIterator for OffersIter<'_> {}

// ---------------------------------------------------------------------------
// Occurrences of a field, as a scan records them.

/// The bit of field number `field` in a `seen` / `many` mask (fields the
/// views record all have numbers below 32).
const fn bit(field: u32) -> u32 {
    1 << field
}

/// Notes one occurrence of the field with bit `b` in a scan's masks: `seen`
/// gets the bit, and `many` too if it was seen before.
#[inline(always)]
fn note(seen: &mut u32, many: &mut u32, b: u32) {
    *many |= *seen & b;
    *seen |= b;
}

/// The payloads of every occurrence of length-delimited field `field` of
/// `buf` (a message whose framing was checked), or just `last` when the
/// field occurred once: what a merged sub-message or a repeated string is
/// read from.
#[inline]
fn occurrences<'a>(
    buf: &'a [u8],
    last: &'a [u8],
    many: bool,
    field: u32,
    name: &'static str,
) -> Occurrences<'a> {
    if many {
        Occurrences::Many(LenFields::new(buf, field, name))
    } else {
        Occurrences::One(Some(last))
    }
}

/// A `string` field that may occur more than once: every occurrence is
/// UTF-8 checked (prost decodes each), the last one wins.
#[inline]
fn last_string<'a>(
    buf: &'a [u8],
    last: &'a [u8],
    many: bool,
    field: u32,
    name: &'static str,
) -> Result<&'a str, ViewError> {
    if !many {
        return utf8(last, name);
    }
    let mut out = "";
    for s in LenFields::new(buf, field, name) {
        out = utf8(s?, name)?;
    }
    Ok(out)
}

/// Checks the framing of every field of an encoded message (groups
/// included) without reading any: what prost checks of a message whose
/// fields it does not know.
fn check_framing(message: &[u8]) -> Result<(), ViewError> {
    let mut cur = Cursor::new(message);
    while cur.next_field()?.is_some() {}
    Ok(())
}

/// Merges one occurrence of a message with one `string` field `field` (an
/// `OfferID`, `AgentID`, `FrameworkID`, `AllocationInfo`, ...) into `out`:
/// every occurrence of the string is UTF-8 checked, the last one wins, and
/// other fields are only framing-checked. `out` stays as it is when this
/// occurrence has no such string.
#[inline]
fn merge_string_message<'a>(
    message: &'a [u8],
    field: u32,
    out: &mut Option<&'a str>,
    name: &'static str,
) -> Result<(), ViewError> {
    let want = tag(field, WT_LEN);
    if let Some(bytes) = only_short_string(message, want) {
        *out = Some(utf8(bytes, name)?);
        return Ok(());
    }
    let mut cur = Cursor::new(message);
    while !cur.rest.is_empty() {
        let t = cur.read_tag()?;
        if t == want {
            *out = Some(utf8(cur.read_len()?, name)?);
        } else {
            cur.skip_unread(t, bit(field), |_| name)?;
        }
    }
    Ok(())
}

/// The string field `field` of a (possibly merged) sub-message given by its
/// occurrences: `None` when no occurrence holds it.
#[inline]
fn merged_string<'a>(
    occurrences: Occurrences<'a>,
    field: u32,
    name: &'static str,
) -> Result<Option<&'a str>, ViewError> {
    let mut out = None;
    for m in occurrences {
        merge_string_message(m?, field, &mut out, name)?;
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Offer.

/// A borrowed view of one `mesos.v1.Offer`.
///
/// Building it scans the offer's own fields once, checking their framing
/// and noting where each field the view reads is; nothing inside them is
/// read until an accessor asks, and each accessor checks what it reads
/// (see the module documentation).
#[derive(Clone, Copy)]
pub struct OfferView<'a> {
    buf: &'a [u8],
    /// Fields seen (bit per field number), and those seen more than once.
    seen: u32,
    many: u32,
    /// The payload of the last occurrence of each field read on demand.
    id: &'a [u8],
    framework_id: &'a [u8],
    agent_id: &'a [u8],
    hostname: &'a [u8],
    allocation_info: &'a [u8],
    /// From the first to the last occurrence of `resources`,
    /// `attributes` and `domain` (keys included; empty when absent).
    resources: &'a [u8],
    attributes: &'a [u8],
    domain: &'a [u8],
}

impl fmt::Debug for OfferView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OfferView")
            .field("id", &self.id())
            .field("framework_id", &self.framework_id())
            .field("agent_id", &self.agent_id())
            .field("hostname", &self.hostname())
            .field("allocation_role", &self.allocation_role())
            .field("resources", &DebugList(self.resources()))
            .field("attributes", &DebugList(self.attributes()))
            .finish()
    }
}

/// The string of a message that holds nothing but field `tag` (one-byte
/// key, length under 128): how encoders write ids and roles. `None` for
/// anything else, which the caller reads field by field.
#[inline(always)]
fn only_short_string(message: &[u8], tag: u64) -> Option<&[u8]> {
    match *message {
        [key, len, ref bytes @ ..]
            if u64::from(key) == tag && len < 0x80 && usize::from(len) == bytes.len() =>
        {
            Some(bytes)
        }
        _ => None,
    }
}

/// The fields of an `Offer` the view reads (all length-delimited):
/// [`OfferView::new`] and the ids-only reader check their wire types.
const OFFER_READS: u32 = bit(offer::ID)
    | bit(offer::FRAMEWORK_ID)
    | bit(offer::AGENT_ID)
    | bit(offer::HOSTNAME)
    | bit(offer::RESOURCES)
    | bit(offer::ATTRIBUTES)
    | bit(offer::UNAVAILABILITY)
    | bit(offer::ALLOCATION_INFO)
    | bit(offer::DOMAIN);

/// From the first occurrence's key (`first`, `usize::MAX` if none) to `end`.
#[inline]
fn span_of(buf: &[u8], first: usize, end: usize) -> &[u8] {
    buf.get(first..end).unwrap_or_default()
}

impl<'a> OfferView<'a> {
    /// Scans an encoded `Offer`: checks the framing of its fields and the
    /// wire types of those the view reads, and that `id`, `agent_id` and
    /// `hostname` are present.
    pub fn new(buf: &'a [u8]) -> Result<Self, ViewError> {
        const ID: u64 = tag(offer::ID, WT_LEN);
        const FRAMEWORK_ID: u64 = tag(offer::FRAMEWORK_ID, WT_LEN);
        const AGENT_ID: u64 = tag(offer::AGENT_ID, WT_LEN);
        const HOSTNAME: u64 = tag(offer::HOSTNAME, WT_LEN);
        const RESOURCES: u64 = tag(offer::RESOURCES, WT_LEN);
        const ATTRIBUTES: u64 = tag(offer::ATTRIBUTES, WT_LEN);
        const UNAVAILABILITY: u64 = tag(offer::UNAVAILABILITY, WT_LEN);
        const ALLOCATION_INFO: u64 = tag(offer::ALLOCATION_INFO, WT_LEN);
        const DOMAIN: u64 = tag(offer::DOMAIN, WT_LEN);
        const READS: u32 = OFFER_READS;
        fn names(field: u64) -> &'static str {
            match field as u32 {
                offer::ID => "Offer.id",
                offer::FRAMEWORK_ID => "Offer.framework_id",
                offer::AGENT_ID => "Offer.agent_id",
                offer::HOSTNAME => "Offer.hostname",
                offer::RESOURCES => "Offer.resources",
                offer::ATTRIBUTES => "Offer.attributes",
                offer::UNAVAILABILITY => "Offer.unavailability",
                offer::ALLOCATION_INFO => "Offer.allocation_info",
                _ => "Offer.domain",
            }
        }
        let (mut seen, mut many) = (0, 0);
        // Payload bounds of the last occurrence of each field read on
        // demand, and from the first key to the last end of the repeated
        // ones; plain indices, so the loop keeps them in registers or in
        // its own frame.
        let (mut id, mut framework_id, mut agent_id) = ((0, 0), (0, 0), (0, 0));
        let (mut hostname, mut allocation_info) = ((0, 0), (0, 0));
        let (mut res_first, mut res_end) = (usize::MAX, 0);
        let (mut attr_first, mut attr_end) = (usize::MAX, 0);
        let (mut dom_first, mut dom_end) = (usize::MAX, 0);
        let mut i = 0;
        while i < buf.len() {
            let start = i;
            let f = field_at(buf, i)?;
            i = f.end;
            match f.tag {
                RESOURCES => {
                    res_first = res_first.min(start);
                    res_end = f.end;
                }
                ATTRIBUTES => {
                    attr_first = attr_first.min(start);
                    attr_end = f.end;
                }
                ID => {
                    id = (f.start, f.end);
                    note(&mut seen, &mut many, bit(offer::ID));
                }
                FRAMEWORK_ID => {
                    framework_id = (f.start, f.end);
                    note(&mut seen, &mut many, bit(offer::FRAMEWORK_ID));
                }
                AGENT_ID => {
                    agent_id = (f.start, f.end);
                    note(&mut seen, &mut many, bit(offer::AGENT_ID));
                }
                HOSTNAME => {
                    hostname = (f.start, f.end);
                    note(&mut seen, &mut many, bit(offer::HOSTNAME));
                }
                ALLOCATION_INFO => {
                    allocation_info = (f.start, f.end);
                    note(&mut seen, &mut many, bit(offer::ALLOCATION_INFO));
                }
                UNAVAILABILITY => {
                    note(&mut seen, &mut many, bit(offer::UNAVAILABILITY));
                }
                DOMAIN => {
                    dom_first = dom_first.min(start);
                    dom_end = f.end;
                }
                other => check_unread(other, READS, names)?,
            }
        }
        let at = |(s, e): (usize, usize)| buf.get(s..e).unwrap_or_default();
        let (id, framework_id, agent_id) = (at(id), at(framework_id), at(agent_id));
        let (hostname, allocation_info) = (at(hostname), at(allocation_info));
        if seen & bit(offer::ID) == 0 {
            return Err(ViewError::MissingField("Offer.id"));
        }
        if seen & bit(offer::AGENT_ID) == 0 {
            return Err(ViewError::MissingField("Offer.agent_id"));
        }
        if seen & bit(offer::HOSTNAME) == 0 {
            return Err(ViewError::MissingField("Offer.hostname"));
        }
        Ok(OfferView {
            buf,
            seen,
            many,
            id,
            framework_id,
            agent_id,
            hostname,
            allocation_info,
            resources: span_of(buf, res_first, res_end),
            attributes: span_of(buf, attr_first, attr_end),
            domain: span_of(buf, dom_first, dom_end),
        })
    }

    fn many(&self, field: u32) -> bool {
        self.many & bit(field) != 0
    }

    /// `value` of the id message `field` (merged over its occurrences).
    fn id_value(
        &self,
        field: u32,
        last: &'a [u8],
        name: &'static str,
    ) -> Result<&'a str, ViewError> {
        if !self.many(field)
            && let Some(bytes) = only_short_string(last, tag(id::VALUE, WT_LEN))
        {
            return utf8(bytes, name);
        }
        let all = occurrences(self.buf, last, self.many(field), field, name);
        // prost's default for the required `value`: "".
        Ok(merged_string(all, id::VALUE, name)?.unwrap_or(""))
    }

    /// `Offer.domain.fault_domain` as `(region, zone)` names: where the
    /// agent is (Mesos 1.5 and later, when the agent is configured with a
    /// fault domain). `None` without a domain or a fault domain; a fault
    /// domain missing its region or zone reads as an empty name.
    ///
    /// # Errors
    ///
    /// The field does not decode, or a name is not UTF-8.
    pub fn domain(&self) -> Result<Option<(&'a str, &'a str)>, ViewError> {
        // Occurrences of a message field merge, as prost merges them: the
        // fault domain is there if any occurrence has one, and each name
        // is the last one given.
        let mut fault = false;
        let (mut region, mut zone) = ("", "");
        for d in LenFields::new(self.domain, offer::DOMAIN, "Offer.domain") {
            for_each_field(d?, |field, v| {
                if field != 1 {
                    return Ok(());
                }
                fault = true;
                for_each_field(v.len("DomainInfo.fault_domain")?, |field, v| {
                    let out = match field {
                        1 => &mut region,
                        2 => &mut zone,
                        _ => return Ok(()),
                    };
                    for_each_field(v.len("FaultDomain.region/zone")?, |f, n| {
                        if f == 1 {
                            *out = n.string("FaultDomain.name")?;
                        }
                        Ok(())
                    })
                })
            })?;
        }
        Ok(fault.then_some((region, zone)))
    }

    /// The encoded `Offer.domain` fields, unchecked (empty without one):
    /// for telling whether an agent's domain changed without reading it.
    pub fn domain_bytes(&self) -> &'a [u8] {
        self.domain
    }

    /// `Offer.unavailability`: the agent's scheduled maintenance, as
    /// (start, duration) in nanoseconds (`None` duration: open-ended).
    /// Rare, so decoded (by prost, every occurrence merged) on demand.
    ///
    /// # Errors
    ///
    /// The field does not decode.
    pub fn unavailability(&self) -> Result<Option<(i64, Option<i64>)>, ViewError> {
        use prost::Message;
        if self.seen & bit(offer::UNAVAILABILITY) == 0 {
            return Ok(None);
        }
        let mut u = crate::v1::Unavailability::default();
        for bytes in LenFields::new(self.buf, offer::UNAVAILABILITY, "Offer.unavailability") {
            u.merge(bytes?)
                .map_err(|_| ViewError::Malformed("Offer.unavailability"))?;
        }
        Ok(Some((
            u.start.nanoseconds,
            u.duration.map(|d| d.nanoseconds),
        )))
    }

    /// `Offer.id.value`.
    ///
    /// # Errors
    ///
    /// An occurrence of the id does not decode, or a value is not UTF-8.
    pub fn id(&self) -> Result<&'a str, ViewError> {
        self.id_value(offer::ID, self.id, "Offer.id.value")
    }

    /// `Offer.framework_id.value`, `None` if `framework_id` is absent (the
    /// matcher does not need it, so its absence does not fail the offer).
    ///
    /// # Errors
    ///
    /// As [`OfferView::id`].
    pub fn framework_id(&self) -> Result<Option<&'a str>, ViewError> {
        if self.seen & bit(offer::FRAMEWORK_ID) == 0 {
            return Ok(None);
        }
        self.id_value(
            offer::FRAMEWORK_ID,
            self.framework_id,
            "Offer.framework_id.value",
        )
        .map(Some)
    }

    /// `Offer.agent_id.value`.
    ///
    /// # Errors
    ///
    /// As [`OfferView::id`].
    pub fn agent_id(&self) -> Result<&'a str, ViewError> {
        self.id_value(offer::AGENT_ID, self.agent_id, "Offer.agent_id.value")
    }

    /// `Offer.hostname`.
    ///
    /// # Errors
    ///
    /// An occurrence is not UTF-8.
    pub fn hostname(&self) -> Result<&'a str, ViewError> {
        last_string(
            self.buf,
            self.hostname,
            self.many(offer::HOSTNAME),
            offer::HOSTNAME,
            "Offer.hostname",
        )
    }

    /// `Offer.allocation_info.role`: the role the offer was allocated to
    /// (MULTI_ROLE frameworks), `None` if unset.
    ///
    /// # Errors
    ///
    /// An occurrence of `allocation_info` does not decode, or a role is
    /// not UTF-8.
    pub fn allocation_role(&self) -> Result<Option<&'a str>, ViewError> {
        if self.seen & bit(offer::ALLOCATION_INFO) == 0 {
            return Ok(None);
        }
        let all = occurrences(
            self.buf,
            self.allocation_info,
            self.many(offer::ALLOCATION_INFO),
            offer::ALLOCATION_INFO,
            "Offer.allocation_info",
        );
        merged_string(all, allocation_info::ROLE, "AllocationInfo.role")
    }

    /// `Offer.resources`, in order. Each resource's fields are framing
    /// checked when it is yielded; its values when they are read.
    pub fn resources(&self) -> ResourceIter<'a> {
        ResourceIter {
            fields: LenFields::new(self.resources, offer::RESOURCES, "Offer.resources"),
        }
    }

    /// `Offer.attributes`, in order, framing checked when yielded like
    /// [`OfferView::resources`].
    pub fn attributes(&self) -> AttributeIter<'a> {
        AttributeIter {
            fields: LenFields::new(self.attributes, offer::ATTRIBUTES, "Offer.attributes"),
        }
    }

    /// The encoded `Offer.attributes` fields (from the first to the last;
    /// other fields between them included), unchecked: for telling whether
    /// an agent's attributes changed since its last offer without reading
    /// them.
    pub fn attributes_bytes(&self) -> &'a [u8] {
        self.attributes
    }

    /// The encoded `Offer` this view reads (e.g. to decode it fully with
    /// prost for a log line).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Reads everything the view exposes of this offer (every accessor,
    /// every resource and attribute and theirs), returning the first
    /// error: after `Ok`, no accessor of this offer or of what its
    /// iterators yield fails.
    pub fn validate(&self) -> Result<(), ViewError> {
        self.id()?;
        self.framework_id()?;
        self.agent_id()?;
        self.hostname()?;
        self.allocation_role()?;
        self.domain()?;
        self.unavailability()?;
        for r in self.resources() {
            r?.validate()?;
        }
        for a in self.attributes() {
            a?.validate()?;
        }
        Ok(())
    }
}

/// Iterator over an offer's resources; see [`OfferView::resources`].
#[derive(Clone, Debug)]
pub struct ResourceIter<'a> {
    fields: LenFields<'a>,
}

impl<'a> Iterator for ResourceIter<'a> {
    type Item = Result<ResourceView<'a>, ViewError>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        let resource = self.fields.next()?.and_then(ResourceView::new);
        if resource.is_err() {
            self.fields.cur.finish();
        }
        Some(resource)
    }
}

impl FusedIterator for ResourceIter<'_> {}

/// Iterator over an offer's attributes; see [`OfferView::attributes`].
#[derive(Clone, Debug)]
pub struct AttributeIter<'a> {
    fields: LenFields<'a>,
}

impl<'a> Iterator for AttributeIter<'a> {
    type Item = Result<AttributeView<'a>, ViewError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let attribute = self.fields.next()?.and_then(AttributeView::new);
        if attribute.is_err() {
            self.fields.cur.finish();
        }
        Some(attribute)
    }
}

impl FusedIterator for AttributeIter<'_> {}

// ---------------------------------------------------------------------------
// Values shared by resources and attributes.

/// `mesos.v1.Value.Type`, with a catch-all for values this build does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// `SCALAR = 0`
    Scalar,
    /// `RANGES = 1`
    Ranges,
    /// `SET = 2`
    Set,
    /// `TEXT = 3`
    Text,
    /// Any other value.
    Unrecognized(i32),
}

impl ValueType {
    /// The enum for a wire value.
    pub fn from_i32(value: i32) -> Self {
        match value {
            0 => ValueType::Scalar,
            1 => ValueType::Ranges,
            2 => ValueType::Set,
            3 => ValueType::Text,
            other => ValueType::Unrecognized(other),
        }
    }

    /// The wire value.
    pub fn as_i32(self) -> i32 {
        match self {
            ValueType::Scalar => 0,
            ValueType::Ranges => 1,
            ValueType::Set => 2,
            ValueType::Text => 3,
            ValueType::Unrecognized(other) => other,
        }
    }
}

/// Merges one `Value.Scalar` occurrence: present (prost's default `0.0`) once
/// it occurs, the last `value` wins.
#[inline]
fn merge_scalar(message: &[u8], out: &mut Option<f64>) -> Result<(), ViewError> {
    const VALUE: u64 = tag(value::SCALAR_VALUE, WT_FIXED64);
    // What every encoder writes: the one field, nothing else.
    if let [0x09, ref bits @ ..] = *message
        && let Ok(bits) = <[u8; 8]>::try_from(bits)
    {
        *out = Some(f64::from_le_bytes(bits));
        return Ok(());
    }
    let mut value = out.unwrap_or(0.0);
    let mut cur = Cursor::new(message);
    while !cur.rest.is_empty() {
        match cur.read_tag()? {
            VALUE => value = f64::from_le_bytes(cur.read_fixed::<8>()?),
            other => {
                cur.skip_unread(other, bit(value::SCALAR_VALUE), |_| "Value.Scalar.value")?;
            }
        }
    }
    *out = Some(value);
    Ok(())
}

/// A `Value.Scalar` field given by its occurrences.
#[inline]
fn scalar_of(occurrences: Occurrences<'_>) -> Result<Option<f64>, ViewError> {
    let mut out = None;
    for m in occurrences {
        merge_scalar(m?, &mut out)?;
    }
    Ok(out)
}

/// A `Value.Text` field given by its occurrences: present (prost's default
/// `""`) once it occurs, the last `value` wins.
fn text_of(occurrences: Occurrences<'_>) -> Result<Option<&str>, ViewError> {
    let mut out: Option<&str> = None;
    for m in occurrences {
        let mut value = None;
        merge_string_message(m?, value::TEXT_VALUE, &mut value, "Value.Text.value")?;
        out = Some(value.or(out).unwrap_or(""));
    }
    Ok(out)
}

/// Reads one `Value.Range`; absent bounds read as 0, like prost.
#[inline]
fn read_range(message: &[u8]) -> Result<(u64, u64), ViewError> {
    const BEGIN: u64 = tag(value::RANGE_BEGIN, WT_VARINT);
    const END: u64 = tag(value::RANGE_END, WT_VARINT);
    const READS: u32 = bit(value::RANGE_BEGIN) | bit(value::RANGE_END);
    let (mut begin, mut end) = (0, 0);
    let mut cur = Cursor::new(message);
    while !cur.rest.is_empty() {
        match cur.read_tag()? {
            BEGIN => begin = cur.read_varint()?,
            END => end = cur.read_varint()?,
            other => cur.skip_unread(other, READS, |field| {
                if field == u64::from(value::RANGE_BEGIN) {
                    "Value.Range.begin"
                } else {
                    "Value.Range.end"
                }
            })?,
        }
    }
    Ok((begin, end))
}

/// The ranges of a resource or attribute value, as inclusive `(begin, end)`
/// pairs in order (of all occurrences of the `ranges` field, as prost merges
/// them). Checked when the accessor returned it, so it cannot fail.
#[derive(Clone, Debug)]
pub struct RangesIter<'a> {
    inner: NestedLenFields<'a>,
}

impl<'a> RangesIter<'a> {
    /// Over the occurrences of a `Value.Ranges` field; every range is read
    /// once here, so that the iterator cannot fail.
    fn checked(outer: Occurrences<'a>) -> Result<RangesIter<'a>, ViewError> {
        let it = RangesIter {
            inner: NestedLenFields::over(outer, value::RANGES_RANGE, "Value.Ranges.range"),
        };
        let mut check = it.inner;
        for range in &mut check {
            read_range(range?)?;
        }
        Ok(it)
    }
}

impl Iterator for RangesIter<'_> {
    type Item = (u64, u64);

    #[inline]
    fn next(&mut self) -> Option<(u64, u64)> {
        match self.inner.next()?.and_then(read_range) {
            Ok(range) => Some(range),
            Err(e) => {
                debug_assert!(false, "ranges were checked by the accessor: {e}");
                self.inner.finish();
                None
            }
        }
    }
}

impl FusedIterator for RangesIter<'_> {}

/// The items of a resource or attribute set value, in order (of all
/// occurrences of the `set` field, as prost merges them). Checked when the
/// accessor returned it, so it cannot fail.
#[derive(Clone, Debug)]
pub struct SetIter<'a> {
    inner: NestedLenFields<'a>,
}

impl<'a> SetIter<'a> {
    /// Over the occurrences of a `Value.Set` field; every item is UTF-8
    /// checked once here, so that the iterator cannot fail.
    fn checked(outer: Occurrences<'a>) -> Result<SetIter<'a>, ViewError> {
        let it = SetIter {
            inner: NestedLenFields::over(outer, value::SET_ITEM, "Value.Set.item"),
        };
        let mut check = it.inner;
        for item in &mut check {
            utf8(item?, "Value.Set.item")?;
        }
        Ok(it)
    }
}

impl<'a> Iterator for SetIter<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        match self
            .inner
            .next()?
            .and_then(|item| utf8(item, "Value.Set.item"))
        {
            Ok(item) => Some(item),
            Err(e) => {
                debug_assert!(false, "set items were checked by the accessor: {e}");
                self.inner.finish();
                None
            }
        }
    }
}

impl FusedIterator for SetIter<'_> {}

// ---------------------------------------------------------------------------
// Resource.

/// A borrowed view of one `mesos.v1.Resource`.
///
/// Building it scans the resource's own fields once (framing, the wire
/// types of the fields the view reads, `name` and `type` present); each
/// accessor checks the value it reads.
#[derive(Clone, Copy)]
pub struct ResourceView<'a> {
    buf: &'a [u8],
    /// Fields seen (bit per field number), and those seen more than once.
    seen: u32,
    many: u32,
    type_raw: i32,
    /// The payload of the last occurrence of each field read on demand
    /// (the others are found again when asked for).
    name: &'a [u8],
    scalar: &'a [u8],
    ranges: &'a [u8],
    role: &'a [u8],
    allocation_info: &'a [u8],
    reservation: &'a [u8],
}

impl fmt::Debug for ResourceView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceView")
            .field("name", &self.name())
            .field("type", &self.value_type())
            .field("scalar", &self.scalar())
            .field("ranges", &self.ranges().map(DebugList))
            .field("set", &self.set().map(DebugList))
            .field("role", &self.role())
            .field("reserved", &self.is_reserved())
            .field("allocation_role", &self.allocation_role())
            .field("persistence_id", &self.persistence_id())
            .field("disk_source", &self.has_disk_source())
            .field("revocable", &self.is_revocable())
            .finish()
    }
}

/// The role of one `ReservationInfo`, `None` if unset; other fields are
/// only framing-checked.
#[inline]
fn reservation_role(message: &[u8]) -> Result<Option<&str>, ViewError> {
    let mut role = None;
    merge_string_message(
        message,
        reservation_info::ROLE,
        &mut role,
        "ReservationInfo.role",
    )?;
    Ok(role)
}

impl<'a> ResourceView<'a> {
    /// Scans an encoded `Resource`.
    #[inline]
    pub fn new(buf: &'a [u8]) -> Result<Self, ViewError> {
        const NAME: u64 = tag(resource::NAME, WT_LEN);
        const TYPE: u64 = tag(resource::TYPE, WT_VARINT);
        const SCALAR: u64 = tag(resource::SCALAR, WT_LEN);
        const RANGES: u64 = tag(resource::RANGES, WT_LEN);
        const SET: u64 = tag(resource::SET, WT_LEN);
        const ROLE: u64 = tag(resource::ROLE, WT_LEN);
        const DISK: u64 = tag(resource::DISK, WT_LEN);
        const REVOCABLE: u64 = tag(resource::REVOCABLE, WT_LEN);
        const ALLOCATION_INFO: u64 = tag(resource::ALLOCATION_INFO, WT_LEN);
        const RESERVATIONS: u64 = tag(resource::RESERVATIONS, WT_LEN);
        const READS: u32 = bit(resource::NAME)
            | bit(resource::TYPE)
            | bit(resource::SCALAR)
            | bit(resource::RANGES)
            | bit(resource::SET)
            | bit(resource::ROLE)
            | bit(resource::DISK)
            | bit(resource::REVOCABLE)
            | bit(resource::ALLOCATION_INFO)
            | bit(resource::RESERVATIONS);
        fn names(field: u64) -> &'static str {
            match field as u32 {
                resource::NAME => "Resource.name",
                resource::TYPE => "Resource.type",
                resource::SCALAR => "Resource.scalar",
                resource::RANGES => "Resource.ranges",
                resource::SET => "Resource.set",
                resource::ROLE => "Resource.role",
                resource::DISK => "Resource.disk",
                resource::REVOCABLE => "Resource.revocable",
                resource::ALLOCATION_INFO => "Resource.allocation_info",
                _ => "Resource.reservations",
            }
        }
        let (mut seen, mut many) = (0, 0);
        let mut type_raw = 0;
        // Payload bounds of the last occurrence of each field read on
        // demand (plain indices: see `OfferView::new`).
        let (mut name, mut scalar, mut ranges) = ((0, 0), (0, 0), (0, 0));
        let (mut role, mut allocation_info, mut reservation) = ((0, 0), (0, 0), (0, 0));
        let mut i = 0;
        while i < buf.len() {
            let f = field_at(buf, i)?;
            i = f.end;
            match f.tag {
                NAME => {
                    name = (f.start, f.end);
                    note(&mut seen, &mut many, bit(resource::NAME));
                }
                TYPE => {
                    // Truncation is the protobuf rule for an enum read
                    // from a varint.
                    type_raw = f.varint as i32;
                    seen |= bit(resource::TYPE);
                }
                SCALAR => {
                    scalar = (f.start, f.end);
                    note(&mut seen, &mut many, bit(resource::SCALAR));
                }
                ROLE => {
                    role = (f.start, f.end);
                    note(&mut seen, &mut many, bit(resource::ROLE));
                }
                ALLOCATION_INFO => {
                    allocation_info = (f.start, f.end);
                    note(&mut seen, &mut many, bit(resource::ALLOCATION_INFO));
                }
                RANGES => {
                    ranges = (f.start, f.end);
                    note(&mut seen, &mut many, bit(resource::RANGES));
                }
                RESERVATIONS => {
                    reservation = (f.start, f.end);
                    note(&mut seen, &mut many, bit(resource::RESERVATIONS));
                }
                SET => seen |= bit(resource::SET),
                DISK => seen |= bit(resource::DISK),
                REVOCABLE => seen |= bit(resource::REVOCABLE),
                other => check_unread(other, READS, names)?,
            }
        }
        let at = |(s, e): (usize, usize)| buf.get(s..e).unwrap_or_default();
        let (name, scalar, ranges) = (at(name), at(scalar), at(ranges));
        let (role, allocation_info, reservation) = (at(role), at(allocation_info), at(reservation));
        if seen & bit(resource::NAME) == 0 {
            return Err(ViewError::MissingField("Resource.name"));
        }
        if seen & bit(resource::TYPE) == 0 {
            return Err(ViewError::MissingField("Resource.type"));
        }
        Ok(ResourceView {
            buf,
            seen,
            many,
            type_raw,
            name,
            scalar,
            ranges,
            role,
            allocation_info,
            reservation,
        })
    }

    fn seen(&self, field: u32) -> bool {
        self.seen & bit(field) != 0
    }

    fn many(&self, field: u32) -> bool {
        self.many & bit(field) != 0
    }

    /// The occurrences of length-delimited field `field`, the last of
    /// which is `last`.
    fn all(&self, field: u32, last: &'a [u8], name: &'static str) -> Occurrences<'a> {
        occurrences(self.buf, last, self.many(field), field, name)
    }

    /// The encoded `Resource` this view reads: the matcher decodes it with
    /// prost when it launches on it, so the task's resource carries the
    /// offered reservations and allocation info unchanged.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Whether `Resource.disk.source` is set (a PATH, MOUNT, BLOCK or RAW
    /// disk of a resource provider; MOUNT and BLOCK disks cannot be split).
    ///
    /// # Errors
    ///
    /// An occurrence of `disk` or of its `source` does not decode.
    pub fn has_disk_source(&self) -> Result<bool, ViewError> {
        if !self.seen(resource::DISK) {
            return Ok(false);
        }
        let mut found = false;
        for disk in LenFields::new(self.buf, resource::DISK, "Resource.disk") {
            for_each_field(disk?, |field, v| {
                if field == disk_info::SOURCE {
                    check_framing(v.len("DiskInfo.source")?)?;
                    found = true;
                }
                Ok(())
            })?;
        }
        Ok(found)
    }

    /// `Resource.name` (e.g. `"cpus"`, `"mem"`, `"ports"`).
    ///
    /// # Errors
    ///
    /// An occurrence is not UTF-8.
    #[inline]
    pub fn name(&self) -> Result<&'a str, ViewError> {
        if !self.many(resource::NAME)
            && let Some(known) = known_name(self.name)
        {
            return Ok(known);
        }
        last_string(
            self.buf,
            self.name,
            self.many(resource::NAME),
            resource::NAME,
            "Resource.name",
        )
    }

    /// `Resource.type`.
    pub fn value_type(&self) -> ValueType {
        ValueType::from_i32(self.type_raw)
    }

    /// `Resource.scalar.value`, `None` if `scalar` is absent.
    ///
    /// # Errors
    ///
    /// An occurrence of `scalar` does not decode.
    #[inline]
    pub fn scalar(&self) -> Result<Option<f64>, ViewError> {
        if !self.seen(resource::SCALAR) {
            return Ok(None);
        }
        if !self.many(resource::SCALAR) {
            let mut out = None;
            merge_scalar(self.scalar, &mut out)?;
            return Ok(out);
        }
        scalar_of(self.all(resource::SCALAR, self.scalar, "Resource.scalar"))
    }

    /// `Resource.ranges`, empty if absent.
    ///
    /// # Errors
    ///
    /// An occurrence of `ranges` or a range in it does not decode.
    pub fn ranges(&self) -> Result<RangesIter<'a>, ViewError> {
        if !self.seen(resource::RANGES) {
            return RangesIter::checked(Occurrences::NONE);
        }
        RangesIter::checked(self.all(resource::RANGES, self.ranges, "Resource.ranges"))
    }

    /// `Resource.set` items, empty if absent.
    ///
    /// # Errors
    ///
    /// An occurrence of `set` does not decode, or an item is not UTF-8.
    pub fn set(&self) -> Result<SetIter<'a>, ViewError> {
        if !self.seen(resource::SET) {
            return SetIter::checked(Occurrences::NONE);
        }
        SetIter::checked(Occurrences::Many(LenFields::new(
            self.buf,
            resource::SET,
            "Resource.set",
        )))
    }

    /// The legacy `role` (`None` if absent) and the role of the last
    /// reservation (`None` without reservations, `Some("")` if it has no
    /// role), every occurrence of each checked.
    fn roles(&self) -> Result<(Option<&'a str>, Option<&'a str>), ViewError> {
        let legacy = if !self.seen(resource::ROLE) {
            None
        } else if !self.many(resource::ROLE) && self.role == UNRESERVED_ROLE.as_bytes() {
            Some(UNRESERVED_ROLE)
        } else {
            Some(last_string(
                self.buf,
                self.role,
                self.many(resource::ROLE),
                resource::ROLE,
                "Resource.role",
            )?)
        };
        if !self.seen(resource::RESERVATIONS) {
            return Ok((legacy, None));
        }
        let mut last = None;
        for r in self.all(
            resource::RESERVATIONS,
            self.reservation,
            "Resource.reservations",
        ) {
            last = Some(reservation_role(r?)?.unwrap_or(""));
        }
        Ok((legacy, last))
    }

    /// The effective role: the role of the last entry of the reservation
    /// stack (`reservations`, post-refinement format) if there is any, else
    /// the legacy `role` field (pre-refinement format), else `"*"`.
    ///
    /// # Errors
    ///
    /// An occurrence of `role` is not UTF-8, or a reservation or its role
    /// does not decode (all of them are read, as prost reads them).
    pub fn role(&self) -> Result<&'a str, ViewError> {
        let (legacy, reservation) = self.roles()?;
        Ok(reservation.or(legacy).unwrap_or(UNRESERVED_ROLE))
    }

    /// Whether the resource is reserved: `reservations` is non-empty, or the
    /// legacy `role` is set to something other than `"*"`.
    ///
    /// # Errors
    ///
    /// As [`ResourceView::role`].
    #[inline]
    pub fn is_reserved(&self) -> Result<bool, ViewError> {
        if !self.seen(resource::RESERVATIONS)
            && (!self.seen(resource::ROLE)
                || (!self.many(resource::ROLE) && self.role == UNRESERVED_ROLE.as_bytes()))
        {
            return Ok(false);
        }
        let (legacy, reservation) = self.roles()?;
        Ok(reservation.is_some() || legacy.is_some_and(|r| r != UNRESERVED_ROLE))
    }

    /// `Resource.allocation_info.role`, `None` if unset.
    ///
    /// # Errors
    ///
    /// An occurrence of `allocation_info` does not decode, or a role is
    /// not UTF-8.
    #[inline]
    pub fn allocation_role(&self) -> Result<Option<&'a str>, ViewError> {
        if !self.seen(resource::ALLOCATION_INFO) {
            return Ok(None);
        }
        let all = self.all(
            resource::ALLOCATION_INFO,
            self.allocation_info,
            "Resource.allocation_info",
        );
        merged_string(all, allocation_info::ROLE, "AllocationInfo.role")
    }

    /// `Resource.disk.persistence.id`: `Some` iff the resource is a
    /// persistent volume.
    ///
    /// # Errors
    ///
    /// An occurrence of `disk` or of its `persistence` does not decode, or
    /// an id is not UTF-8.
    pub fn persistence_id(&self) -> Result<Option<&'a str>, ViewError> {
        if !self.seen(resource::DISK) {
            return Ok(None);
        }
        let mut out = None;
        for disk in LenFields::new(self.buf, resource::DISK, "Resource.disk") {
            for_each_field(disk?, |field, v| {
                if field == disk_info::PERSISTENCE {
                    let mut id = out.unwrap_or("");
                    for_each_field(v.len("DiskInfo.persistence")?, |field, v| {
                        if field == persistence::ID {
                            id = v.string("DiskInfo.Persistence.id")?;
                        }
                        Ok(())
                    })?;
                    out = Some(id);
                }
                Ok(())
            })?;
        }
        Ok(out)
    }

    /// Whether `Resource.revocable` is set.
    ///
    /// # Errors
    ///
    /// An occurrence of `revocable` does not decode.
    #[inline]
    pub fn is_revocable(&self) -> Result<bool, ViewError> {
        if !self.seen(resource::REVOCABLE) {
            return Ok(false);
        }
        for r in LenFields::new(self.buf, resource::REVOCABLE, "Resource.revocable") {
            check_framing(r?)?;
        }
        Ok(true)
    }

    /// Reads everything the view exposes of this resource, returning the
    /// first error: after `Ok`, no accessor of it fails.
    pub fn validate(&self) -> Result<(), ViewError> {
        self.name()?;
        self.scalar()?;
        self.ranges()?;
        self.set()?;
        self.roles()?;
        self.allocation_role()?;
        self.persistence_id()?;
        self.has_disk_source()?;
        self.is_revocable()?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Attribute.

/// A borrowed view of one `mesos.v1.Attribute`; like [`ResourceView`],
/// built by a scan of its fields, each accessor checking what it reads.
#[derive(Clone, Copy)]
pub struct AttributeView<'a> {
    buf: &'a [u8],
    seen: u32,
    many: u32,
    type_raw: i32,
    name: &'a [u8],
}

impl fmt::Debug for AttributeView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttributeView")
            .field("name", &self.name())
            .field("type", &self.value_type())
            .field("text", &self.text())
            .field("scalar", &self.scalar())
            .field("ranges", &self.ranges().map(DebugList))
            .field("set", &self.set().map(DebugList))
            .finish()
    }
}

impl<'a> AttributeView<'a> {
    /// Scans an encoded `Attribute` (framing, the wire types of the fields
    /// the view reads, `name` and `type` present).
    pub fn new(buf: &'a [u8]) -> Result<Self, ViewError> {
        const NAME: u64 = tag(attribute::NAME, WT_LEN);
        const TYPE: u64 = tag(attribute::TYPE, WT_VARINT);
        const SCALAR: u64 = tag(attribute::SCALAR, WT_LEN);
        const RANGES: u64 = tag(attribute::RANGES, WT_LEN);
        const TEXT: u64 = tag(attribute::TEXT, WT_LEN);
        const SET: u64 = tag(attribute::SET, WT_LEN);
        const READS: u32 = bit(attribute::NAME)
            | bit(attribute::TYPE)
            | bit(attribute::SCALAR)
            | bit(attribute::RANGES)
            | bit(attribute::TEXT)
            | bit(attribute::SET);
        fn names(field: u64) -> &'static str {
            match field as u32 {
                attribute::NAME => "Attribute.name",
                attribute::TYPE => "Attribute.type",
                attribute::SCALAR => "Attribute.scalar",
                attribute::RANGES => "Attribute.ranges",
                attribute::TEXT => "Attribute.text",
                _ => "Attribute.set",
            }
        }
        let (mut seen, mut many) = (0, 0);
        let mut type_raw = 0;
        let mut name: &[u8] = &[];
        let mut cur = Cursor::new(buf);
        while !cur.rest.is_empty() {
            match cur.read_tag()? {
                NAME => {
                    name = cur.read_len()?;
                    note(&mut seen, &mut many, bit(attribute::NAME));
                }
                TYPE => {
                    type_raw = cur.read_varint()? as i32;
                    seen |= bit(attribute::TYPE);
                }
                SCALAR => {
                    cur.read_len()?;
                    seen |= bit(attribute::SCALAR);
                }
                RANGES => {
                    cur.read_len()?;
                    seen |= bit(attribute::RANGES);
                }
                TEXT => {
                    cur.read_len()?;
                    seen |= bit(attribute::TEXT);
                }
                SET => {
                    cur.read_len()?;
                    seen |= bit(attribute::SET);
                }
                other => cur.skip_unread(other, READS, names)?,
            }
        }
        if seen & bit(attribute::NAME) == 0 {
            return Err(ViewError::MissingField("Attribute.name"));
        }
        if seen & bit(attribute::TYPE) == 0 {
            return Err(ViewError::MissingField("Attribute.type"));
        }
        Ok(AttributeView {
            buf,
            seen,
            many,
            type_raw,
            name,
        })
    }

    /// Every occurrence of field `field` (none if it is absent).
    fn all(&self, field: u32, name: &'static str) -> Occurrences<'a> {
        if self.seen & bit(field) == 0 {
            return Occurrences::NONE;
        }
        Occurrences::Many(LenFields::new(self.buf, field, name))
    }

    /// `Attribute.name`.
    ///
    /// # Errors
    ///
    /// An occurrence is not UTF-8.
    pub fn name(&self) -> Result<&'a str, ViewError> {
        last_string(
            self.buf,
            self.name,
            self.many & bit(attribute::NAME) != 0,
            attribute::NAME,
            "Attribute.name",
        )
    }

    /// `Attribute.type`.
    pub fn value_type(&self) -> ValueType {
        ValueType::from_i32(self.type_raw)
    }

    /// `Attribute.text.value`, `None` if `text` is absent.
    ///
    /// # Errors
    ///
    /// An occurrence of `text` does not decode, or a value is not UTF-8.
    pub fn text(&self) -> Result<Option<&'a str>, ViewError> {
        text_of(self.all(attribute::TEXT, "Attribute.text"))
    }

    /// `Attribute.scalar.value`, `None` if `scalar` is absent.
    ///
    /// # Errors
    ///
    /// An occurrence of `scalar` does not decode.
    pub fn scalar(&self) -> Result<Option<f64>, ViewError> {
        scalar_of(self.all(attribute::SCALAR, "Attribute.scalar"))
    }

    /// `Attribute.ranges`, empty if absent.
    ///
    /// # Errors
    ///
    /// An occurrence of `ranges` or a range in it does not decode.
    pub fn ranges(&self) -> Result<RangesIter<'a>, ViewError> {
        RangesIter::checked(self.all(attribute::RANGES, "Attribute.ranges"))
    }

    /// `Attribute.set` items, empty if absent.
    ///
    /// # Errors
    ///
    /// An occurrence of `set` does not decode, or an item is not UTF-8.
    pub fn set(&self) -> Result<SetIter<'a>, ViewError> {
        SetIter::checked(self.all(attribute::SET, "Attribute.set"))
    }

    /// The encoded `Attribute` this view reads.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Reads everything the view exposes of this attribute, returning the
    /// first error: after `Ok`, no accessor of it fails.
    pub fn validate(&self) -> Result<(), ViewError> {
        self.name()?;
        self.text()?;
        self.scalar()?;
        self.ranges()?;
        self.set()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny protobuf writer for hand-built test input.
    #[derive(Clone, Default)]
    struct Msg(Vec<u8>);

    impl Msg {
        fn new() -> Self {
            Msg::default()
        }
        fn raw(mut self, bytes: &[u8]) -> Self {
            self.0.extend_from_slice(bytes);
            self
        }
        fn raw_varint(mut self, mut v: u64) -> Self {
            while v >= 0x80 {
                self.0.push((v as u8) | 0x80);
                v >>= 7;
            }
            self.0.push(v as u8);
            self
        }
        fn key(self, field: u32, wire_type: u8) -> Self {
            self.raw_varint((u64::from(field) << 3) | u64::from(wire_type))
        }
        fn varint(self, field: u32, v: u64) -> Self {
            self.key(field, WT_VARINT).raw_varint(v)
        }
        fn bytes(self, field: u32, b: &[u8]) -> Self {
            self.key(field, WT_LEN).raw_varint(b.len() as u64).raw(b)
        }
        fn string(self, field: u32, s: &str) -> Self {
            self.bytes(field, s.as_bytes())
        }
        fn msg(self, field: u32, m: Msg) -> Self {
            self.bytes(field, &m.0)
        }
        fn double(self, field: u32, v: f64) -> Self {
            self.key(field, WT_FIXED64).raw(&v.to_le_bytes())
        }
        fn fixed32(self, field: u32, v: u32) -> Self {
            self.key(field, WT_FIXED32).raw(&v.to_le_bytes())
        }
        fn build(self) -> Vec<u8> {
            self.0
        }
    }

    fn id(value: &str) -> Msg {
        Msg::new().string(id::VALUE, value)
    }

    fn scalar(v: f64) -> Msg {
        Msg::new().double(value::SCALAR_VALUE, v)
    }

    fn ranges(rs: &[(u64, u64)]) -> Msg {
        rs.iter().fold(Msg::new(), |m, &(b, e)| {
            m.msg(
                value::RANGES_RANGE,
                Msg::new()
                    .varint(value::RANGE_BEGIN, b)
                    .varint(value::RANGE_END, e),
            )
        })
    }

    fn set(items: &[&str]) -> Msg {
        items
            .iter()
            .fold(Msg::new(), |m, i| m.string(value::SET_ITEM, i))
    }

    fn role(r: &str) -> Msg {
        Msg::new().string(allocation_info::ROLE, r)
    }

    fn reservation(r: &str) -> Msg {
        // principal, role, type: the fields a master sends.
        Msg::new()
            .string(1, "principal")
            .string(reservation_info::ROLE, r)
            .varint(4, 2)
    }

    fn scalar_resource(name: &str, v: f64) -> Msg {
        Msg::new()
            .string(resource::NAME, name)
            .varint(resource::TYPE, 0)
            .msg(resource::SCALAR, scalar(v))
    }

    /// Unknown fields of every wire type, including nested groups.
    fn unknown_fields(m: Msg) -> Msg {
        m.varint(100, 7)
            .double(101, 1.5)
            .fixed32(102, 9)
            .string(103, "ignored")
            .key(104, WT_START_GROUP)
            .varint(1, 1)
            .key(2, WT_START_GROUP)
            .string(3, "deep")
            .key(2, WT_END_GROUP)
            .key(104, WT_END_GROUP)
    }

    fn first_offer() -> Msg {
        let resources = [
            scalar_resource("cpus", 2.5)
                .string(resource::ROLE, "*")
                .msg(resource::ALLOCATION_INFO, role("web")),
            scalar_resource("mem", 1024.0)
                .msg(resource::RESERVATIONS, reservation("eng"))
                .msg(resource::RESERVATIONS, reservation("eng/fe")),
            Msg::new()
                .string(resource::NAME, "ports")
                .varint(resource::TYPE, 1)
                .msg(resource::RANGES, ranges(&[(31000, 31005), (32000, 32000)]))
                .string(resource::ROLE, "ops"),
            scalar_resource("disk", 100.0)
                .msg(
                    resource::DISK,
                    Msg::new().msg(
                        disk_info::PERSISTENCE,
                        Msg::new().string(persistence::ID, "vol1"),
                    ),
                )
                .msg(resource::RESERVATIONS, reservation("db"))
                .msg(10, Msg::new()), // shared
            unknown_fields(
                Msg::new()
                    .string(resource::NAME, "zones")
                    .varint(resource::TYPE, 2)
                    .msg(resource::SET, set(&["a", "b"]))
                    .msg(resource::REVOCABLE, Msg::new()),
            ),
        ];
        let attributes = [
            Msg::new()
                .string(attribute::NAME, "rack")
                .varint(attribute::TYPE, 3)
                .msg(attribute::TEXT, Msg::new().string(value::TEXT_VALUE, "r1")),
            Msg::new()
                .string(attribute::NAME, "weight")
                .varint(attribute::TYPE, 0)
                .msg(attribute::SCALAR, scalar(3.0)),
            Msg::new()
                .string(attribute::NAME, "slots")
                .varint(attribute::TYPE, 1)
                .msg(attribute::RANGES, ranges(&[(1, 4)])),
            Msg::new()
                .string(attribute::NAME, "zones")
                .varint(attribute::TYPE, 2)
                .msg(attribute::SET, set(&["x", "y"])),
        ];
        let mut offer = Msg::new()
            .msg(offer::ID, id("o1"))
            .msg(offer::FRAMEWORK_ID, id("fw"))
            .msg(offer::AGENT_ID, id("a1"))
            .string(offer::HOSTNAME, "h1.example")
            .msg(8, Msg::new().string(1, "http")) // url
            .msg(offer::ALLOCATION_INFO, role("web"));
        for r in resources {
            offer = offer.msg(offer::RESOURCES, r);
        }
        offer = offer.msg(6, id("executor")); // executor_ids, between resources and attributes
        for a in attributes {
            offer = offer.msg(offer::ATTRIBUTES, a);
        }
        unknown_fields(offer)
    }

    fn second_offer() -> Msg {
        Msg::new()
            .msg(offer::ID, id("o2"))
            .msg(offer::AGENT_ID, id("a2"))
            .string(offer::HOSTNAME, "h2")
    }

    fn offers_event(offers: &[Msg]) -> Vec<u8> {
        let wrapper = offers
            .iter()
            .fold(Msg::new(), |m, o| m.msg(event_offers::OFFERS, o.clone()));
        unknown_fields(
            Msg::new()
                .varint(event::TYPE, 2)
                .msg(event::OFFERS, wrapper),
        )
        .build()
    }

    fn sample_event() -> Vec<u8> {
        offers_event(&[first_offer(), second_offer()])
    }

    /// Everything the view exposes, as owned text, or the first error.
    fn summarize(buf: &[u8]) -> Result<(Option<i32>, Vec<String>), ViewError> {
        let event = EventView::new(buf)?;
        let mut offers = Vec::new();
        for offer in event.offers() {
            let offer = offer?;
            offer.validate()?;
            offers.push(format!("{offer:?}"));
        }
        Ok((event.event_type_raw(), offers))
    }

    fn single_offer(offer: Msg) -> Vec<u8> {
        offers_event(&[offer])
    }

    fn first<'a>(event: &EventView<'a>) -> Result<OfferView<'a>, ViewError> {
        event.offers().next().expect("the event has an offer")
    }

    #[test]
    fn reads_every_exposed_field_of_a_sample_event() {
        let buf = sample_event();
        let event = EventView::new(&buf).unwrap();
        assert_eq!(event.event_type(), EventType::Offers);
        assert!(event.has_offers());
        event.validate().unwrap();

        let offers: Vec<_> = event.offers().map(Result::unwrap).collect();
        assert_eq!(offers.len(), 2);
        let o = offers[0];
        assert_eq!(
            (o.id(), o.framework_id(), o.agent_id(), o.hostname()),
            (Ok("o1"), Ok(Some("fw")), Ok("a1"), Ok("h1.example"))
        );
        assert_eq!(o.allocation_role(), Ok(Some("web")));

        let rs: Vec<_> = o.resources().map(Result::unwrap).collect();
        let names: Vec<_> = rs.iter().map(|r| r.name().unwrap()).collect();
        assert_eq!(names, ["cpus", "mem", "ports", "disk", "zones"]);

        let cpus = rs[0];
        assert_eq!(
            (cpus.value_type(), cpus.scalar()),
            (ValueType::Scalar, Ok(Some(2.5)))
        );
        assert_eq!(
            (cpus.role(), cpus.is_reserved(), cpus.allocation_role()),
            (Ok("*"), Ok(false), Ok(Some("web")))
        );
        assert_eq!(
            (cpus.persistence_id(), cpus.is_revocable()),
            (Ok(None), Ok(false))
        );

        let mem = rs[1];
        assert_eq!(
            (mem.role(), mem.is_reserved(), mem.allocation_role()),
            (Ok("eng/fe"), Ok(true), Ok(None))
        );

        let ports = rs[2];
        assert_eq!(
            (ports.value_type(), ports.scalar()),
            (ValueType::Ranges, Ok(None))
        );
        assert_eq!(
            ports.ranges().unwrap().collect::<Vec<_>>(),
            [(31000, 31005), (32000, 32000)]
        );
        assert_eq!((ports.role(), ports.is_reserved()), (Ok("ops"), Ok(true)));

        let disk = rs[3];
        assert_eq!(
            (disk.persistence_id(), disk.role(), disk.is_reserved()),
            (Ok(Some("vol1")), Ok("db"), Ok(true))
        );

        let zones = rs[4];
        assert_eq!(zones.value_type(), ValueType::Set);
        assert_eq!(zones.set().unwrap().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(zones.is_revocable(), Ok(true));
        assert_eq!(
            zones.ranges().unwrap().count(),
            0,
            "a set resource has no ranges"
        );

        let attrs: Vec<_> = o.attributes().map(Result::unwrap).collect();
        assert_eq!(attrs.len(), 4);
        assert_eq!(
            (attrs[0].name(), attrs[0].value_type(), attrs[0].text()),
            (Ok("rack"), ValueType::Text, Ok(Some("r1")))
        );
        assert_eq!(
            (attrs[1].name(), attrs[1].scalar(), attrs[1].text()),
            (Ok("weight"), Ok(Some(3.0)), Ok(None))
        );
        assert_eq!(attrs[2].ranges().unwrap().collect::<Vec<_>>(), [(1, 4)]);
        assert_eq!(attrs[3].set().unwrap().collect::<Vec<_>>(), ["x", "y"]);

        let o2 = offers[1];
        assert_eq!(
            (o2.id(), o2.framework_id(), o2.agent_id(), o2.hostname()),
            (Ok("o2"), Ok(None), Ok("a2"), Ok("h2"))
        );
        assert_eq!(
            (
                o2.resources().count(),
                o2.attributes().count(),
                o2.allocation_role()
            ),
            (0, 0, Ok(None))
        );
    }

    #[test]
    fn every_truncated_prefix_errors_or_reads_a_prefix_of_the_offers() {
        let buf = sample_event();
        let (_, full) = summarize(&buf).unwrap();
        let mut accepted = 0;
        for n in 0..buf.len() {
            if let Ok((_, offers)) = summarize(&buf[..n]) {
                accepted += 1;
                assert!(
                    offers.len() <= full.len() && offers[..] == full[..offers.len()],
                    "prefix of {n} bytes read offers {offers:?}, not a prefix of {full:?}"
                );
            }
        }
        // Only cuts between top-level fields parse: empty, after `type`, and
        // after `offers` and each following unknown field.
        assert!(accepted >= 2, "some prefixes end on a field boundary");
    }

    #[test]
    fn corrupted_bytes_never_panic() {
        let buf = sample_event();
        for i in 0..buf.len() {
            for mask in [0x01u8, 0x02, 0x07, 0x80, 0x7f, 0xff] {
                let mut bad = buf.clone();
                bad[i] ^= mask;
                let _ = summarize(&bad);
            }
            let _ = summarize(&buf[i..]);
        }
    }

    #[test]
    fn varints_longer_than_64_bits_are_rejected() {
        // 11 bytes.
        let buf = Msg::new()
            .key(event::TYPE, WT_VARINT)
            .raw(&[0xff; 10])
            .raw(&[0x01])
            .build();
        assert_eq!(EventView::new(&buf).unwrap_err(), ViewError::VarintOverflow);
        // 10 bytes whose last carries bits above 63.
        let buf = Msg::new()
            .key(event::TYPE, WT_VARINT)
            .raw(&[0xff; 9])
            .raw(&[0x02])
            .build();
        assert_eq!(EventView::new(&buf).unwrap_err(), ViewError::VarintOverflow);
        // An overlong length prefix.
        let buf = Msg::new()
            .key(event::OFFERS, WT_LEN)
            .raw(&[0x80; 10])
            .raw(&[0x00])
            .build();
        assert_eq!(EventView::new(&buf).unwrap_err(), ViewError::VarintOverflow);
    }

    #[test]
    fn the_largest_varint_is_read_and_truncated_to_i32_like_prost() {
        let buf = Msg::new().varint(event::TYPE, u64::MAX).build();
        assert_eq!(buf.len(), 1 + MAX_VARINT_LEN);
        let event = EventView::new(&buf).unwrap();
        assert_eq!(event.event_type_raw(), Some(-1));
        assert_eq!(event.event_type(), EventType::Unrecognized(-1));
        // Non-canonical (padded) encodings are accepted, as by prost.
        let buf = Msg::new()
            .key(event::TYPE, WT_VARINT)
            .raw(&[0x82, 0x80, 0x00])
            .build();
        assert_eq!(event_type(&buf).unwrap(), EventType::Offers);
    }

    #[test]
    fn input_ending_inside_a_field_is_truncated() {
        for buf in [
            &[0x08][..],                   // key, no value
            &[0x08, 0x80][..],             // unterminated varint
            &[0x1a, 0x05, 0x0a][..],       // length beyond the input
            &[0x09, 1, 2, 3][..],          // short fixed64
            &[0x0d, 1, 2, 3][..],          // short fixed32
            &[0xa3, 0x06, 0x08, 0x01][..], // unterminated group
        ] {
            assert_eq!(
                EventView::new(buf).unwrap_err(),
                ViewError::Truncated,
                "{buf:x?}"
            );
        }
    }

    #[test]
    fn wrong_wire_types_name_the_field() {
        let cases: [(Vec<u8>, &str, u8); 7] = [
            (
                Msg::new().string(event::TYPE, "2").build(),
                "Event.type",
                WT_LEN,
            ),
            (
                Msg::new().varint(event::OFFERS, 1).build(),
                "Event.offers",
                WT_VARINT,
            ),
            (
                single_offer(second_offer().varint(offer::HOSTNAME, 1)),
                "Offer.hostname",
                WT_VARINT,
            ),
            (
                single_offer(second_offer().fixed32(offer::ID, 1)),
                "Offer.id",
                WT_FIXED32,
            ),
            (
                single_offer(second_offer().msg(
                    offer::RESOURCES,
                    scalar_resource("cpus", 1.0).varint(resource::SCALAR, 1),
                )),
                "Resource.scalar",
                WT_VARINT,
            ),
            (
                single_offer(
                    second_offer().msg(
                        offer::RESOURCES,
                        Msg::new()
                            .string(resource::NAME, "cpus")
                            .varint(resource::TYPE, 0)
                            .msg(resource::SCALAR, Msg::new().fixed32(value::SCALAR_VALUE, 1)),
                    ),
                ),
                "Value.Scalar.value",
                WT_FIXED32,
            ),
            (
                single_offer(
                    second_offer().msg(
                        offer::RESOURCES,
                        scalar_resource("cpus", 1.0)
                            .key(resource::TYPE, WT_START_GROUP)
                            .key(resource::TYPE, WT_END_GROUP),
                    ),
                ),
                "Resource.type",
                WT_START_GROUP,
            ),
        ];
        for (buf, field, wire_type) in cases {
            let got = summarize(&buf).unwrap_err();
            assert_eq!(got, ViewError::BadWireType { field, wire_type }, "{buf:x?}");
        }
    }

    #[test]
    fn unknown_fields_of_every_wire_type_are_skipped() {
        let plain = Msg::new()
            .msg(offer::ID, id("o"))
            .msg(offer::AGENT_ID, id("a"))
            .string(offer::HOSTNAME, "h");
        let with_unknown = unknown_fields(Msg::new())
            .msg(offer::ID, unknown_fields(id("o")))
            .msg(offer::AGENT_ID, id("a"))
            .string(offer::HOSTNAME, "h");
        assert_eq!(
            summarize(&single_offer(plain)).unwrap(),
            summarize(&single_offer(with_unknown)).unwrap()
        );
    }

    #[test]
    fn malformed_keys_and_groups_are_rejected() {
        assert_eq!(
            EventView::new(&[0x00]).unwrap_err(),
            ViewError::InvalidKey(0)
        );
        assert_eq!(
            EventView::new(&[0x07]).unwrap_err(),
            ViewError::InvalidKey(7)
        );
        assert_eq!(
            EventView::new(&[0x0e]).unwrap_err(),
            ViewError::InvalidWireType(6)
        );
        assert_eq!(
            EventView::new(&[0x0f]).unwrap_err(),
            ViewError::InvalidWireType(7)
        );
        let too_big = Msg::new().raw_varint(1 << 35).build();
        assert_eq!(
            EventView::new(&too_big).unwrap_err(),
            ViewError::InvalidKey(1 << 35)
        );
        let stray_end = Msg::new().key(5, WT_END_GROUP).build();
        assert_eq!(
            EventView::new(&stray_end).unwrap_err(),
            ViewError::UnmatchedEndGroup
        );
        let wrong_end = Msg::new()
            .key(5, WT_START_GROUP)
            .key(6, WT_END_GROUP)
            .build();
        assert_eq!(
            EventView::new(&wrong_end).unwrap_err(),
            ViewError::UnmatchedEndGroup
        );
    }

    #[test]
    fn nested_groups_are_bounded_not_a_stack_overflow() {
        let nested = |depth: u32| {
            let mut m = Msg::new();
            for _ in 0..depth {
                m = m.key(20, WT_START_GROUP);
            }
            for _ in 0..depth {
                m = m.key(20, WT_END_GROUP);
            }
            m.varint(event::TYPE, 2).build()
        };
        assert_eq!(
            event_type(&nested(MAX_GROUP_DEPTH)).unwrap(),
            EventType::Offers
        );
        assert_eq!(
            event_type(&nested(MAX_GROUP_DEPTH + 1)).unwrap_err(),
            ViewError::GroupTooDeep
        );
        let hostile = Msg::new().key(20, WT_START_GROUP).build().repeat(100_000);
        assert_eq!(event_type(&hostile).unwrap_err(), ViewError::GroupTooDeep);
    }

    #[test]
    fn invalid_utf8_names_the_field() {
        let invalid: &[u8] = &[b'x', 0xff, 0xfe];
        let resource = |m: Msg| single_offer(second_offer().msg(offer::RESOURCES, m));
        let attr = |m: Msg| single_offer(second_offer().msg(offer::ATTRIBUTES, m));
        let cases: [(Vec<u8>, &str); 8] = [
            (
                single_offer(second_offer().bytes(offer::HOSTNAME, invalid)),
                "Offer.hostname",
            ),
            (
                single_offer(second_offer().msg(offer::ID, Msg::new().bytes(id::VALUE, invalid))),
                "Offer.id.value",
            ),
            (
                resource(scalar_resource("cpus", 1.0).bytes(resource::NAME, invalid)),
                "Resource.name",
            ),
            (
                resource(scalar_resource("cpus", 1.0).bytes(resource::ROLE, invalid)),
                "Resource.role",
            ),
            (
                resource(scalar_resource("cpus", 1.0).msg(
                    resource::RESERVATIONS,
                    Msg::new().bytes(reservation_info::ROLE, invalid),
                )),
                "ReservationInfo.role",
            ),
            (
                resource(scalar_resource("cpus", 1.0).msg(
                    resource::ALLOCATION_INFO,
                    Msg::new().bytes(allocation_info::ROLE, invalid),
                )),
                "AllocationInfo.role",
            ),
            (
                attr(
                    Msg::new()
                        .string(attribute::NAME, "z")
                        .varint(attribute::TYPE, 2)
                        .msg(
                            attribute::SET,
                            Msg::new()
                                .string(value::SET_ITEM, "ok")
                                .bytes(value::SET_ITEM, invalid),
                        ),
                ),
                "Value.Set.item",
            ),
            (
                attr(
                    Msg::new()
                        .string(attribute::NAME, "t")
                        .varint(attribute::TYPE, 3)
                        .msg(
                            attribute::TEXT,
                            Msg::new().bytes(value::TEXT_VALUE, invalid),
                        ),
                ),
                "Value.Text.value",
            ),
        ];
        for (buf, field) in cases {
            assert_eq!(
                summarize(&buf).unwrap_err(),
                ViewError::InvalidUtf8 { field },
                "{field}"
            );
        }
    }

    #[test]
    fn missing_required_fields_are_reported() {
        let offer = |m: Msg| summarize(&single_offer(m)).unwrap_err();
        assert_eq!(
            offer(
                Msg::new()
                    .msg(offer::AGENT_ID, id("a"))
                    .string(offer::HOSTNAME, "h")
            ),
            ViewError::MissingField("Offer.id")
        );
        assert_eq!(
            offer(
                Msg::new()
                    .msg(offer::ID, id("o"))
                    .string(offer::HOSTNAME, "h")
            ),
            ViewError::MissingField("Offer.agent_id")
        );
        assert_eq!(
            offer(
                Msg::new()
                    .msg(offer::ID, id("o"))
                    .msg(offer::AGENT_ID, id("a"))
            ),
            ViewError::MissingField("Offer.hostname")
        );
        let resource = |m: Msg| offer(second_offer().msg(offer::RESOURCES, m));
        assert_eq!(
            resource(Msg::new().varint(resource::TYPE, 0)),
            ViewError::MissingField("Resource.name")
        );
        assert_eq!(
            resource(Msg::new().string(resource::NAME, "cpus")),
            ViewError::MissingField("Resource.type")
        );
        let attribute = |m: Msg| offer(second_offer().msg(offer::ATTRIBUTES, m));
        assert_eq!(
            attribute(Msg::new().varint(attribute::TYPE, 3)),
            ViewError::MissingField("Attribute.name")
        );
        assert_eq!(
            attribute(Msg::new().string(attribute::NAME, "rack")),
            ViewError::MissingField("Attribute.type")
        );
        // An id message without its value reads as prost's default, "".
        let buf = single_offer(
            Msg::new()
                .msg(offer::ID, Msg::new())
                .msg(offer::AGENT_ID, id("a"))
                .string(offer::HOSTNAME, "h"),
        );
        assert_eq!(first(&EventView::new(&buf).unwrap()).unwrap().id(), Ok(""));
    }

    #[test]
    fn repeated_scalars_take_the_last_and_sub_messages_merge_like_prost() {
        let offer = Msg::new()
            .msg(offer::ID, id("first"))
            .msg(offer::AGENT_ID, id("a"))
            .string(offer::HOSTNAME, "old")
            .msg(offer::RESOURCES, scalar_resource("r1", 1.0))
            .string(offer::HOSTNAME, "new")
            .msg(offer::ID, Msg::new()) // merges: keeps "first"
            .msg(offer::ALLOCATION_INFO, role("x"))
            .msg(offer::ALLOCATION_INFO, Msg::new()) // merges: keeps "x"
            .msg(offer::RESOURCES, {
                Msg::new()
                    .string(resource::NAME, "ignored")
                    .string(resource::NAME, "ports")
                    .varint(resource::TYPE, 0)
                    .varint(resource::TYPE, 1)
                    .msg(resource::RANGES, ranges(&[(1, 2)]))
                    .msg(resource::SCALAR, scalar(5.0))
                    .msg(resource::SCALAR, Msg::new()) // merges: keeps 5.0
                    .msg(resource::RANGES, ranges(&[(3, 4), (5, 6)]))
                    .msg(resource::SET, set(&["a"]))
                    .string(resource::ROLE, "r")
                    .msg(resource::SET, set(&["b"]))
                    .msg(
                        resource::DISK,
                        Msg::new().msg(
                            disk_info::PERSISTENCE,
                            Msg::new().string(persistence::ID, "v1"),
                        ),
                    )
                    .msg(resource::DISK, Msg::new()) // merges: keeps the volume
                    .msg(
                        resource::DISK,
                        // A persistence without `id` (only its principal)
                        // merges too: the id stays.
                        Msg::new().msg(disk_info::PERSISTENCE, Msg::new().string(2, "p")),
                    )
            });
        let second_wrapper = Msg::new().msg(event_offers::OFFERS, second_offer());
        let buf = Msg::new()
            .msg(event::OFFERS, Msg::new().msg(event_offers::OFFERS, offer))
            .varint(event::TYPE, 1)
            .msg(event::OFFERS, second_wrapper) // merges: offers concatenate
            .varint(event::TYPE, 2)
            .build();
        let event = EventView::new(&buf).unwrap();
        assert_eq!(event.event_type(), EventType::Offers);
        let offers: Vec<_> = event.offers().map(Result::unwrap).collect();
        assert_eq!(
            offers.iter().map(|o| o.id().unwrap()).collect::<Vec<_>>(),
            ["first", "o2"]
        );
        let o = offers[0];
        assert_eq!(
            (o.hostname(), o.allocation_role()),
            (Ok("new"), Ok(Some("x")))
        );
        let rs: Vec<_> = o.resources().map(Result::unwrap).collect();
        assert_eq!(rs.len(), 2);
        let ports = rs[1];
        assert_eq!(
            (ports.name(), ports.value_type(), ports.scalar()),
            (Ok("ports"), ValueType::Ranges, Ok(Some(5.0)))
        );
        assert_eq!(
            ports.ranges().unwrap().collect::<Vec<_>>(),
            [(1, 2), (3, 4), (5, 6)]
        );
        assert_eq!(ports.set().unwrap().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(ports.persistence_id(), Ok(Some("v1")));
        // An empty Scalar / Text / Persistence reads as prost's defaults.
        let defaults = Msg::new()
            .string(attribute::NAME, "t")
            .varint(attribute::TYPE, 3)
            .msg(attribute::TEXT, Msg::new())
            .msg(attribute::SCALAR, Msg::new());
        let buf = single_offer(second_offer().msg(offer::ATTRIBUTES, defaults));
        let event = EventView::new(&buf).unwrap();
        let a = first(&event).unwrap().attributes().next().unwrap().unwrap();
        assert_eq!((a.text(), a.scalar()), (Ok(Some("")), Ok(Some(0.0))));
    }

    #[test]
    fn each_resource_reads_its_own_roles() {
        // Roles with equal or overlapping bytes across resources: every
        // resource reads its own, whichever field they come from, and a
        // broken one fails only the accessor that reads it.
        let offer = second_offer()
            .msg(offer::ALLOCATION_INFO, role("web"))
            .msg(
                offer::RESOURCES,
                scalar_resource("cpus", 1.0)
                    .string(resource::ROLE, "*")
                    .msg(resource::ALLOCATION_INFO, role("web")),
            )
            .msg(
                offer::RESOURCES,
                scalar_resource("mem", 2.0)
                    .string(resource::ROLE, "web")
                    .msg(resource::ALLOCATION_INFO, role("we")),
            )
            .msg(
                offer::RESOURCES,
                scalar_resource("gpus", 3.0)
                    .msg(resource::RESERVATIONS, reservation("we"))
                    .msg(resource::ALLOCATION_INFO, role("web/x")),
            )
            .msg(
                offer::RESOURCES,
                scalar_resource("custom", 4.0)
                    .msg(resource::RESERVATIONS, reservation("web/x"))
                    .msg(resource::ALLOCATION_INFO, Msg::new()),
            )
            .msg(
                offer::RESOURCES,
                scalar_resource("bad", 5.0)
                    .msg(resource::ALLOCATION_INFO, Msg::new().bytes(1, b"web\xff")),
            );
        let buf = single_offer(offer);
        let event = EventView::new(&buf).unwrap();
        let o = first(&event).unwrap();
        let read: Vec<_> = o
            .resources()
            .map(|r| {
                let r = r.unwrap();
                (r.name(), r.role(), r.is_reserved(), r.allocation_role())
            })
            .collect();
        assert_eq!(
            read,
            [
                (Ok("cpus"), Ok("*"), Ok(false), Ok(Some("web"))),
                (Ok("mem"), Ok("web"), Ok(true), Ok(Some("we"))),
                (Ok("gpus"), Ok("we"), Ok(true), Ok(Some("web/x"))),
                (Ok("custom"), Ok("web/x"), Ok(true), Ok(None)),
                (
                    Ok("bad"),
                    Ok("*"),
                    Ok(false),
                    Err(ViewError::InvalidUtf8 {
                        field: "AllocationInfo.role"
                    })
                ),
            ]
        );
    }

    #[test]
    fn a_long_id_is_not_mistaken_for_a_short_one() {
        // `Offer.id` holding one field whose length is the two-byte varint
        // 0x85 0x01 (133) with only 132 bytes after it: truncated. A reading
        // that took 0x85 for a one-byte length would see 133 bytes after
        // the key and the length byte, all of them, and accept it.
        let mut value = vec![0x0a, 0x85, 0x01];
        value.extend(std::iter::repeat_n(b'x', 132));
        let buf = single_offer(
            Msg::new()
                .bytes(offer::ID, &value)
                .msg(offer::AGENT_ID, id("a"))
                .string(offer::HOSTNAME, "h"),
        );
        let event = EventView::new(&buf).unwrap();
        // The offer's own framing is fine; its id does not decode.
        assert_eq!(first(&event).unwrap().id(), Err(ViewError::Truncated));
        // And a long id read whole.
        let long = "x".repeat(300);
        let buf = single_offer(
            Msg::new()
                .msg(offer::ID, id(&long))
                .msg(offer::AGENT_ID, id("a"))
                .string(offer::HOSTNAME, "h"),
        );
        let event = EventView::new(&buf).unwrap();
        assert_eq!(first(&event).unwrap().id(), Ok(long.as_str()));
    }

    #[test]
    fn role_follows_the_reservation_stack_then_the_legacy_role() {
        let read = |m: Msg| {
            let buf = single_offer(second_offer().msg(offer::RESOURCES, m));
            let event = EventView::new(&buf).unwrap();
            let r = first(&event).unwrap().resources().next().unwrap().unwrap();
            (r.role().unwrap().to_owned(), r.is_reserved().unwrap())
        };
        let cpus = || scalar_resource("cpus", 1.0);
        assert_eq!(
            read(cpus()),
            ("*".to_owned(), false),
            "no role at all: unreserved"
        );
        assert_eq!(
            read(cpus().string(resource::ROLE, "*")),
            ("*".to_owned(), false)
        );
        assert_eq!(
            read(cpus().string(resource::ROLE, "eng")),
            ("eng".to_owned(), true),
            "static, pre-refinement"
        );
        assert_eq!(
            read(
                cpus()
                    .string(resource::ROLE, "*")
                    .msg(resource::RESERVATIONS, reservation("a"))
                    .msg(resource::RESERVATIONS, reservation("a/b"))
            ),
            ("a/b".to_owned(), true),
            "the last reservation wins over the legacy role"
        );
        assert_eq!(
            read(cpus().msg(resource::RESERVATIONS, Msg::new())),
            (String::new(), true),
            "a reservation without a role reads as \"\" like prost's getter"
        );
        // The pre-refinement `reservation` (8) does not change the role.
        assert_eq!(
            read(
                cpus()
                    .string(resource::ROLE, "eng")
                    .msg(8, Msg::new().string(1, "p"))
            ),
            ("eng".to_owned(), true)
        );
    }

    #[test]
    fn event_type_reads_without_touching_offers() {
        assert_eq!(
            event_type(&[]).unwrap(),
            EventType::Unknown,
            "absent type reads as UNKNOWN"
        );
        let heartbeat = Msg::new().varint(event::TYPE, 8).build();
        assert_eq!(event_type(&heartbeat).unwrap(), EventType::Heartbeat);
        let newer = Msg::new().varint(event::TYPE, 42).build();
        assert_eq!(event_type(&newer).unwrap(), EventType::Unrecognized(42));
        // A broken offer does not stop the dispatcher from reading the type.
        let broken = Msg::new()
            .varint(event::TYPE, 2)
            .msg(event::OFFERS, Msg::new().raw(&[0xff]))
            .build();
        assert_eq!(event_type(&broken).unwrap(), EventType::Offers);
        let event = EventView::new(&broken).unwrap();
        assert!(event.offers().next().unwrap().is_err());
        assert!(event.validate().is_err());
        for v in -1..=12 {
            assert_eq!(EventType::from_i32(v).as_i32(), v);
        }
        for v in -1..=4 {
            assert_eq!(ValueType::from_i32(v).as_i32(), v);
        }
    }

    #[test]
    fn iterators_stop_after_the_first_error() {
        let bad = Msg::new()
            .msg(offer::ID, id("bad"))
            .string(offer::HOSTNAME, "h"); // no agent id
        let buf = offers_event(&[second_offer(), bad, first_offer()]);
        let event = EventView::new(&buf).unwrap();
        let mut offers = event.offers();
        assert!(offers.next().unwrap().is_ok());
        assert_eq!(
            offers.next().unwrap().unwrap_err(),
            ViewError::MissingField("Offer.agent_id")
        );
        assert!(offers.next().is_none());
        assert!(offers.next().is_none());

        let offer = second_offer()
            .msg(offer::RESOURCES, scalar_resource("cpus", 1.0))
            .msg(offer::RESOURCES, Msg::new().varint(resource::TYPE, 0))
            .msg(offer::RESOURCES, scalar_resource("mem", 1.0));
        let buf = single_offer(offer);
        let event = EventView::new(&buf).unwrap();
        let results: Vec<_> = first(&event)
            .unwrap()
            .resources()
            .map(|r| r.map(|r| r.name().unwrap()))
            .collect();
        assert_eq!(
            results,
            [Ok("cpus"), Err(ViewError::MissingField("Resource.name"))]
        );
    }

    #[test]
    fn errors_display_what_went_wrong() {
        let e = ViewError::BadWireType {
            field: "Offer.hostname",
            wire_type: 0,
        };
        assert_eq!(
            e.to_string(),
            "field Offer.hostname has unexpected wire type 0"
        );
        assert_eq!(
            ViewError::MissingField("Offer.id").to_string(),
            "required field Offer.id is missing"
        );
        let _: &dyn std::error::Error = &e;
    }

    #[test]
    fn resource_bytes_and_disk_source() {
        let plain = scalar_resource("disk", 10.0).build();
        let r = ResourceView::new(&plain).unwrap();
        assert_eq!(
            r.as_bytes(),
            &plain[..],
            "as_bytes is the whole encoded resource"
        );
        assert_eq!(r.has_disk_source(), Ok(false));
        let with_volume_only = scalar_resource("disk", 10.0)
            .msg(
                resource::DISK,
                Msg::new().msg(2, Msg::new().string(1, "/data")),
            )
            .build();
        assert_eq!(
            ResourceView::new(&with_volume_only)
                .unwrap()
                .has_disk_source(),
            Ok(false)
        );
        let mount = scalar_resource("disk", 10.0)
            .msg(
                resource::DISK,
                Msg::new().msg(disk_info::SOURCE, Msg::new().varint(1, 2)),
            )
            .build();
        let r = ResourceView::new(&mount).unwrap();
        assert_eq!(r.has_disk_source(), Ok(true), "a MOUNT source is reported");
        assert_eq!(r.persistence_id(), Ok(None));
    }
}
