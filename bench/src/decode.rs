//! The decode work the benchmarks time, shared by `tritium-bench decode` and
//! the criterion bench.
//!
//! Each variant frames a whole RecordIO body with the engine's
//! [`RecordStream`] (identity body, until close: records come out as
//! zero-copy [`Bytes`] slices of the buffer) and then does exactly what the
//! Go and Python peers in `shared/bench-peers` do per event: decode it, and
//! for OFFERS events touch every offer by summing its `cpus` scalars.
//!
//! - [`Variant::View`]: [`EventView`], the borrowed lazy reader; every event
//!   is typed through the view, offers are walked through it.
//! - [`Variant::Prost`]: a full `prost` decode of every record into
//!   `scheduler::Event` (strings allocated, `bytes` fields sliced from the
//!   record), then the same walk over the structs.
//! - [`Variant::Framing`]: framing only; no record is decoded.

use std::fmt;

use bytes::{Bytes, BytesMut};
use prost::Message;
use tritium_engine::wire::{BodyFraming, DEFAULT_MAX_RECORD_LEN, RecordStream, StreamError};
use tritium_proto::scheduler::{self, event};
use tritium_proto::view::{EventType, EventView, ViewError};

/// Buckets for events by raw type (0..=11 are Mesos' types; the last one
/// collects anything else).
pub const TYPE_BUCKETS: usize = 16;

/// Which decoder a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    View,
    Prost,
    Framing,
}

impl Variant {
    /// All variants, in the order `tritium-bench decode` reports them.
    pub const ALL: [Variant; 3] = [Variant::View, Variant::Prost, Variant::Framing];

    /// The peer name printed for this variant.
    pub fn peer_name(self) -> &'static str {
        match self {
            Variant::View => "tritium-view",
            Variant::Prost => "tritium-prost",
            Variant::Framing => "tritium-framing",
        }
    }

    /// Parses `view`, `prost` or `framing`.
    pub fn parse(s: &str) -> Option<Variant> {
        match s {
            "view" => Some(Variant::View),
            "prost" => Some(Variant::Prost),
            "framing" => Some(Variant::Framing),
            _ => None,
        }
    }

    /// Runs this variant over the whole body in `buf` (consumed).
    pub fn run(self, buf: &mut BytesMut) -> Result<Tally, DecodeError> {
        match self {
            Variant::View => decode_view(buf),
            Variant::Prost => decode_prost(buf),
            Variant::Framing => frame_only(buf),
        }
    }
}

/// What one pass over the stream saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tally {
    /// Records (events) framed.
    pub events: u64,
    /// Offers walked (0 for framing only).
    pub offers: u64,
    /// Sum over offers of the offer's `cpus` scalars.
    pub cpus: f64,
    /// Record payload bytes framed.
    pub payload_bytes: u64,
    /// Events by raw type (not filled in by framing only).
    pub by_type: [u64; TYPE_BUCKETS],
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            events: 0,
            offers: 0,
            cpus: 0.0,
            payload_bytes: 0,
            by_type: [0; TYPE_BUCKETS],
        }
    }
}

impl Tally {
    fn count_type(&mut self, raw: i32) {
        let i = usize::try_from(raw)
            .ok()
            .filter(|&i| i < TYPE_BUCKETS - 1)
            .unwrap_or(TYPE_BUCKETS - 1);
        self.by_type[i] += 1;
    }
}

/// Why a pass failed.
#[derive(Debug)]
pub enum DecodeError {
    Stream(StreamError),
    View {
        event: u64,
        error: ViewError,
    },
    Prost {
        event: u64,
        error: prost::DecodeError,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Stream(e) => write!(f, "framing: {e}"),
            DecodeError::View { event, error } => write!(f, "event {event} (view): {error}"),
            DecodeError::Prost { event, error } => write!(f, "event {event} (prost): {error}"),
        }
    }
}

impl std::error::Error for DecodeError {}

impl From<StreamError> for DecodeError {
    fn from(e: StreamError) -> Self {
        DecodeError::Stream(e)
    }
}

