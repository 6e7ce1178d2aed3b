//! The simulated cluster: agents generated deterministically from a seed.
//!
//! Shapes follow typical cloud instance types; about 5 % of agents are
//! public (everything statically reserved to `slave_public`), about 15 %
//! carry a dynamic reservation for the framework role, some have GPUs, and
//! every agent has attributes of all four types (TEXT rack/zone/instance
//! type, SCALAR network speed, SET features, RANGES cpu cores).

use tritium_proto::v1::{Attribute, DomainInfo, domain_info, value};

use crate::resources::{Bag, Key, MILLI, to_milli};
use crate::rng::Rng;

/// Role of public agents' static reservation, as in DC/OS and Marathon.
pub const PUBLIC_ROLE: &str = "slave_public";

/// Port range every agent offers (minus a few ports in use).
pub const PORT_RANGE: (u64, u64) = (31000, 32000);

/// A fixed agent size, for `--agent-shape`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AgentShape {
    pub cpus: f64,
    pub mem_mib: u64,
    pub disk_mib: u64,
    pub gpus: u32,
}

impl std::str::FromStr for AgentShape {
    type Err = String;

    /// `cpus=8,mem=32768,disk=200000,gpus=0` (any subset; the rest default).
    fn from_str(s: &str) -> Result<Self, String> {
        let mut shape = AgentShape {
            cpus: 8.0,
            mem_mib: 32768,
            disk_mib: 200_000,
            gpus: 0,
        };
        for part in s.split(',').filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("agent shape part {part:?} is not key=value"))?;
            let bad = |_| format!("agent shape: {k} has a bad value {v:?}");
            match k.trim() {
                "cpus" => {
                    shape.cpus = v
                        .parse()
                        .map_err(|_| format!("agent shape: bad cpus {v:?}"))?
                }
                "mem" => shape.mem_mib = v.parse().map_err(bad)?,
                "disk" => shape.disk_mib = v.parse().map_err(bad)?,
                "gpus" => shape.gpus = v.parse().map_err(bad)?,
                other => {
                    return Err(format!(
                        "agent shape: unknown key {other:?} (cpus, mem, disk, gpus)"
                    ));
                }
            }
        }
        if !(shape.cpus.is_finite() && shape.cpus > 0.0) || shape.mem_mib == 0 {
            return Err("agent shape needs cpus > 0 and mem > 0".into());
        }
        Ok(shape)
    }
}

/// What the cluster looks like.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub agents: usize,
    pub seed: u64,
    /// Every agent this size instead of the mixed distribution; with a fixed
    /// shape there are no public or reserved agents either, so capacity is
    /// easy to reason about in tests.
    pub shape: Option<AgentShape>,
    /// Role of the dynamic reservations on some agents.
    pub reserved_role: String,
    /// Fault domains agents are given, in turn (agent `i` gets entry
    /// `i % len`), sent in offers as `Offer.domain` as a Mesos ≥ 1.5
    /// master does for agents started with `--domain`. Empty: no agent
    /// has a domain, nor has the master. Otherwise the master's own
    /// domain is the first entry's (Mesos refuses agents with a domain
    /// when the master has none), and agents of another region are
    /// offered only to REGION_AWARE frameworks.
    pub fault_domains: Vec<FaultDomain>,
}

/// A fault domain: region and zone names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultDomain {
    pub region: String,
    pub zone: String,
}

impl FaultDomain {
    /// `region/zone`.
    pub fn new(region: &str, zone: &str) -> FaultDomain {
        FaultDomain {
            region: region.into(),
            zone: zone.into(),
        }
    }

    /// As `Offer.domain` / `MasterInfo.domain` carry it.
    pub fn info(&self) -> DomainInfo {
        DomainInfo {
            fault_domain: Some(domain_info::FaultDomain {
                region: domain_info::fault_domain::RegionInfo {
                    name: self.region.clone(),
                },
                zone: domain_info::fault_domain::ZoneInfo {
                    name: self.zone.clone(),
                },
            }),
        }
    }
}

impl std::str::FromStr for FaultDomain {
    type Err = String;

    /// `region/zone`, each 1–128 printable characters without `/` or `,`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (r, z) = s
            .split_once('/')
            .ok_or_else(|| format!("fault domain {s:?} is not region/zone"))?;
        for part in [r, z] {
            if part.is_empty()
                || part.len() > 128
                || !part
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'/' && b != b',')
            {
                return Err(format!("fault domain {s:?}: bad name {part:?}"));
            }
        }
        Ok(FaultDomain::new(r, z))
    }
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            agents: 10,
            seed: 1,
            shape: None,
            reserved_role: "tritium".into(),
            fault_domains: Vec::new(),
        }
    }
}

