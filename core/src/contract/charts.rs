//! The status page's charts: a fixed-size ring of one-second samples the
//! engine keeps (offers received and declined, placements, loop turns and
//! their latency, the latency from an OFFERS record to its answer) and a
//! ring of ten-second samples of pending instances (the total and the
//! apps with the most), over the last hour. `GET /v1/api/charts` answers
//! with a copy ([`ChartsView`]).
//!
//! Everything is allocated when the ring is made: recording a turn or an
//! OFFERS event writes a few integers; closing a second writes one slot;
//! the pending sample reuses its name buffers (an app's name is at most
//! [`crate::spec`]'s name limit, so they stop growing). Nothing here reads
//! a clock: the driver passes `Instant`s, and the wall clock once, when
//! the ring is made.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use tritium_core::contract::ChartRing;
//! let t0 = Instant::now();
//! let mut ring = ChartRing::new(t0, 1_700_000_000.0);
//! ring.turn(t0, Duration::from_micros(40), [10, 9, 1]);
//! ring.turn(t0 + Duration::from_millis(1500), Duration::from_micros(20), [10, 9, 1]);
//! let v = ring.view(t0 + Duration::from_millis(1500));
//! assert_eq!(v.offers_received, [10, 0]);
//! assert_eq!(v.placements, [1, 0]);
//! assert_eq!(v.start, 1_700_000_000);
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// One-second samples kept: an hour.
pub const CHART_SECONDS: usize = 3600;
/// Seconds per pending-instances sample.
pub const PENDING_INTERVAL: u64 = 10;
/// Pending-instances samples kept: an hour.
pub const PENDING_SAMPLES: usize = CHART_SECONDS / PENDING_INTERVAL as usize;
/// Apps kept per pending-instances sample (the ones with the most).
pub const PENDING_TOP_APPS: usize = 5;

/// One second of the engine's life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Second {
    offers_received: u32,
    offers_declined: u32,
    placements: u32,
    turns: u32,
    turn_sum_ns: u64,
    turn_max_ns: u64,
    offer_events: u32,
    offer_sum_ns: u64,
    offer_max_ns: u64,
}

/// One pending-instances sample.
#[derive(Debug, Clone, Default)]
struct Pending {
    total: u64,
    /// The apps with the most pending instances, most first; `len` of
    /// them are set (their buffers are reused).
    top: [(String, u64); PENDING_TOP_APPS],
    len: usize,
}

/// The ring of samples (see the module docs). Made once by the driver;
/// fixed size from then on.
#[derive(Debug, Clone)]
pub struct ChartRing {
    /// The instant of second 0 and its wall clock (Unix seconds).
    origin: Instant,
    origin_unix: f64,
    seconds: Box<[Second]>,
    /// The second (since `origin`) being filled now.
    current: u64,
    /// Counters (offers received, declined, tasks launched) at the end of
    /// the last turn, and at the start of the current second.
    last: [u64; 3],
    base: [u64; 3],
    pending: Box<[Pending]>,
    /// The ten-second period (since `origin`) of the last pending sample,
    /// if any.
    pending_at: Option<u64>,
    /// The period of the first pending sample.
    pending_first: u64,
    /// Top list being gathered for the next pending sample.
    gather: Pending,
}

impl ChartRing {
    /// An empty ring; `now` is the wall clock `origin_unix` (Unix seconds)
    /// names.
    pub fn new(now: Instant, origin_unix: f64) -> ChartRing {
        ChartRing {
            origin: now,
            origin_unix,
            seconds: vec![Second::default(); CHART_SECONDS].into_boxed_slice(),
            current: 0,
            last: [0; 3],
            base: [0; 3],
            pending: vec![Pending::default(); PENDING_SAMPLES].into_boxed_slice(),
            pending_at: None,
            pending_first: 0,
            gather: Pending::default(),
        }
    }

