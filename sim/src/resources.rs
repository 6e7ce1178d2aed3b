//! Resource arithmetic the way the master does it.
//!
//! A [`Bag`] holds resources keyed by (name, reservation role, allocation
//! role). Scalars are fixed-point with three decimals (the master rounds
//! every scalar to 0.001), ranges are merged sorted intervals, sets are
//! sorted strings. `contains` and `subtract` are what ACCEPT validation
//! needs: an operation may only use what the offer holds.

use std::collections::BTreeMap;

use tritium_proto::v1::{Resource, Value, resource, value};

/// Fixed-point scale of scalar resources: the master keeps three decimals.
pub const MILLI: i64 = 1000;

/// Convert a scalar as sent on the wire to fixed point, rounding like the
/// master. Non-finite and negative values are refused by the caller.
pub fn to_milli(v: f64) -> i64 {
    (v * MILLI as f64).round() as i64
}

/// Convert fixed point back to the wire's double.
pub fn from_milli(m: i64) -> f64 {
    m as f64 / MILLI as f64
}

/// Identity of a resource pool: name, effective reservation role ("*" when
/// unreserved) and the role it is allocated to (empty if none).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub name: String,
    pub role: String,
    pub allocation_role: String,
    /// Persistent volume id, if this is a persistent disk.
    pub persistence: Option<String>,
}

/// The quantity of one pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Quantity {
    Scalar(i64),
    /// Sorted, non-overlapping, non-adjacent inclusive ranges.
    Ranges(Vec<(u64, u64)>),
    /// Sorted, deduplicated items.
    Set(Vec<String>),
}

/// Why a resource list cannot be taken as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BagError {
    /// The resource itself is malformed (the master would reject the call).
    Invalid(String),
}

/// A multiset of resources.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bag {
    pools: BTreeMap<Key, Quantity>,
}

impl Bag {
    pub fn new() -> Self {
        Bag::default()
    }

    /// Build a bag from wire resources, validating each like the master:
    /// a name, a type with its matching value, no negative or non-finite
    /// scalars, well-formed ranges.
    pub fn from_resources(list: &[Resource]) -> Result<Bag, BagError> {
        let mut bag = Bag::new();
        for r in list {
            let (key, q) = parse(r)?;
            bag.add_quantity(key, q)?;
        }
        Ok(bag)
    }

    pub fn is_empty(&self) -> bool {
        self.pools.values().all(|q| match q {
            Quantity::Scalar(v) => *v == 0,
            Quantity::Ranges(r) => r.is_empty(),
            Quantity::Set(s) => s.is_empty(),
        })
    }

    pub fn pools(&self) -> impl Iterator<Item = (&Key, &Quantity)> {
        self.pools.iter()
    }

    /// Total fixed-point amount of a scalar across roles.
    pub fn scalar_total(&self, name: &str) -> i64 {
        self.pools
            .iter()
            .filter(|(k, _)| k.name == name)
            .map(|(_, q)| match q {
                Quantity::Scalar(v) => *v,
                _ => 0,
            })
            .sum()
    }

    pub fn add_scalar(&mut self, key: Key, milli: i64) {
        let e = self.pools.entry(key).or_insert(Quantity::Scalar(0));
        if let Quantity::Scalar(v) = e {
            *v += milli;
        }
    }

    pub fn add_ranges(&mut self, key: Key, ranges: &[(u64, u64)]) {
        let e = self
            .pools
            .entry(key)
            .or_insert(Quantity::Ranges(Vec::new()));
        if let Quantity::Ranges(r) = e {
            r.extend_from_slice(ranges);
            *r = normalize(std::mem::take(r));
        }
    }

    fn add_quantity(&mut self, key: Key, q: Quantity) -> Result<(), BagError> {
        match (self.pools.get_mut(&key), q) {
            (None, q) => {
                self.pools.insert(key, q);
            }
            (Some(Quantity::Scalar(a)), Quantity::Scalar(b)) => *a += b,
            (Some(Quantity::Ranges(a)), Quantity::Ranges(b)) => {
                a.extend(b);
                *a = normalize(std::mem::take(a));
            }
            (Some(Quantity::Set(a)), Quantity::Set(b)) => {
                a.extend(b);
                a.sort();
                a.dedup();
            }
            _ => {
                return Err(BagError::Invalid(format!(
                    "resource {} has mixed types",
                    key.name
                )));
            }
        }
        Ok(())
    }

    /// Add everything in `other`.
    pub fn add(&mut self, other: &Bag) {
        for (k, q) in &other.pools {
            // A pool already here grows in place (no key copied: adding a
            // task's resources to its agent's is the common case).
            match (self.pools.get_mut(k), q) {
                (Some(Quantity::Scalar(a)), Quantity::Scalar(b)) => *a += b,
                // Types agree for pools built by this module; a mismatch
                // cannot happen for bags that passed `from_resources`.
                _ => {
                    let _ = self.add_quantity(k.clone(), q.clone());
                }
            }
        }
    }