/// Health of an agent as the master sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentState {
    Active,
    /// Partitioned; its tasks are UNREACHABLE (or LOST).
    Unreachable,
    /// Removed by an operator's `/machine/down` until `/machine/up`.
    Down,
}

/// One agent.
#[derive(Debug, Clone)]
pub struct Agent {
    pub id: String,
    pub hostname: String,
    pub total: Bag,
    pub attributes: Vec<Attribute>,
    /// Its fault domain (`ClusterSpec::fault_domains`), if any.
    pub domain: Option<FaultDomain>,
    pub state: AgentState,
}

/// (cpus, mem MiB, disk MiB, instance type) and weights.
const SHAPES: [(u32, u64, u64, &str); 6] = [
    (8, 30_720, 200_000, "m5.2xlarge"),
    (16, 62_976, 400_000, "m5.4xlarge"),
    (32, 126_976, 800_000, "m5.8xlarge"),
    (48, 190_464, 1_600_000, "m5.12xlarge"),
    (64, 253_952, 1_800_000, "r5.16xlarge"),
    (96, 382_976, 3_600_000, "m5.24xlarge"),
];
const SHAPE_WEIGHTS: [u32; 6] = [10, 30, 30, 15, 10, 5];
const ZONES: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];
const FEATURES: [&str; 8] = [
    "ssd", "avx2", "avx512", "10gbe", "25gbe", "nvme", "gpu", "sgx",
];
/// Agents per rack.
const RACK_SIZE: usize = 40;

fn key(name: &str, role: &str) -> Key {
    Key {
        name: name.into(),
        role: role.into(),
        allocation_role: String::new(),
        persistence: None,
    }
}

fn text_attr(name: &str, v: &str) -> Attribute {
    Attribute {
        name: name.into(),
        r#type: value::Type::Text as i32,
        text: Some(value::Text { value: v.into() }),
        ..Attribute::default()
    }
}

/// Generate the agents of `spec`; ids are `<master_uuid>-S<index>`.
pub fn generate(spec: &ClusterSpec, master_uuid: &str) -> Vec<Agent> {
    let mut rng = Rng::new(spec.seed.wrapping_mul(0x5851_F42D_4C95_7F2D) ^ 0xA5A5);
    (0..spec.agents)
        .map(|ix| generate_one(spec, master_uuid, ix, &mut rng))
        .collect()
}

fn generate_one(spec: &ClusterSpec, master_uuid: &str, ix: usize, rng: &mut Rng) -> Agent {
    let ip = format!("10.{}.{}.{}", 16 + ix / 65536, (ix / 256) % 256, ix % 256);
    let hostname = format!("ip-{}.ec2.internal", ip.replace('.', "-"));
    let (cpus, mem, disk, itype, gpus) = match spec.shape {
        Some(s) => (s.cpus, s.mem_mib, s.disk_mib, "custom", s.gpus),
        None => {
            let (c, m, d, t) = SHAPES[rng.weighted(&SHAPE_WEIGHTS)];
            // about 4 % of agents carry GPUs
            let gpus = if rng.below(25) == 0 { 4 } else { 0 };
            (f64::from(c), m, d, t, gpus)
        }
    };
    let kind = if spec.shape.is_some() {
        2
    } else {
        let u = rng.f64();
        if u < 0.05 {
            0 // public
        } else if u < 0.20 {
            1 // reserved
        } else {
            2 // plain
        }
    };
    let mut total = Bag::new();
    let cpus_m = to_milli(cpus);
    let mem_m = mem as i64 * MILLI;
    let disk_m = disk as i64 * MILLI;
    let ports = free_ports(rng);
    match kind {
        0 => {
            total.add_scalar(key("cpus", PUBLIC_ROLE), cpus_m);
            total.add_scalar(key("mem", PUBLIC_ROLE), mem_m);
            total.add_scalar(key("disk", PUBLIC_ROLE), disk_m);
            let mut p = vec![(80, 80), (443, 443)];
            p.extend(ports);
            total.add_ranges(key("ports", PUBLIC_ROLE), &p);
        }
        1 => {
            let rc = [1_000, 2_000, 4_000][rng.below(3) as usize];
            let rm = [2048, 4096, 8192][rng.below(3) as usize] * MILLI;
            total.add_scalar(key("cpus", &spec.reserved_role), rc);
            total.add_scalar(key("mem", &spec.reserved_role), rm);
            total.add_scalar(key("cpus", "*"), cpus_m - rc);
            total.add_scalar(key("mem", "*"), mem_m - rm);
            total.add_scalar(key("disk", "*"), disk_m);
            total.add_ranges(key("ports", "*"), &ports);
        }
        _ => {
            total.add_scalar(key("cpus", "*"), cpus_m);
            total.add_scalar(key("mem", "*"), mem_m);
            total.add_scalar(key("disk", "*"), disk_m);
            total.add_ranges(key("ports", "*"), &ports);
        }
    }
    if gpus > 0 {
        total.add_scalar(key("gpus", "*"), i64::from(gpus) * MILLI);
    }
    let rack = format!("rack-{:03}", ix / RACK_SIZE);
    let zone = ZONES[(ix / RACK_SIZE) % ZONES.len()];
    let mut attributes = vec![text_attr("rack", &rack), text_attr("zone", zone)];
    attributes.push(text_attr("instance_type", itype));
    attributes.push(Attribute {
        name: "network_gbps".into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar {
            value: if cpus <= 16.0 { 10.0 } else { 25.0 },
        }),
        ..Attribute::default()
    });
    let mut features: Vec<String> = FEATURES
        .iter()
        .filter(|_| rng.below(4) == 0)
        .map(|s| (*s).to_owned())
        .collect();
    if gpus > 0 && !features.iter().any(|f| f == "gpu") {
        features.push("gpu".into());
    }
    features.sort();
    if !features.is_empty() {
        attributes.push(Attribute {
            name: "features".into(),
            r#type: value::Type::Set as i32,
            set: Some(value::Set { item: features }),
            ..Attribute::default()
        });
    }
    attributes.push(Attribute {
        name: "cores".into(),
        r#type: value::Type::Ranges as i32,
        ranges: Some(value::Ranges {
            range: vec![value::Range {
                begin: 0,
                end: (cpus.ceil() as u64).saturating_sub(1),
            }],
        }),
        ..Attribute::default()
    });
    Agent {
        id: format!("{master_uuid}-S{ix}"),
        hostname,
        total,
        attributes,
        domain: (!spec.fault_domains.is_empty())
            .then(|| spec.fault_domains[ix % spec.fault_domains.len()].clone()),
        state: AgentState::Active,
    }
}