    fn second_of(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.origin).as_secs()
    }

    fn slot(&mut self, second: u64) -> &mut Second {
        &mut self.seconds[(second % CHART_SECONDS as u64) as usize]
    }

    /// Move to the second of `t`: the counters seen by the end of the last
    /// turn close the current second; seconds without a turn are zero.
    fn advance(&mut self, t: Instant) {
        let now = self.second_of(t);
        if now <= self.current {
            return;
        }
        let delta =
            |i: usize, s: &Self| (s.last[i].saturating_sub(s.base[i])).min(u32::MAX as u64) as u32;
        let (r, d, p) = (delta(0, self), delta(1, self), delta(2, self));
        let cur = self.current;
        let slot = self.slot(cur);
        slot.offers_received = r;
        slot.offers_declined = d;
        slot.placements = p;
        self.base = self.last;
        // Seconds skipped (an idle loop) are cleared, at most a whole ring.
        let skipped = (now - cur).min(CHART_SECONDS as u64);
        for k in 1..=skipped {
            let s = now - skipped + k;
            *self.slot(s) = Second::default();
        }
        self.current = now;
    }

    /// One loop turn that began at `start` and took `took`; `counters`
    /// are the session's offers received, offers declined and tasks
    /// launched so far (its `Stats`).
    pub fn turn(&mut self, start: Instant, took: Duration, counters: [u64; 3]) {
        self.advance(start);
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let cur = self.current;
        let s = self.slot(cur);
        s.turns = s.turns.saturating_add(1);
        s.turn_sum_ns = s.turn_sum_ns.saturating_add(ns);
        s.turn_max_ns = s.turn_max_ns.max(ns);
        self.last = counters;
    }

    /// One OFFERS event answered `took` after its record was framed.
    pub fn offers_answered(&mut self, at: Instant, took: Duration) {
        self.advance(at);
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let cur = self.current;
        let s = self.slot(cur);
        s.offer_events = s.offer_events.saturating_add(1);
        s.offer_sum_ns = s.offer_sum_ns.saturating_add(ns);
        s.offer_max_ns = s.offer_max_ns.max(ns);
    }

    /// Whether a pending-instances sample is due at `now` (one per
    /// [`PENDING_INTERVAL`]).
    pub fn pending_due(&self, now: Instant) -> bool {
        let period = self.second_of(now) / PENDING_INTERVAL;
        self.pending_at != Some(period)
    }

    /// Count one app's pending instances into the sample being gathered
    /// (call for every app with some, then [`ChartRing::pending_done`]).
    pub fn pending_app(&mut self, app: &str, n: usize) {
        let n = n as u64;
        let g = &mut self.gather;
        g.total = g.total.saturating_add(n);
        if n == 0 {
            return;
        }
        // Insertion into a short list sorted by count, most first (ties:
        // the first seen stays ahead).
        let mut at = g.len;
        while at > 0 && g.top[at - 1].1 < n {
            at -= 1;
        }
        if at >= PENDING_TOP_APPS {
            return;
        }
        if g.len < PENDING_TOP_APPS {
            g.len += 1;
        }
        // Shift down by swapping, so the buffers move instead of being
        // dropped; the one that falls off the end becomes the new entry's.
        for i in (at + 1..g.len).rev() {
            g.top.swap(i, i - 1);
        }
        let e = &mut g.top[at];
        e.0.clear();
        e.0.push_str(app);
        e.1 = n;
    }

    /// Store the gathered sample as the one of `now`'s ten seconds.
    pub fn pending_done(&mut self, now: Instant) {
        let period = self.second_of(now) / PENDING_INTERVAL;
        if let Some(last) = self.pending_at {
            // Periods skipped are cleared (no sample: the loop was idle,
            // and nothing changed that it would have seen).
            let skipped = period.saturating_sub(last + 1).min(PENDING_SAMPLES as u64);
            for k in 0..skipped {
                let p = period - skipped + k;
                let slot = &mut self.pending[(p % PENDING_SAMPLES as u64) as usize];
                slot.total = u64::MAX;
                slot.len = 0;
            }
        }
        if self.pending_at.is_none() {
            self.pending_first = period;
        }
        let slot = &mut self.pending[(period % PENDING_SAMPLES as u64) as usize];
        std::mem::swap(slot, &mut self.gather);
        self.gather.total = 0;
        self.gather.len = 0;
        self.pending_at = Some(period);
    }

    /// The samples of the last hour up to `now`, oldest first (allocates:
    /// called for an API request, not per turn).
    pub fn view(&self, now: Instant) -> ChartsView {
        let end = self.second_of(now).max(self.current);
        let first = (end + 1).saturating_sub(CHART_SECONDS as u64);
        let n = (end + 1 - first) as usize;
        let mut v = ChartsView {
            start: (self.origin_unix + first as f64).floor() as u64,
            interval_seconds: 1,
            offers_received: Vec::with_capacity(n),
            offers_declined: Vec::with_capacity(n),
            placements: Vec::with_capacity(n),
            turns: Vec::with_capacity(n),
            turn_mean_us: Vec::with_capacity(n),
            turn_max_us: Vec::with_capacity(n),
            offer_answer_mean_us: Vec::with_capacity(n),
            offer_answer_max_us: Vec::with_capacity(n),
            pending: PendingView {
                start: 0,
                interval_seconds: PENDING_INTERVAL,
                total: Vec::new(),
                apps: BTreeMap::new(),
            },
        };
        let us = |ns: u64| (ns / 1000).min(u32::MAX as u64) as u32;
        for s in first..=end {
            let mut x = if s > self.current {
                Second::default()
            } else {
                self.seconds[(s % CHART_SECONDS as u64) as usize]
            };
            if s == self.current {
                // The second being filled: its counters so far.
                let d = |i: usize| {
                    (self.last[i].saturating_sub(self.base[i])).min(u32::MAX as u64) as u32
                };
                x.offers_received = d(0);
                x.offers_declined = d(1);
                x.placements = d(2);
            }
            v.offers_received.push(x.offers_received);
            v.offers_declined.push(x.offers_declined);
            v.placements.push(x.placements);
            v.turns.push(x.turns);
            v.turn_mean_us
                .push(us(x.turn_sum_ns.checked_div(x.turns as u64).unwrap_or(0)));
            v.turn_max_us.push(us(x.turn_max_ns));
            v.offer_answer_mean_us.push(us(x
                .offer_sum_ns
                .checked_div(x.offer_events as u64)
                .unwrap_or(0)));
            v.offer_answer_max_us.push(us(x.offer_max_ns));
        }
        if let Some(last) = self.pending_at {
            let end = (self.second_of(now) / PENDING_INTERVAL).max(last);
            let first = (end + 1).saturating_sub(PENDING_SAMPLES as u64);
            v.pending.start = (self.origin_unix + (first * PENDING_INTERVAL) as f64).floor() as u64;
            let n = (end + 1 - first) as usize;
            for (i, p) in (first..=end).enumerate() {
                let slot = &self.pending[(p % PENDING_SAMPLES as u64) as usize];
                let known = p >= self.pending_first && p <= last && slot.total != u64::MAX;
                v.pending
                    .total
                    .push(known.then(|| slot.total.min(u32::MAX as u64) as u32));
                if !known {
                    continue;
                }
                for (name, count) in &slot.top[..slot.len] {
                    let series = v
                        .pending
                        .apps
                        .entry(name.clone())
                        .or_insert_with(|| vec![None; n]);
                    series[i] = Some((*count).min(u32::MAX as u64) as u32);
                }
            }
        }
        v
    }
}