    /// True if every pool of `other` is covered by this bag.
    pub fn contains(&self, other: &Bag) -> bool {
        other
            .pools
            .iter()
            .all(|(k, need)| match (self.pools.get(k), need) {
                (_, Quantity::Scalar(0)) => true,
                (_, Quantity::Ranges(r)) if r.is_empty() => true,
                (_, Quantity::Set(s)) if s.is_empty() => true,
                (Some(Quantity::Scalar(have)), Quantity::Scalar(n)) => have >= n,
                (Some(Quantity::Ranges(have)), Quantity::Ranges(n)) => ranges_contain(have, n),
                (Some(Quantity::Set(have)), Quantity::Set(n)) => {
                    n.iter().all(|i| have.binary_search(i).is_ok())
                }
                _ => false,
            })
    }

    /// Remove `other`; the caller checked `contains` first.
    pub fn subtract(&mut self, other: &Bag) {
        debug_assert!(self.contains(other));
        self.subtract_saturating(other);
    }

    /// Remove what `other` has, clamping at zero (for bookkeeping where the
    /// two may legitimately differ, e.g. after a reservation changed).
    pub fn subtract_saturating(&mut self, other: &Bag) {
        for (k, q) in &other.pools {
            let Some(have) = self.pools.get_mut(k) else {
                continue;
            };
            match (have, q) {
                (Quantity::Scalar(a), Quantity::Scalar(b)) => *a = (*a - b).max(0),
                (Quantity::Ranges(a), Quantity::Ranges(b)) => *a = ranges_minus(a, b),
                (Quantity::Set(a), Quantity::Set(b)) => a.retain(|i| b.binary_search(i).is_err()),
                _ => {}
            }
        }
        self.pools.retain(|_, q| match q {
            Quantity::Scalar(v) => *v > 0,
            Quantity::Ranges(r) => !r.is_empty(),
            Quantity::Set(s) => !s.is_empty(),
        });
    }

    /// Pools reserved for exactly `role` (`"*"`: the unreserved ones).
    pub fn reserved_for(&self, role: &str) -> Bag {
        Bag {
            pools: self
                .pools
                .iter()
                .filter(|(k, _)| k.role == role)
                .map(|(k, q)| (k.clone(), q.clone()))
                .collect(),
        }
    }

    /// The pools a framework role may be offered, as Mesos's
    /// `Resources::isAllocatableTo` (src/common/resources.cpp) decides:
    /// unreserved ones, ones reserved for `role`, and ones reserved for an
    /// ancestor of `role` (a reservation for `a` is allocatable to `a/b`,
    /// never the other way round).
    pub fn allocatable_to(&self, role: &str) -> Bag {
        Bag {
            pools: self
                .pools
                .iter()
                .filter(|(k, _)| is_allocatable_to(&k.role, role))
                .map(|(k, q)| (k.clone(), q.clone()))
                .collect(),
        }
    }

    /// True if any pool is reserved (for any role).
    pub fn has_reservations(&self) -> bool {
        self.pools.keys().any(|k| k.role != "*")
    }

    /// The same pools with their reservation dropped (what RESERVE takes
    /// from the unreserved pool).
    pub fn unreserved(&self) -> Bag {
        let mut out = Bag::new();
        for (k, q) in &self.pools {
            let mut k = k.clone();
            k.role = "*".into();
            let _ = out.add_quantity(k, q.clone());
        }
        out
    }

    /// Worth offering: the master's minimum allocatable resources (0.01
    /// cpus or 32 MiB of memory).
    pub fn has_allocatable(&self) -> bool {
        self.scalar_total("cpus") >= 10 || self.scalar_total("mem") >= 32 * MILLI
    }

    /// Short human form, e.g. `cpus:1.5; mem:1024; ports:[31000-31002]`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::with_capacity(self.pools.len());
        for (k, q) in &self.pools {
            let role = if k.role == "*" {
                String::new()
            } else {
                format!("({})", k.role)
            };
            let v = match q {
                Quantity::Scalar(v) => format!("{}", from_milli(*v)),
                Quantity::Ranges(r) => format!(
                    "[{}]",
                    r.iter()
                        .map(|(b, e)| format!("{b}-{e}"))
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                Quantity::Set(s) => format!("{{{}}}", s.join(",")),
            };
            parts.push(format!("{}{role}:{v}", k.name));
        }
        parts.join("; ")
    }