/// The agent port range minus a few ports already in use.
fn free_ports(rng: &mut Rng) -> Vec<(u64, u64)> {
    let used_count = [0, 0, 0, 1, 1, 2, 3, 5][rng.below(8) as usize];
    let mut used: Vec<u64> = (0..used_count)
        .map(|_| PORT_RANGE.0 + rng.below(PORT_RANGE.1 - PORT_RANGE.0 + 1))
        .collect();
    used.sort_unstable();
    used.dedup();
    let mut out = Vec::new();
    let mut start = PORT_RANGE.0;
    for p in used {
        if p > start {
            out.push((start, p - 1));
        }
        start = p + 1;
    }
    if start <= PORT_RANGE.1 {
        out.push((start, PORT_RANGE.1));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_cluster() {
        let spec = ClusterSpec {
            agents: 200,
            seed: 42,
            ..ClusterSpec::default()
        };
        let a = generate(&spec, "m");
        let b = generate(&spec, "m");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.id, y.id);
            assert_eq!(x.total, y.total);
            assert_eq!(x.attributes, y.attributes);
        }
        let other = generate(
            &ClusterSpec {
                seed: 43,
                ..spec.clone()
            },
            "m",
        );
        assert!(a.iter().zip(&other).any(|(x, y)| x.total != y.total));
    }

    #[test]
    fn mix_has_every_kind() {
        let agents = generate(
            &ClusterSpec {
                agents: 1000,
                ..ClusterSpec::default()
            },
            "m",
        );
        let public = agents
            .iter()
            .filter(|a| a.total.pools().any(|(k, _)| k.role == PUBLIC_ROLE))
            .count();
        let reserved = agents
            .iter()
            .filter(|a| a.total.pools().any(|(k, _)| k.role == "tritium"))
            .count();
        let gpu = agents
            .iter()
            .filter(|a| a.total.scalar_total("gpus") > 0)
            .count();
        assert!((20..90).contains(&public), "public agents: {public}");
        assert!(
            (100..220).contains(&reserved),
            "reserved agents: {reserved}"
        );
        assert!((10..80).contains(&gpu), "gpu agents: {gpu}");
        let types: std::collections::BTreeSet<i32> = agents
            .iter()
            .flat_map(|a| a.attributes.iter().map(|x| x.r#type))
            .collect();
        assert_eq!(types.len(), 4, "attribute types: {types:?}");
    }

    #[test]
    fn fixed_shape() {
        let shape: AgentShape = "cpus=4,mem=8192,gpus=1".parse().unwrap();
        let agents = generate(
            &ClusterSpec {
                agents: 3,
                shape: Some(shape),
                ..ClusterSpec::default()
            },
            "m",
        );
        for a in &agents {
            assert_eq!(a.total.scalar_total("cpus"), 4 * MILLI);
            assert_eq!(a.total.scalar_total("mem"), 8192 * MILLI);
            assert_eq!(a.total.scalar_total("gpus"), MILLI);
        }
        assert!("cpus=x".parse::<AgentShape>().is_err());
        assert!("foo=1".parse::<AgentShape>().is_err());
    }
}