/// `GET /v1/api/charts`: the last hour, one value per second per series,
/// oldest first (each series has the same length; the last value is the
/// second under way). Counts are per second; latencies in microseconds
/// (0 for a second without a turn or an OFFERS event).
///
/// ```
/// use tritium_core::contract::ChartsView;
/// let v: ChartsView = serde_json::from_str(r#"{"start": 1700000000, "interval_seconds": 1,
///   "offers_received": [3], "offers_declined": [2], "placements": [1], "turns": [4],
///   "turn_mean_us": [50], "turn_max_us": [90], "offer_answer_mean_us": [200],
///   "offer_answer_max_us": [200], "pending": {"start": 1700000000,
///   "interval_seconds": 10, "total": [2], "apps": {"web": [2]}}}"#).unwrap();
/// assert_eq!(v.pending.apps["web"], [Some(2)]);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartsView {
    /// Unix seconds of the first sample.
    pub start: u64,
    /// Seconds per sample (1).
    pub interval_seconds: u64,
    /// Offers received per second.
    pub offers_received: Vec<u32>,
    /// Offers declined per second.
    pub offers_declined: Vec<u32>,
    /// Tasks launched (placed) per second.
    pub placements: Vec<u32>,
    /// Engine loop turns per second.
    pub turns: Vec<u32>,
    /// Mean loop turn, microseconds.
    pub turn_mean_us: Vec<u32>,
    /// Longest loop turn, microseconds.
    pub turn_max_us: Vec<u32>,
    /// Mean time from an OFFERS record framed to its answer written.
    pub offer_answer_mean_us: Vec<u32>,
    /// Longest such time.
    pub offer_answer_max_us: Vec<u32>,
    /// Pending instances every ten seconds.
    pub pending: PendingView,
}

