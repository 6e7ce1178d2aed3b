//! What the driver measures about itself: loop turns, bytes, calls, and how
//! long the engine takes from an OFFERS record being framed to its decisions
//! being written. Plain counters and fixed-size histograms, updated by the
//! engine thread only; nothing here allocates after construction, except
//! the text of the last TLS failure.

use std::time::Duration;

/// Buckets of a [`Log2Histogram`]: bucket `i` counts values in
/// `[2^i, 2^(i+1))` nanoseconds (bucket 0 also takes 0). 2^40 ns ≈ 18
/// minutes; anything longer lands in the last bucket.
pub const HISTOGRAM_BUCKETS: usize = 41;

/// Each power-of-two bucket is split in this many equal parts, so a
/// quantile is known to within 12.5 % (a p99 of 4.6 ms is told from 5 ms).
const SUB: usize = 8;
const SUB_BITS: usize = 3;

/// A histogram of durations with power-of-two buckets, each split in eight:
/// fixed size, no allocation. It serializes as the power-of-two `buckets`
/// (what `/metrics` and the plots read) plus `count`, `sum_ns`, `max_ns`;
/// quantiles use the finer split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log2Histogram {
    /// Counts per eighth of a power-of-two bucket, lowest first.
    fine: [u64; HISTOGRAM_BUCKETS * SUB],
    count: u64,
    sum_ns: u64,
    max_ns: u64,
}

impl Default for Log2Histogram {
    fn default() -> Self {
        Log2Histogram {
            fine: [0; HISTOGRAM_BUCKETS * SUB],
            count: 0,
            sum_ns: 0,
            max_ns: 0,
        }
    }
}

/// The fine bucket of `ns`.
fn fine_index(ns: u64) -> usize {
    let octave = 63 - ns.max(1).leading_zeros() as usize;
    if octave >= HISTOGRAM_BUCKETS {
        return HISTOGRAM_BUCKETS * SUB - 1;
    }
    let sub = if octave >= SUB_BITS {
        ((ns >> (octave - SUB_BITS)) as usize) & (SUB - 1)
    } else {
        0
    };
    octave * SUB + sub
}

/// The largest value fine bucket `ix` holds (the last is open-ended).
fn fine_top(ix: usize) -> u64 {
    let (octave, sub) = (ix / SUB, ix % SUB);
    if ix == HISTOGRAM_BUCKETS * SUB - 1 {
        return u64::MAX;
    }
    if octave >= SUB_BITS {
        (((SUB + sub + 1) as u64) << (octave - SUB_BITS)) - 1
    } else {
        (1u64 << (octave + 1)) - 1
    }
}

impl Log2Histogram {
    /// Count one duration.
    pub fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.fine[fine_index(ns)] += 1;
        self.count += 1;
        self.sum_ns = self.sum_ns.saturating_add(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    /// The sum of every value recorded, in nanoseconds.
    pub fn sum_ns(&self) -> u64 {
        self.sum_ns
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest value recorded.
    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.max_ns)
    }

    /// The mean of the values recorded.
    pub fn mean(&self) -> Duration {
        Duration::from_nanos(self.sum_ns.checked_div(self.count).unwrap_or(0))
    }

    /// An upper bound of the `q` quantile (`0.0..=1.0`): the top of the
    /// eighth of a power-of-two bucket it falls in (at most 12.5 % above
    /// the true value), never more than the maximum seen. Zero when empty.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.fine.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Duration::from_nanos(fine_top(i).min(self.max_ns));
            }
        }
        self.max()
    }

    /// Counts per power-of-two bucket, lowest first (bucket `i` holds
    /// `[2^i, 2^(i+1))` ns): what `/metrics` exports.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tritium_core::contract::Log2Histogram;
    /// let mut h = Log2Histogram::default();
    /// h.record(Duration::from_nanos(1000)); // in [512, 1024)
    /// assert_eq!(h.coarse()[9], 1);
    /// assert_eq!(h.sum_ns(), 1000);
    /// ```
    pub fn coarse(&self) -> [u64; HISTOGRAM_BUCKETS] {
        let mut c = [0; HISTOGRAM_BUCKETS];
        for (i, n) in self.fine.iter().enumerate() {
            c[i / SUB] += n;
        }
        c
    }

    /// `(bucket upper bound, count)` for non-empty power-of-two buckets,
    /// for exporters (the last bucket's bound is `Duration::MAX`).
    pub fn buckets(&self) -> impl Iterator<Item = (Duration, u64)> + '_ {
        self.coarse()
            .into_iter()
            .enumerate()
            .filter(|(_, n)| *n > 0)
            .map(|(i, n)| {
                let top = if i == HISTOGRAM_BUCKETS - 1 {
                    Duration::MAX
                } else {
                    Duration::from_nanos((1u64 << (i + 1)) - 1)
                };
                (top, n)
            })
    }

    /// `(bucket upper bound, count)` for non-empty eighths of buckets.
    pub fn fine_buckets(&self) -> impl Iterator<Item = (Duration, u64)> + '_ {
        self.fine_tops().map(|(top, n)| {
            let top = if top == u64::MAX {
                Duration::MAX
            } else {
                Duration::from_nanos(top)
            };
            (top, n)
        })
    }

    /// `(top ns, count)` of the non-empty eighths (the open-ended last
    /// one's top is `u64::MAX`).
    fn fine_tops(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.fine
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| (fine_top(i), *n))
    }
}