    /// The same resources with their allocation role set to `role`
    /// (what the master does before offering to a MULTI_ROLE framework),
    /// or cleared (`None`).
    pub fn with_allocation_role(&self, role: Option<&str>) -> Bag {
        let mut out = Bag::new();
        for (k, q) in &self.pools {
            let mut k = k.clone();
            k.allocation_role = role.unwrap_or("").to_owned();
            let _ = out.add_quantity(k, q.clone());
        }
        out
    }

    /// Only the pools whose reservation role is `*` or one of `roles`.
    pub fn usable_by(&self, roles: &[String]) -> Bag {
        let mut out = Bag::new();
        for (k, q) in &self.pools {
            if k.role == "*" || roles.contains(&k.role) {
                let _ = out.add_quantity(k.clone(), q.clone());
            }
        }
        out
    }

    /// Wire form. Reserved pools carry one DYNAMIC or STATIC reservation
    /// (STATIC for `slave_public`, as a real agent's `--resources` would).
    pub fn to_resources(&self) -> Vec<Resource> {
        let mut out = Vec::with_capacity(self.pools.len());
        for (k, q) in &self.pools {
            let mut r = Resource {
                name: k.name.clone(),
                ..Resource::default()
            };
            match q {
                Quantity::Scalar(v) => {
                    r.set_type(value::Type::Scalar);
                    r.scalar = Some(value::Scalar {
                        value: from_milli(*v),
                    });
                }
                Quantity::Ranges(rs) => {
                    r.set_type(value::Type::Ranges);
                    r.ranges = Some(value::Ranges {
                        range: rs
                            .iter()
                            .map(|&(b, e)| value::Range { begin: b, end: e })
                            .collect(),
                    });
                }
                Quantity::Set(items) => {
                    r.set_type(value::Type::Set);
                    r.set = Some(value::Set {
                        item: items.clone(),
                    });
                }
            }
            if k.role != "*" {
                let kind = if k.role == crate::cluster::PUBLIC_ROLE {
                    resource::reservation_info::Type::Static
                } else {
                    resource::reservation_info::Type::Dynamic
                };
                let mut res = resource::ReservationInfo {
                    role: Some(k.role.clone()),
                    ..Default::default()
                };
                res.set_type(kind);
                r.reservations.push(res);
            }
            if !k.allocation_role.is_empty() {
                r.allocation_info = Some(resource::AllocationInfo {
                    role: Some(k.allocation_role.clone()),
                });
            }
            if let Some(id) = &k.persistence {
                r.disk = Some(Box::new(resource::DiskInfo {
                    persistence: Some(resource::disk_info::Persistence {
                        id: id.clone(),
                        principal: None,
                    }),
                    ..Default::default()
                }));
            }
            out.push(r);
        }
        out
    }
}

/// Whether a resource reserved for `reservation` (`"*"`: unreserved) may be
/// allocated to `role`: `Resources::isAllocatableTo` with
/// `roles::isStrictSubroleOf`.
pub fn is_allocatable_to(reservation: &str, role: &str) -> bool {
    reservation == "*"
        || reservation == role
        || role
            .strip_prefix(reservation)
            .is_some_and(|rest| rest.starts_with('/'))
}

fn parse(r: &Resource) -> Result<(Key, Quantity), BagError> {
    if r.name.is_empty() {
        return Err(BagError::Invalid("resource without a name".into()));
    }
    let role = match r.reservations.last() {
        Some(res) => res.role.clone().unwrap_or_default(),
        #[allow(deprecated)] // pre-MULTI_ROLE frameworks still use it
        None => r.role.clone().unwrap_or_else(|| "*".to_owned()),
    };
    if role.is_empty() {
        return Err(BagError::Invalid(format!(
            "resource {} has an empty role",
            r.name
        )));
    }
    let key = Key {
        name: r.name.clone(),
        role,
        allocation_role: r
            .allocation_info
            .as_ref()
            .and_then(|a| a.role.clone())
            .unwrap_or_default(),
        persistence: r
            .disk
            .as_ref()
            .and_then(|d| d.persistence.as_ref())
            .map(|p| p.id.clone()),
    };
    let q = match value::Type::try_from(r.r#type) {
        Ok(value::Type::Scalar) => {
            let v = r
                .scalar
                .as_ref()
                .ok_or_else(|| {
                    BagError::Invalid(format!("scalar resource {} without a value", r.name))
                })?
                .value;
            if !v.is_finite() || v < 0.0 {
                return Err(BagError::Invalid(format!(
                    "resource {} has invalid value {v}",
                    r.name
                )));
            }
            Quantity::Scalar(to_milli(v))
        }
        Ok(value::Type::Ranges) => {
            let rs = r.ranges.as_ref().ok_or_else(|| {
                BagError::Invalid(format!("ranges resource {} without ranges", r.name))
            })?;
            let mut v = Vec::with_capacity(rs.range.len());
            for x in &rs.range {
                if x.begin > x.end {
                    return Err(BagError::Invalid(format!(
                        "resource {} has range {}-{} with begin > end",
                        r.name, x.begin, x.end
                    )));
                }
                v.push((x.begin, x.end));
            }
            Quantity::Ranges(normalize(v))
        }
        Ok(value::Type::Set) => {
            let s = r.set.as_ref().ok_or_else(|| {
                BagError::Invalid(format!("set resource {} without items", r.name))
            })?;
            let mut items = s.item.clone();
            items.sort();
            items.dedup();
            Quantity::Set(items)
        }
        _ => {
            return Err(BagError::Invalid(format!(
                "resource {} has unsupported type {}",
                r.name, r.r#type
            )));
        }
    };
    Ok((key, q))
}