/// Pending instances over the last hour, one sample per
/// `interval_seconds`: the total, and for each app that was among the
/// [`PENDING_TOP_APPS`] with the most in some sample, its count in the
/// samples where it was (`null` elsewhere: not among them, or no sample).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingView {
    /// Unix seconds of the first sample.
    pub start: u64,
    /// Seconds per sample (10).
    pub interval_seconds: u64,
    /// All apps' pending instances (`null`: no sample then).
    pub total: Vec<Option<u32>>,
    /// The top apps' pending instances, by app name.
    pub apps: BTreeMap<String, Vec<Option<u32>>>,
}

impl ChartsView {
    /// An empty view (a session without a driver answers with it).
    pub fn empty() -> ChartsView {
        ChartsView {
            start: 0,
            interval_seconds: 1,
            offers_received: Vec::new(),
            offers_declined: Vec::new(),
            placements: Vec::new(),
            turns: Vec::new(),
            turn_mean_us: Vec::new(),
            turn_max_us: Vec::new(),
            offer_answer_mean_us: Vec::new(),
            offer_answer_max_us: Vec::new(),
            pending: PendingView {
                start: 0,
                interval_seconds: PENDING_INTERVAL,
                total: Vec::new(),
                apps: BTreeMap::new(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_close_with_their_counters_and_idle_seconds_are_zero() {
        let t0 = Instant::now();
        let mut r = ChartRing::new(t0, 1000.0);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        r.turn(at(0), Duration::from_micros(10), [5, 4, 1]);
        r.turn(at(500), Duration::from_micros(30), [8, 6, 2]);
        r.offers_answered(at(500), Duration::from_micros(100));
        // Idle for two seconds, then a turn at 3.2 s.
        r.turn(at(3200), Duration::from_micros(7), [9, 7, 2]);
        let v = r.view(at(3200));
        assert_eq!(v.start, 1000);
        assert_eq!(v.offers_received, [8, 0, 0, 1]);
        assert_eq!(v.offers_declined, [6, 0, 0, 1]);
        assert_eq!(v.placements, [2, 0, 0, 0]);
        assert_eq!(v.turns, [2, 0, 0, 1]);
        assert_eq!(v.turn_mean_us, [20, 0, 0, 7]);
        assert_eq!(v.turn_max_us, [30, 0, 0, 7]);
        assert_eq!(v.offer_answer_max_us, [100, 0, 0, 0]);
    }

    #[test]
    fn the_ring_keeps_an_hour_and_does_not_grow() {
        let t0 = Instant::now();
        let mut r = ChartRing::new(t0, 0.0);
        for s in 0..(CHART_SECONDS as u64 * 2 + 7) {
            r.turn(
                t0 + Duration::from_secs(s),
                Duration::from_micros(1),
                [s, 0, 0],
            );
        }
        assert_eq!(r.seconds.len(), CHART_SECONDS);
        let v = r.view(t0 + Duration::from_secs(CHART_SECONDS as u64 * 2 + 6));
        assert_eq!(v.offers_received.len(), CHART_SECONDS);
        assert_eq!(v.start, CHART_SECONDS as u64 + 7);
        // One offer counted per second, the last second still open.
        assert!(
            v.offers_received[..CHART_SECONDS - 1]
                .iter()
                .all(|n| *n == 1)
        );
        // A jump of more than an hour clears everything.
        let far = t0 + Duration::from_secs(CHART_SECONDS as u64 * 5);
        r.turn(far, Duration::from_micros(1), [1_000_000, 0, 0]);
        let v = r.view(far);
        assert_eq!(v.offers_received.len(), CHART_SECONDS);
        assert!(v.turns[..CHART_SECONDS - 1].iter().all(|n| *n == 0));
    }

    #[test]
    fn pending_keeps_the_top_apps_per_sample() {
        let t0 = Instant::now();
        let mut r = ChartRing::new(t0, 0.0);
        assert!(r.pending_due(t0));
        for (i, name) in ["a", "b", "c", "d", "e", "f", "g"].iter().enumerate() {
            r.pending_app(name, i + 1);
        }
        r.pending_done(t0);
        assert!(!r.pending_due(t0 + Duration::from_secs(9)));
        let later = t0 + Duration::from_secs(25);
        assert!(r.pending_due(later));
        r.pending_app("a", 4);
        r.pending_done(later);
        let v = r.view(later);
        assert_eq!(v.pending.total, [Some(28), None, Some(4)]);
        assert_eq!(v.pending.apps["g"], [Some(7), None, None]);
        assert_eq!(v.pending.apps["c"], [Some(3), None, None]);
        assert_eq!(v.pending.apps["a"], [None, None, Some(4)]);
        assert!(!v.pending.apps.contains_key("b"), "{v:?}");
    }
}