impl serde::Serialize for Log2Histogram {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Log2Histogram", 5)?;
        st.serialize_field("buckets", &self.coarse()[..])?;
        st.serialize_field("count", &self.count)?;
        st.serialize_field("sum_ns", &self.sum_ns)?;
        st.serialize_field("max_ns", &self.max_ns)?;
        // Non-empty eighths as `[top_ns, count]` pairs (the open-ended
        // last one's top is u64::MAX): two snapshots give a window's
        // quantiles.
        let fine: Vec<(u64, u64)> = self.fine_tops().collect();
        st.serialize_field("fine", &fine)?;
        st.end()
    }
}

/// Counters of the driver (the core keeps its own, see `core::Stats`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DriverStats {
    /// Loop turns (one `poll` wake-up each).
    pub turns: u64,
    /// From `poll` returning to the turn's outputs being written.
    pub turn_latency: Log2Histogram,
    /// From an OFFERS record being framed to every output the core produced
    /// for it (and for store commits that completed meanwhile, which
    /// releases ACCEPTs) having been handed to the sockets and the store.
    pub offers_latency: Log2Histogram,
    /// RecordIO records framed.
    pub records: u64,
    /// Bytes of RecordIO records framed.
    pub record_bytes: u64,
    /// Size of the largest record so far (against `max_record_len`).
    pub largest_record: u64,
    /// OFFERS events framed.
    pub offers_events: u64,
    /// Bytes read from the subscription connection.
    pub stream_bytes_read: u64,
    /// Subscription connections opened.
    pub subscriptions_opened: u64,
    /// Calls sent to the master.
    pub calls_sent: u64,
    /// Answers to calls read.
    pub call_responses: u64,
    /// Times the call connection failed with calls unanswered.
    pub call_failures: u64,
    /// Calls refused because the call connection's queue was full.
    pub calls_refused: u64,
    /// Most calls held back at once because `max_calls_in_flight` were
    /// unanswered on the wire (they go out as answers come).
    pub calls_waiting_max: u64,
    /// Most bytes of calls unwritten at once, as reported to the core for
    /// flow control (bounded by `max_call_queue_bytes`).
    pub call_queue_bytes_max: u64,
    /// Call connections opened.
    pub call_connections_opened: u64,
    /// Store batches submitted.
    pub store_batches: u64,
    /// From a batch being submitted to the store to its commit being
    /// reported (file store: the turn's group commit, fsync included).
    pub store_commit_latency: Log2Histogram,
    /// Store failures reported (the core then stops).
    pub store_failures: u64,
    /// Ends of the subscription stream, by cause: the master closed it,
    /// a socket or connect error (TLS ones included), broken framing.
    pub stream_closed_eof: u64,
    /// See `stream_closed_eof`.
    pub stream_closed_io: u64,
    /// See `stream_closed_eof`.
    pub stream_closed_protocol: u64,
    /// Commands the API sent.
    pub commands: u64,
    /// Replies the core produced.
    pub replies: u64,
    /// Replies whose requester had gone (or an id nobody waits for).
    pub replies_dropped: u64,
    /// App/task change notifications dropped because the API's event
    /// channel was full.
    pub notify_dropped: u64,
    /// The core still reported a passed deadline right after a Timer input;
    /// the driver then waits at least a millisecond instead of spinning.
    pub stuck_timers: u64,
    /// TLS handshakes completed (subscription and call connections).
    pub tls_handshakes: u64,
    /// Connections that failed with a TLS error (a certificate not trusted,
    /// a failed handshake, a TLS error on an established session).
    pub tls_failures: u64,
    /// The reason of the last of them, as given to the core (`TLS: master
    /// host:port: ...`).
    pub last_tls_error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log2_buckets_and_quantiles() {
        let mut h = Log2Histogram::default();
        assert_eq!(h.quantile(0.5), Duration::ZERO);
        for us in [1u64, 2, 3, 100, 1000] {
            h.record(Duration::from_micros(us));
        }
        h.record(Duration::ZERO);
        h.record(Duration::from_secs(100_000)); // past the last bucket
        assert_eq!(h.count(), 7);
        assert_eq!(h.max(), Duration::from_secs(100_000));
        // The median (3 µs) lies in [2048, 4096), in its eighth
        // [2816, 3072).
        assert_eq!(h.quantile(0.5), Duration::from_nanos(3071));
        assert_eq!(h.quantile(1.0), h.max());
        assert!(h.quantile(0.0) <= Duration::from_nanos(1));
        let total: u64 = h.buckets().map(|(_, n)| n).sum();
        assert_eq!(total, 7);
        let json = serde_json::to_value(&h).unwrap();
        assert_eq!(
            json["buckets"].as_array().map(Vec::len),
            Some(HISTOGRAM_BUCKETS)
        );
        // 1 µs = 1000 ns lies in the power-of-two bucket [512, 1024).
        assert_eq!(json["buckets"][9], 1);
    }

    #[test]
    fn quantiles_are_within_an_eighth_above_the_value() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let ns = x % 10_000_000_000;
            let mut h = Log2Histogram::default();
            h.record(Duration::from_nanos(ns));
            h.record(Duration::from_nanos(u64::MAX / 2)); // the max stays above
            let q = h.quantile(0.5).as_nanos() as u64;
            assert!(q >= ns, "{q} < {ns}");
            assert!(q as f64 <= (ns.max(8) as f64) * 1.125, "{q} for {ns}");
            let fine_total: u64 = h.fine_buckets().map(|(_, n)| n).sum();
            assert_eq!(fine_total, 2);
        }
    }
}