/// Sort and merge overlapping or adjacent ranges.
pub fn normalize(mut v: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    v.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(v.len());
    for (b, e) in v {
        match out.last_mut() {
            Some(last) if b <= last.1.saturating_add(1) => last.1 = last.1.max(e),
            _ => out.push((b, e)),
        }
    }
    out
}

fn ranges_contain(have: &[(u64, u64)], need: &[(u64, u64)]) -> bool {
    need.iter()
        .all(|&(b, e)| have.iter().any(|&(hb, he)| hb <= b && e <= he))
}

fn ranges_minus(have: &[(u64, u64)], take: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::with_capacity(have.len() + take.len());
    for &(hb, he) in have {
        let mut pieces = vec![(hb, he)];
        for &(tb, te) in take {
            let mut next = Vec::with_capacity(pieces.len() + 1);
            for (b, e) in pieces {
                if te < b || tb > e {
                    next.push((b, e));
                    continue;
                }
                if tb > b {
                    next.push((b, tb - 1));
                }
                if te < e {
                    next.push((te + 1, e));
                }
            }
            pieces = next;
        }
        out.extend(pieces);
    }
    normalize(out)
}

/// Convenience for building wire values in tests and the cluster model.
pub fn scalar_value(v: f64) -> Value {
    Value {
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: v }),
        ..Value::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Key {
        Key {
            name: name.into(),
            role: "*".into(),
            allocation_role: String::new(),
            persistence: None,
        }
    }

    #[test]
    fn scalar_fixed_point_compare() {
        let mut have = Bag::new();
        have.add_scalar(key("cpus"), to_milli(0.3));
        let mut need = Bag::new();
        // 0.1 + 0.2 != 0.3 in f64, but the master compares at 3 decimals.
        need.add_scalar(key("cpus"), to_milli(0.1) + to_milli(0.2));
        assert!(have.contains(&need));
        have.subtract(&need);
        assert!(have.is_empty());
    }

    #[test]
    fn ranges_containment_and_subtraction() {
        let mut have = Bag::new();
        have.add_ranges(key("ports"), &[(31000, 31010), (31020, 31030)]);
        let mut need = Bag::new();
        need.add_ranges(key("ports"), &[(31005, 31005), (31020, 31021)]);
        assert!(have.contains(&need));
        have.subtract(&need);
        let Some(Quantity::Ranges(r)) = have.pools.get(&key("ports")) else {
            panic!()
        };
        assert_eq!(r, &vec![(31000, 31004), (31006, 31010), (31022, 31030)]);
        let mut over = Bag::new();
        over.add_ranges(key("ports"), &[(31009, 31012)]);
        assert!(!have.contains(&over));
    }

    #[test]
    fn roles_are_separate_pools() {
        let mut have = Bag::new();
        have.add_scalar(key("mem"), 1000);
        let mut need = Bag::new();
        need.add_scalar(
            Key {
                role: "tritium".into(),
                ..key("mem")
            },
            1,
        );
        assert!(
            !have.contains(&need),
            "unreserved memory covered a reserved request"
        );
    }

    #[test]
    fn wire_roundtrip() {
        let mut b = Bag::new();
        b.add_scalar(key("cpus"), 2500);
        b.add_ranges(key("ports"), &[(1, 2)]);
        b.add_scalar(
            Key {
                role: "tritium".into(),
                allocation_role: "tritium".into(),
                ..key("mem")
            },
            1024 * MILLI,
        );
        let again = Bag::from_resources(&b.to_resources()).unwrap();
        assert_eq!(again, b);
    }

    #[test]
    fn rejects_malformed() {
        let bad = Resource {
            name: "cpus".into(),
            r#type: value::Type::Scalar as i32,
            scalar: Some(value::Scalar { value: -1.0 }),
            ..Default::default()
        };
        assert!(Bag::from_resources(&[bad]).is_err());
        let no_value = Resource {
            name: "cpus".into(),
            r#type: value::Type::Scalar as i32,
            ..Default::default()
        };
        assert!(Bag::from_resources(&[no_value]).is_err());
    }
}