/// Frames every record of the identity body in `buf` and hands it to `f`.
/// The whole body must be in `buf`: a cut record is an error.
#[inline]
fn for_each_record(
    buf: &mut BytesMut,
    mut f: impl FnMut(Bytes) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let mut stream = RecordStream::new(BodyFraming::UntilClose, DEFAULT_MAX_RECORD_LEN)?;
    while let Some(record) = stream.next_record(buf)? {
        f(record)?;
    }
    match stream.on_eof(buf) {
        StreamError::Ended => Ok(()),
        e => Err(e.into()),
    }
}

/// Framing only.
pub fn frame_only(buf: &mut BytesMut) -> Result<Tally, DecodeError> {
    let mut t = Tally::default();
    for_each_record(buf, |record| {
        t.events += 1;
        t.payload_bytes += record.len() as u64;
        Ok(())
    })?;
    Ok(t)
}

/// Framing, typing every event through [`EventView`], and summing the cpus
/// of every offer of the OFFERS events through the view.
pub fn decode_view(buf: &mut BytesMut) -> Result<Tally, DecodeError> {
    let mut t = Tally::default();
    for_each_record(buf, |record| {
        let event = t.events;
        let err = |error| DecodeError::View { event, error };
        let view = EventView::new(&record).map_err(err)?;
        t.events += 1;
        t.payload_bytes += record.len() as u64;
        let ty = view.event_type();
        t.count_type(ty.as_i32());
        if ty == EventType::Offers {
            for offer in view.offers() {
                let offer = offer.map_err(err)?;
                let mut c = 0.0;
                for resource in offer.resources() {
                    let resource = resource.map_err(err)?;
                    if resource.name().map_err(err)? == "cpus"
                        && let Some(v) = resource.scalar().map_err(err)?
                    {
                        c += v;
                    }
                }
                t.cpus += c;
                t.offers += 1;
            }
        }
        Ok(())
    })?;
    Ok(t)
}

/// Framing, a full prost decode of every event, and the same walk over the
/// decoded offers.
pub fn decode_prost(buf: &mut BytesMut) -> Result<Tally, DecodeError> {
    let mut t = Tally::default();
    for_each_record(buf, |record| {
        let len = record.len() as u64;
        let ev = scheduler::Event::decode(record).map_err(|error| DecodeError::Prost {
            event: t.events,
            error,
        })?;
        t.events += 1;
        t.payload_bytes += len;
        let ty = ev.r#type.unwrap_or(0);
        t.count_type(ty);
        if ty == event::Type::Offers as i32
            && let Some(offers) = &ev.offers
        {
            for offer in &offers.offers {
                let mut c = 0.0;
                for r in &offer.resources {
                    if r.name == "cpus"
                        && let Some(s) = &r.scalar
                    {
                        c += s.value;
                    }
                }
                t.cpus += c;
                t.offers += 1;
            }
        }
        Ok(())
    })?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GenParams, generate};

    #[test]
    fn view_and_prost_agree_on_a_generated_stream() {
        let (bytes, summary) = generate(&GenParams {
            agents: 500,
            events: 120,
            offers_per_event: 20,
            seed: 9,
        });
        let run = |v: Variant| v.run(&mut BytesMut::from(&bytes[..])).unwrap();
        let view = run(Variant::View);
        let prost = run(Variant::Prost);
        let framing = run(Variant::Framing);
        assert_eq!(view.events, summary.events);
        assert_eq!(view.offers, summary.offers);
        assert!(view.cpus > 0.0);
        assert_eq!(view.cpus.to_bits(), prost.cpus.to_bits());
        assert_eq!(view, prost);
        assert_eq!(framing.events, view.events);
        assert_eq!(framing.payload_bytes, view.payload_bytes);
        assert_eq!(view.by_type[2], summary.count("OFFERS"));
        assert_eq!(view.by_type[4], summary.count("UPDATE"));
    }

    #[test]
    fn a_cut_stream_is_an_error() {
        let (bytes, _) = generate(&GenParams {
            agents: 50,
            events: 5,
            offers_per_event: 3,
            seed: 1,
        });
        for v in Variant::ALL {
            let mut buf = BytesMut::from(&bytes[..bytes.len() - 1]);
            assert!(v.run(&mut buf).is_err(), "{v:?}");
        }
    }
}
