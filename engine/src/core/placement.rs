//! Interim placement: first fit of pending instances onto one offer by cpus
//! and memory of its unreserved resources.
//!
//! This is the narrow interface the core calls per offer; the arena matcher
//! (constraints, ports, reservations, GPUs, spreading, the reasons for every
//! refusal) replaces the body, not the call site. Until then, apps that need
//! more than cpus and memory are not expressible, and reserved resources
//! are left unused.

use tritium_proto::view::{OfferView, ViewError};

use crate::spec::AppSpec;

/// Fixed-point milli-units, as the master compares scalars.
fn milli(v: f64) -> i64 {
    (v * 1000.0).round() as i64
}

/// What an offer has that the interim placement can use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capacity {
    pub cpus_milli: i64,
    pub mem_milli: i64,
    pub disk_milli: i64,
    pub gpus_milli: i64,
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
                ("disk", Some(v)) if v.is_finite() && v > 0.0 => c.disk_milli += milli(v),
                ("gpus", Some(v)) if v.is_finite() && v > 0.0 => c.gpus_milli += milli(v),
                _ => {}
            }
        }
        Ok(c)
    }

    /// Take what one instance of `spec` needs, if it fits.
    pub fn take(&mut self, spec: &AppSpec) -> bool {
        let r = &spec.resources;
        let c = milli(r.cpu);
        let m = milli(r.mem);
        let d = milli(r.disk.as_ref().map_or(0.0, |d| d.size()));
        let g = milli(r.gpus);
        if c <= self.cpus_milli
            && m <= self.mem_milli
            && d <= self.disk_milli
            && g <= self.gpus_milli
        {
            self.cpus_milli -= c;
            self.mem_milli -= m;
            self.disk_milli -= d;
            self.gpus_milli -= g;
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
            ..Capacity::default()
        };
        let app = |cpu| AppSpec::command_app("a", 1, cpu, 10.0, "x");
        assert!(c.take(&app(0.1)));
        assert!(c.take(&app(0.2)), "0.1 + 0.2 fits in 0.3 at three decimals");
        assert!(!c.take(&app(0.001)));
        assert_eq!(c.cpus_milli, 0);
    }
}
