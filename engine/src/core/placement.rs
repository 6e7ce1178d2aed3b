//! Interim placement: first fit of pending instances onto one offer by cpus
//! and memory of its unreserved resources.
//!
//! This is the narrow interface the core calls per offer; the arena matcher
//! (constraints, ports, reservations, GPUs, spreading, the reasons for every
//! refusal) replaces the body, not the call site. Until then, apps that need
//! more than cpus and memory are not expressible, and reserved resources
//! are left unused.

use tritium_proto::view::{OfferView, ViewError};

/// Fixed-point milli-units, as the master compares scalars.
fn milli(v: f64) -> i64 {
    (v * 1000.0).round() as i64
}

/// What an offer has that the interim placement can use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capacity {
    pub cpus_milli: i64,
    pub mem_milli: i64,
}

impl Capacity {
    /// Unreserved cpus and mem of an offer.
    pub fn of_offer(offer: &OfferView<'_>) -> Result<Capacity, ViewError> {
        let mut c = Capacity::default();
        for r in offer.resources() {
            let r = r?;
            if r.is_reserved() || r.is_revocable() {
                continue;
            }
            match (r.name(), r.scalar()) {
                ("cpus", Some(v)) if v.is_finite() && v > 0.0 => c.cpus_milli += milli(v),
                ("mem", Some(v)) if v.is_finite() && v > 0.0 => c.mem_milli += milli(v),
                _ => {}
            }
        }
        Ok(c)
    }

    /// Take `cpus`/`mem` if they fit.
    pub fn take(&mut self, cpus: f64, mem: f64) -> bool {
        let (c, m) = (milli(cpus), milli(mem));
        if c <= self.cpus_milli && m <= self.mem_milli {
            self.cpus_milli -= c;
            self.mem_milli -= m;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_at_master_precision() {
        let mut c = Capacity {
            cpus_milli: 300,
            mem_milli: 1_000_000,
        };
        assert!(c.take(0.1, 10.0));
        assert!(c.take(0.2, 10.0), "0.1 + 0.2 fits in 0.3 at three decimals");
        assert!(!c.take(0.001, 1.0));
        assert_eq!(c.cpus_milli, 0);
    }
}
