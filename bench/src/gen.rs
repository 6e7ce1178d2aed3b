//! Deterministic generator of a realistic Mesos v1 scheduler event stream.
//!
//! This is the Rust twin of `shared/bench-peers/gen_stream.py` (the fixture
//! the Go and Python decode peers read): the same cluster model (agent shapes
//! and weights, public / reserved / plain agents, dynamic reservations with
//! labels, persistent volumes, port ranges, TEXT / SCALAR / SET attributes,
//! offer URL and fault domain), the same event mix (OFFERS 55, UPDATE 30,
//! RESCIND 8, HEARTBEAT 5, FAILURE 2, after one SUBSCRIBED), the same
//! triangular distribution of offers per OFFERS event and the same
//! outstanding-offer bookkeeping (an agent with an outstanding offer is not
//! offered again; the oldest offers are declined once too many are out).
//!
//! It is *not* byte-identical to the Python generator: it draws from its own
//! small seeded PRNG ([`Rng`], xoshiro256** seeded through SplitMix64), so the
//! individual values differ while the shapes and sizes match (a unit test
//! compares its summary with the Python generator's for the same arguments).
//! Same [`GenParams`] → identical bytes, on every platform.
//!
//! Output is RecordIO (`<decimal length>\n<protobuf bytes>` repeated), as a
//! master writes the SUBSCRIBE response body.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::io::{self, Write};

use prost::Message;
use tritium_engine::wire::encode_record;
use tritium_proto::scheduler::{self, event};
use tritium_proto::v1::{
    self, Address, AgentId, Attribute, ContainerId, ContainerStatus, DomainInfo, ExecutorId,
    FrameworkId, Label, Labels, MasterInfo, NetworkInfo, Offer, OfferId, Resource, TaskId,
    TaskState, TaskStatus, Url, Volume, domain_info, network_info, resource, task_status, value,
};

// ---------------------------------------------------------------------------
// PRNG.

/// Small, fast, seedable PRNG: xoshiro256** with its state filled by
/// SplitMix64 from a 64-bit seed. Enough statistical quality for a fixture,
/// no dependency, identical output everywhere.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator seeded from `seed`.
    pub fn new(seed: u64) -> Self {
        let mut sm = seed;
        let mut next = || {
            sm = sm.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = sm;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
        }
    }

    /// 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)` with 53 bits of precision (Python's `random()`).
    pub fn random(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `0..n` without modulo bias (`randrange(n)`); `n > 0`.
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "below(0)");
        let n = n as u64;
        // Lemire's multiply-shift with rejection of the biased low zone.
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as usize;
            }
        }
    }

    /// Uniform in `lo..=hi` (Python's `randint`).
    pub fn randint(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below((hi - lo + 1) as usize) as u64
    }

    /// A uniformly chosen element of a non-empty slice.
    pub fn choose<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    /// An index drawn with the given relative weights (Python's `choices`).
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let x = self.random() * f64::from(total);
        let mut acc = 0.0;
        for (i, &w) in weights.iter().enumerate() {
            acc += f64::from(w);
            if x < acc {
                return i;
            }
        }
        weights.len() - 1
    }

    /// Triangular distribution on `[low, high]` with the given mode (same
    /// formula as Python's `random.triangular`).
    pub fn triangular(&mut self, low: f64, high: f64, mode: f64) -> f64 {
        let mut u = self.random();
        if high == low {
            return low;
        }
        let mut c = (mode - low) / (high - low);
        let (mut low, mut high) = (low, high);
        if u > c {
            u = 1.0 - u;
            c = 1.0 - c;
            std::mem::swap(&mut low, &mut high);
        }
        low + (high - low) * (u * c).sqrt()
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i + 1);
            xs.swap(i, j);
        }
    }

    /// `k` distinct indexes out of `0..n`, in draw order (Python's `sample`
    /// of `range(n)`); `k <= n`.
    pub fn sample_indexes(&mut self, n: usize, k: usize) -> Vec<usize> {
        assert!(k <= n, "sample larger than population");
        let mut out: Vec<usize> = Vec::with_capacity(k);
        while out.len() < k {
            let x = self.below(n);
            if !out.contains(&x) {
                out.push(x);
            }
        }
        out
    }

    /// A random (version 4) UUID in its canonical lowercase form.
    pub fn uuid_v4(&mut self) -> String {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.next_u64().to_be_bytes());
        b[8..].copy_from_slice(&self.next_u64().to_be_bytes());
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let mut s = String::with_capacity(36);
        for (i, byte) in b.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                s.push('-');
            }
            let _ = write!(s, "{byte:02x}");
        }
        s
    }

    /// 16 random bytes (a `TaskStatus.uuid`).
    pub fn bytes16(&mut self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.next_u64().to_be_bytes());
        b[8..].copy_from_slice(&self.next_u64().to_be_bytes());
        b
    }
}

// ---------------------------------------------------------------------------
// Cluster model (the constants of gen_stream.py).

/// (cpus, mem MiB, disk MiB, instance type): typical cloud / bare-metal shapes.
const SHAPES: [(f64, f64, f64, &str); 6] = [
    (8.0, 30_720.0, 200_000.0, "m5.2xlarge"),
    (16.0, 62_976.0, 400_000.0, "m5.4xlarge"),
    (32.0, 126_976.0, 800_000.0, "m5.8xlarge"),
    (48.0, 190_464.0, 1_600_000.0, "m5.12xlarge"),
    (64.0, 253_952.0, 1_800_000.0, "r5.16xlarge"),
    (96.0, 382_976.0, 3_600_000.0, "m5.24xlarge"),
];
const SHAPE_W: [u32; 6] = [10, 30, 30, 15, 10, 5];
const REGION: &str = "us-east-1";
const ZONES: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];
const FEATURES: [&str; 8] = [
    "ssd", "avx2", "avx512", "10gbe", "25gbe", "nvme", "gpu", "sgx",
];
const APPS: [&str; 14] = [
    "/prod/web/frontend",
    "/prod/api/gateway",
    "/prod/search/indexer",
    "/prod/payments/ledger",
    "/prod/kafka/broker",
    "/staging/web/frontend",
    "/batch/etl/nightly",
    "/prod/cache/redis",
    "/prod/ml/serving",
    "/infra/logging/fluentd",
    "/infra/monitoring/node-exporter",
    "/prod/checkout/cart",
    "/prod/users/profile",
    "/prod/media/thumbnailer",
];
const FW_ROLE: &str = "tritium";
const PUBLIC_ROLE: &str = "slave_public";
const PRINCIPAL: &str = "tritium";
const TERMINAL: [TaskState; 5] = [
    TaskState::TaskFinished,
    TaskState::TaskFailed,
    TaskState::TaskKilled,
    TaskState::TaskLost,
    TaskState::TaskError,
];
const REASONS: [task_status::Reason; 5] = [
    task_status::Reason::CommandExecutorFailed,
    task_status::Reason::ContainerLimitationMemory,
    task_status::Reason::ExecutorTerminated,
    task_status::Reason::AgentRemoved,
    task_status::Reason::TaskKilledDuringLaunch,
];
/// Free ports are offered out of this range (inclusive).
const PORTS: (u64, u64) = (31_000, 32_000);
/// Number of used ports / blocks carved out of [`PORTS`], drawn uniformly.
const USED_PORTS: [usize; 8] = [0, 0, 0, 1, 1, 2, 3, 5];
/// Tasks remembered for later updates and failures.
const MAX_TASKS: usize = 50_000;

/// Event kinds after SUBSCRIBED, with their weights by count. OFFERS dominate
/// the bytes by far (~98%).
const MIX: [(Kind, u32); 5] = [
    (Kind::Offers, 55),
    (Kind::Update, 30),
    (Kind::Rescind, 8),
    (Kind::Heartbeat, 5),
    (Kind::Failure, 2),
];

#[derive(Debug, Clone, Copy)]
enum Kind {
    Offers,
    Update,
    Rescind,
    Heartbeat,
    Failure,
}

/// Mesos keeps scalars at 3 decimal digits (fixed point) and emits doubles.
fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `"/prod/web/frontend"` → `"prod_web_frontend"`.
fn app_slug(app: &str) -> String {
    app.trim_matches('/').replace('/', "_")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AgentKind {
    /// ~5%: all resources statically reserved to `slave_public`.
    Public,
    /// ~15%: a dynamic reservation for our role (some with a volume).
    Reserved,
    Plain,
}

#[derive(Debug)]
struct Agent {
    ix: usize,
    id: String,
    host: String,
    ip: String,
    cpus: f64,
    mem: f64,
    disk: f64,
    itype: &'static str,
    rack: String,
    zone: &'static str,
    gbps: f64,
    features: Vec<&'static str>,
    kind: AgentKind,
    resv_cpus: f64,
    resv_mem: f64,
    volume: Option<String>,
}

impl Agent {
    fn new(rng: &mut Rng, ix: usize, master_uuid: &str) -> Self {
        let ip = format!("10.{}.{}.{}", 16 + ix / 65_536, (ix / 256) % 256, ix % 256);
        let host = format!("ip-{}.ec2.internal", ip.replace('.', "-"));
        let (cpus, mem, disk, itype) = SHAPES[rng.weighted(&SHAPE_W)];
        let nfeat = rng.randint(0, 4) as usize;
        let mut features: Vec<&'static str> = rng
            .sample_indexes(FEATURES.len(), nfeat)
            .into_iter()
            .map(|i| FEATURES[i])
            .collect();
        features.sort_unstable();
        let u = rng.random();
        let kind = if u < 0.05 {
            AgentKind::Public
        } else if u < 0.20 {
            AgentKind::Reserved
        } else {
            AgentKind::Plain
        };
        let (mut resv_cpus, mut resv_mem, mut volume) = (0.0, 0.0, None);
        if kind == AgentKind::Reserved {
            resv_cpus = *rng.choose(&[1.0, 2.0, 4.0]);
            resv_mem = *rng.choose(&[2048.0, 4096.0, 8192.0]);
            if rng.random() < 0.3 {
                let app = app_slug(APPS[rng.below(APPS.len())]);
                volume = Some(format!("{app}#data#{}", rng.uuid_v4()));
            }
        }
        Agent {
            ix,
            id: format!("{master_uuid}-S{ix}"),
            host,
            ip,
            cpus,
            mem,
            disk,
            itype,
            rack: format!("rack-{:03}", ix / 40),
            zone: ZONES[(ix / 40) % ZONES.len()],
            gbps: if cpus <= 16.0 { 10.0 } else { 25.0 },
            features,
            kind,
            resv_cpus,
            resv_mem,
            volume,
        }
    }
}

// ---------------------------------------------------------------------------
// Message builders.

fn alloc(role: &str) -> Option<resource::AllocationInfo> {
    Some(resource::AllocationInfo {
        role: Some(role.to_owned()),
    })
}

/// A resource with its name, type, (legacy) role and allocation role; the
/// caller fills in the value and reservations.
#[allow(deprecated)] // `Resource.role` is what masters still send alongside `reservations`
fn base_resource(name: &str, ty: value::Type, role: &str, alloc_role: &str) -> Resource {
    Resource {
        name: name.to_owned(),
        r#type: ty as i32,
        role: Some(role.to_owned()),
        allocation_info: alloc(alloc_role),
        ..Default::default()
    }
}

fn scalar_resource(name: &str, v: f64, role: &str, alloc_role: &str) -> Resource {
    Resource {
        scalar: Some(value::Scalar { value: v }),
        ..base_resource(name, value::Type::Scalar, role, alloc_role)
    }
}

fn ranges(rs: impl IntoIterator<Item = (u64, u64)>) -> Option<value::Ranges> {
    Some(value::Ranges {
        range: rs
            .into_iter()
            .map(|(begin, end)| value::Range { begin, end })
            .collect(),
    })
}

fn reservation(
    ty: resource::reservation_info::Type,
    role: &str,
    principal: Option<&str>,
    labels: Option<Labels>,
) -> resource::ReservationInfo {
    resource::ReservationInfo {
        r#type: Some(ty as i32),
        role: Some(role.to_owned()),
        principal: principal.map(str::to_owned),
        labels,
    }
}

/// `31000-32000` minus a few used ports → 1..=6 inclusive ranges.
fn free_port_ranges(rng: &mut Rng) -> Vec<(u64, u64)> {
    let k = *rng.choose(&USED_PORTS);
    let span = (PORTS.1 - PORTS.0 + 1) as usize;
    let mut used: Vec<u64> = rng
        .sample_indexes(span, k)
        .into_iter()
        .map(|i| PORTS.0 + i as u64)
        .collect();
    used.sort_unstable();
    let mut out = Vec::with_capacity(k + 1);
    let mut start = PORTS.0;
    for p in used {
        if p > start {
            out.push((start, p - 1));
        }
        start = p + 1;
    }
    if start <= PORTS.1 {
        out.push((start, PORTS.1));
    }
    out
}

fn text_attribute(name: &str, text: &str) -> Attribute {
    Attribute {
        name: name.to_owned(),
        r#type: value::Type::Text as i32,
        text: Some(value::Text {
            value: text.to_owned(),
        }),
        ..Default::default()
    }
}

fn domain(zone: &str) -> Option<DomainInfo> {
    Some(DomainInfo {
        fault_domain: Some(domain_info::FaultDomain {
            region: domain_info::fault_domain::RegionInfo {
                name: REGION.to_owned(),
            },
            zone: domain_info::fault_domain::ZoneInfo {
                name: zone.to_owned(),
            },
        }),
    })
}

fn make_offer(rng: &mut Rng, a: &Agent, offer_id: String, framework_id: &str) -> Offer {
    let busy = rng.random().powf(0.7); // most agents are fairly busy
    let mut resources = Vec::with_capacity(7);
    let allocation_role;
    if a.kind == AgentKind::Public {
        let role = PUBLIC_ROLE;
        let resv = resource::reservation_info::Type::Static;
        allocation_role = role;
        for (name, cap) in [("cpus", a.cpus), ("mem", a.mem), ("disk", a.disk)] {
            let mut r = scalar_resource(name, r3(cap * (1.0 - busy * 0.9)), role, role);
            r.reservations.push(reservation(resv, role, None, None));
            resources.push(r);
        }
        let mut ports = base_resource("ports", value::Type::Ranges, role, role);
        let free = free_port_ranges(rng);
        ports.ranges = ranges(
            [(80, 80), (443, 443)]
                .into_iter()
                .chain(free.into_iter().take(2)),
        );
        ports.reservations.push(reservation(resv, role, None, None));
        resources.push(ports);
    } else {
        allocation_role = FW_ROLE;
        let cpus = r3(((a.cpus - a.resv_cpus) * (1.0 - busy)).max(0.1));
        let mem = ((a.mem - a.resv_mem) * (1.0 - busy)).trunc();
        let disk = (a.disk * (1.0 - busy * 0.5)).trunc();
        resources.push(scalar_resource("cpus", cpus, "*", FW_ROLE));
        resources.push(scalar_resource("mem", mem, "*", FW_ROLE));
        resources.push(scalar_resource("disk", disk, "*", FW_ROLE));
        let mut ports = base_resource("ports", value::Type::Ranges, "*", FW_ROLE);
        ports.ranges = ranges(free_port_ranges(rng));
        resources.push(ports);
        if a.kind == AgentKind::Reserved {
            let app = APPS[a.ix % APPS.len()];
            for (name, v) in [("cpus", a.resv_cpus), ("mem", a.resv_mem)] {
                let mut r = scalar_resource(name, v, FW_ROLE, FW_ROLE);
                let labels = Labels {
                    labels: vec![Label {
                        key: "tritium.app".to_owned(),
                        value: Some(app.to_owned()),
                    }],
                };
                r.reservations.push(reservation(
                    resource::reservation_info::Type::Dynamic,
                    FW_ROLE,
                    Some(PRINCIPAL),
                    Some(labels),
                ));
                resources.push(r);
            }
            if let Some(volume) = &a.volume {
                let mut r = scalar_resource("disk", 10_240.0, FW_ROLE, FW_ROLE);
                r.reservations.push(reservation(
                    resource::reservation_info::Type::Dynamic,
                    FW_ROLE,
                    Some(PRINCIPAL),
                    None,
                ));
                r.disk = Some(Box::new(resource::DiskInfo {
                    persistence: Some(resource::disk_info::Persistence {
                        id: volume.clone(),
                        principal: Some(PRINCIPAL.to_owned()),
                    }),
                    volume: Some(Volume {
                        container_path: "data".to_owned(),
                        mode: v1::volume::Mode::Rw as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                }));
                resources.push(r);
            }
        }
    }
    // Attributes: TEXT rack / zone (/ instance_type), SCALAR, SET.
    let mut attributes = vec![
        text_attribute("rack", &a.rack),
        text_attribute("zone", a.zone),
    ];
    if a.ix % 5 < 3 {
        attributes.push(text_attribute("instance_type", a.itype));
    }
    attributes.push(Attribute {
        name: "network_gbps".to_owned(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: a.gbps }),
        ..Default::default()
    });
    if !a.features.is_empty() {
        attributes.push(Attribute {
            name: "features".to_owned(),
            r#type: value::Type::Set as i32,
            set: Some(value::Set {
                item: a.features.iter().map(|f| (*f).to_owned()).collect(),
            }),
            ..Default::default()
        });
    }
    Offer {
        id: OfferId { value: offer_id },
        framework_id: FrameworkId {
            value: framework_id.to_owned(),
        },
        agent_id: AgentId {
            value: a.id.clone(),
        },
        hostname: a.host.clone(),
        url: Some(Url {
            scheme: "http".to_owned(),
            address: Address {
                hostname: Some(a.host.clone()),
                ip: Some(a.ip.clone()),
                port: 5051,
            },
            path: Some("/slave(1)".to_owned()),
            ..Default::default()
        }),
        domain: domain(a.zone),
        resources,
        attributes,
        allocation_info: alloc(allocation_role),
        ..Default::default()
    }
}

fn typed(ty: event::Type) -> scheduler::Event {
    scheduler::Event {
        r#type: Some(ty as i32),
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------
// The generator.

/// What to generate; the defaults are gen_stream.py's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenParams {
    /// Agents in the simulated cluster.
    pub agents: usize,
    /// Total events, SUBSCRIBED included.
    pub events: usize,
    /// Mean offers per OFFERS event (sizes vary from 0.3× to 1.7× of it).
    pub offers_per_event: usize,
    /// PRNG seed.
    pub seed: u64,
}

impl Default for GenParams {
    fn default() -> Self {
        GenParams {
            agents: 10_000,
            events: 1_800,
            offers_per_event: 50,
            seed: 1,
        }
    }
}

/// An endless source of scheduler events for one simulated cluster: first
/// SUBSCRIBED, then the mix. [`Generator::events`] bounds it.
#[derive(Debug)]
pub struct Generator {
    rng: Rng,
    master_uuid: String,
    framework_id: String,
    agents: Vec<Agent>,
    order: Vec<usize>,
    cursor: usize,
    offer_seq: u64,
    /// (offer id, agent index), oldest first.
    outstanding: VecDeque<(String, usize)>,
    /// Whether agent `i` has an outstanding offer.
    out_agents: Vec<bool>,
    /// (task id, agent index), oldest first.
    tasks: VecDeque<(String, usize)>,
    k: usize,
    subscribed_sent: bool,
}

impl Generator {
    /// A generator for `params` (`events` is not used here: see
    /// [`Generator::events`]). Panics if `agents` or `offers_per_event` is 0.
    pub fn new(params: &GenParams) -> Self {
        assert!(
            params.agents >= 1 && params.offers_per_event >= 1,
            "agents and offers_per_event must be >= 1"
        );
        let mut rng = Rng::new(params.seed);
        let master_uuid = rng.uuid_v4();
        let framework_id = format!("{master_uuid}-0000");
        let agents: Vec<Agent> = (0..params.agents)
            .map(|i| Agent::new(&mut rng, i, &master_uuid))
            .collect();
        let mut order: Vec<usize> = (0..params.agents).collect();
        rng.shuffle(&mut order);
        Generator {
            rng,
            master_uuid,
            framework_id,
            out_agents: vec![false; agents.len()],
            agents,
            order,
            cursor: 0,
            offer_seq: 0,
            outstanding: VecDeque::new(),
            tasks: VecDeque::new(),
            k: params.offers_per_event,
            subscribed_sent: false,
        }
    }

    /// The next `n` events (the first call starts with SUBSCRIBED).
    pub fn events(&mut self, n: usize) -> impl Iterator<Item = scheduler::Event> + '_ {
        (0..n).map(|_| self.next_event())
    }

    /// The next event.
    pub fn next_event(&mut self) -> scheduler::Event {
        if !self.subscribed_sent {
            self.subscribed_sent = true;
            return self.subscribed();
        }
        let weights = MIX.map(|(_, w)| w);
        match MIX[self.rng.weighted(&weights)].0 {
            Kind::Offers => self.offers(),
            Kind::Update => self.update(),
            Kind::Rescind => self.rescind(),
            Kind::Heartbeat => typed(event::Type::Heartbeat),
            Kind::Failure => self.failure(),
        }
    }

    fn subscribed(&self) -> scheduler::Event {
        let hostname = "ip-10-0-0-1.ec2.internal";
        scheduler::Event {
            subscribed: Some(event::Subscribed {
                framework_id: FrameworkId {
                    value: self.framework_id.clone(),
                },
                heartbeat_interval_seconds: Some(15.0),
                master_info: Some(MasterInfo {
                    id: self.master_uuid.clone(),
                    ip: 0x0100_000A, // 10.0.0.1, network order as Mesos stores it
                    port: 5050,
                    pid: Some("master@10.0.0.1:5050".to_owned()),
                    hostname: Some(hostname.to_owned()),
                    version: Some("1.11.0".to_owned()),
                    address: Some(Address {
                        hostname: Some(hostname.to_owned()),
                        ip: Some("10.0.0.1".to_owned()),
                        port: 5050,
                    }),
                    domain: domain(ZONES[0]),
                    ..Default::default()
                }),
            }),
            ..typed(event::Type::Subscribed)
        }
    }

    fn offers(&mut self) -> scheduler::Event {
        let k = self.k as f64;
        // The allocator offers to a batch of agents each cycle; sizes vary.
        let mut n = ((self.rng.triangular(0.3 * k, 1.7 * k, k) + 0.5) as usize).max(1);
        // Offers not used for a while are declined (freeing the agent).
        while self.outstanding.len() > (4 * self.k).max(self.agents.len() / 2) {
            if let Some((_, ax)) = self.outstanding.pop_front() {
                self.out_agents[ax] = false;
            }
        }
        let mut offers = Vec::with_capacity(n);
        let mut tries = 0;
        while n > 0 && tries < 4 * self.agents.len() {
            let ax = self.order[self.cursor];
            self.cursor = (self.cursor + 1) % self.order.len();
            tries += 1;
            if self.out_agents[ax] {
                continue;
            }
            self.offer_seq += 1;
            let oid = format!("{}-O{}", self.master_uuid, self.offer_seq);
            offers.push(make_offer(
                &mut self.rng,
                &self.agents[ax],
                oid.clone(),
                &self.framework_id,
            ));
            self.outstanding.push_back((oid, ax));
            self.out_agents[ax] = true;
            n -= 1;
        }
        scheduler::Event {
            offers: Some(event::Offers { offers }),
            ..typed(event::Type::Offers)
        }
    }

    fn rescind(&mut self) -> scheduler::Event {
        if self.outstanding.is_empty() {
            return typed(event::Type::Heartbeat);
        }
        let i = self.rng.below(self.outstanding.len());
        let (oid, ax) = self.outstanding.remove(i).expect("index in range");
        self.out_agents[ax] = false;
        scheduler::Event {
            rescind: Some(event::Rescind {
                offer_id: OfferId { value: oid },
            }),
            ..typed(event::Type::Rescind)
        }
    }

    fn update(&mut self) -> scheduler::Event {
        let rng = &mut self.rng;
        let (tid, ax, state, reconcile);
        if !self.tasks.is_empty() && rng.random() < 0.45 {
            let (t, a) = &self.tasks[rng.below(self.tasks.len())];
            (tid, ax) = (t.clone(), *a);
            reconcile = rng.random() < 0.1;
            state = if reconcile {
                TaskState::TaskRunning
            } else {
                let i = rng.below(TERMINAL.len() + 1);
                TERMINAL.get(i).copied().unwrap_or(TaskState::TaskKilling)
            };
        } else {
            let app = app_slug(APPS[rng.below(APPS.len())]);
            tid = format!("{app}.instance-{}._app.1", rng.uuid_v4());
            ax = rng.below(self.agents.len());
            self.tasks.push_back((tid.clone(), ax));
            if self.tasks.len() > MAX_TASKS {
                self.tasks.pop_front();
            }
            reconcile = false;
            state = *rng.choose(&[
                TaskState::TaskStarting,
                TaskState::TaskRunning,
                TaskState::TaskRunning,
            ]);
        }
        let a = &self.agents[ax];
        let mut st = TaskStatus {
            task_id: TaskId { value: tid.clone() },
            state: state as i32,
            agent_id: Some(AgentId {
                value: a.id.clone(),
            }),
            timestamp: Some(1_700_000_000.0 + self.offer_seq as f64 * 0.013 + rng.random()),
            ..Default::default()
        };
        if reconcile {
            // Reconciliation answers carry no uuid.
            st.source = Some(task_status::Source::Master as i32);
            st.reason = Some(task_status::Reason::Reconciliation as i32);
            st.message = Some("Reconciliation: Latest task state".to_owned());
        } else {
            st.source = Some(task_status::Source::Executor as i32);
            st.uuid = Some(rng.bytes16().to_vec().into());
            st.executor_id = Some(ExecutorId { value: tid });
            if TERMINAL.contains(&state) {
                st.reason = Some(*rng.choose(&REASONS) as i32);
                let code = rng.choose(&[1, 137, 143]);
                st.message = Some(format!("Command exited with status {code}"));
                if state == TaskState::TaskLost {
                    st.source = Some(task_status::Source::Agent as i32);
                }
            } else {
                if state == TaskState::TaskRunning {
                    st.healthy = Some(rng.random() < 0.97);
                }
                st.container_status = Some(ContainerStatus {
                    container_id: Some(ContainerId {
                        value: rng.uuid_v4(),
                        parent: None,
                    }),
                    network_infos: vec![NetworkInfo {
                        ip_addresses: vec![network_info::IpAddress {
                            protocol: Some(network_info::Protocol::IPv4 as i32),
                            ip_address: Some(a.ip.clone()),
                        }],
                        ..Default::default()
                    }],
                    executor_pid: Some(rng.randint(1000, 4_000_000) as u32),
                    ..Default::default()
                });
            }
        }
        scheduler::Event {
            update: Some(event::Update { status: st }),
            ..typed(event::Type::Update)
        }
    }

    fn failure(&mut self) -> scheduler::Event {
        let a = &self.agents[self.rng.below(self.agents.len())];
        let mut failure = event::Failure {
            agent_id: Some(AgentId {
                value: a.id.clone(),
            }),
            ..Default::default()
        };
        if self.rng.random() < 0.5 && !self.tasks.is_empty() {
            let (tid, _) = &self.tasks[self.rng.below(self.tasks.len())];
            failure.executor_id = Some(ExecutorId { value: tid.clone() });
            failure.status = Some(137);
        }
        scheduler::Event {
            failure: Some(failure),
            ..typed(event::Type::Failure)
        }
    }
}

// ---------------------------------------------------------------------------
// Streams and their summary.

/// Min / percentiles / max / mean of the encoded size of the offers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OfferBytes {
    pub min: usize,
    pub p50: usize,
    pub p90: usize,
    pub max: usize,
    pub mean: f64,
}

/// What a generated stream holds, like gen_stream.py's `.meta.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub params: GenParams,
    /// Stream bytes, length lines included.
    pub bytes: u64,
    pub events: u64,
    pub offers: u64,
    /// Events by type name (`"OFFERS"`, ...).
    pub by_type: BTreeMap<&'static str, u64>,
    /// `None` if the stream holds no offer.
    pub offer_bytes: Option<OfferBytes>,
}

impl Summary {
    /// Events of type `ty` (a name like `"OFFERS"`).
    pub fn count(&self, ty: &str) -> u64 {
        self.by_type.get(ty).copied().unwrap_or(0)
    }

    /// One-line JSON with sorted keys, like gen_stream.py's meta.
    pub fn to_json(&self) -> String {
        let mut s = String::new();
        let p = &self.params;
        let _ = write!(s, "{{\"agents\": {}, \"by_type\": {{", p.agents);
        for (i, (ty, n)) in self.by_type.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            let _ = write!(s, "{sep}\"{ty}\": {n}");
        }
        let _ = write!(
            s,
            "}}, \"bytes\": {}, \"events\": {}, \"format\": \"protobuf\", \
             \"generator\": \"tritium-bench\"",
            self.bytes, self.events
        );
        if let Some(ob) = &self.offer_bytes {
            let _ = write!(
                s,
                ", \"offer_bytes\": {{\"max\": {}, \"mean\": {:.1}, \"min\": {}, \"p50\": {}, \"p90\": {}}}",
                ob.max, ob.mean, ob.min, ob.p50, ob.p90
            );
        }
        let _ = write!(
            s,
            ", \"offers\": {}, \"offers_per_event\": {}, \"seed\": {}}}",
            self.offers, p.offers_per_event, p.seed
        );
        s
    }
}

/// Writes the RecordIO stream for `params` to `out` and summarizes it.
pub fn write_stream<W: Write>(params: &GenParams, out: &mut W) -> io::Result<Summary> {
    let mut generator = Generator::new(params);
    let mut by_type = BTreeMap::new();
    let (mut bytes, mut events, mut offers) = (0u64, 0u64, 0u64);
    let mut sizes = Vec::new();
    let mut payload = Vec::new();
    let mut record = Vec::new();
    for ev in generator.events(params.events) {
        payload.clear();
        ev.encode(&mut payload).expect("a Vec grows as needed");
        record.clear();
        encode_record(&payload, &mut record);
        out.write_all(&record)?;
        bytes += record.len() as u64;
        events += 1;
        let ty = ev.r#type.unwrap_or(0);
        let name = event::Type::try_from(ty).map_or("UNRECOGNIZED", |t| t.as_str_name());
        *by_type.entry(name).or_insert(0) += 1;
        if ty == event::Type::Offers as i32
            && let Some(o) = &ev.offers
        {
            offers += o.offers.len() as u64;
            sizes.extend(o.offers.iter().map(|o| o.encoded_len()));
        }
    }
    let offer_bytes = (!sizes.is_empty()).then(|| {
        sizes.sort_unstable();
        let n = sizes.len();
        OfferBytes {
            min: sizes[0],
            p50: sizes[n / 2],
            p90: sizes[n * 9 / 10],
            max: sizes[n - 1],
            mean: sizes.iter().sum::<usize>() as f64 / n as f64,
        }
    });
    Ok(Summary {
        params: *params,
        bytes,
        events,
        offers,
        by_type,
        offer_bytes,
    })
}

/// The RecordIO stream for `params`, in memory, with its summary.
pub fn generate(params: &GenParams) -> (Vec<u8>, Summary) {
    let mut out = Vec::new();
    let summary = write_stream(params, &mut out).expect("writing to a Vec cannot fail");
    (out, summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> GenParams {
        GenParams {
            agents: 2_000,
            events: 300,
            offers_per_event: 50,
            seed: 1,
        }
    }

    #[test]
    fn same_params_same_bytes_other_seed_other_bytes() {
        let (a, sa) = generate(&small());
        let (b, sb) = generate(&small());
        assert_eq!(a, b);
        assert_eq!(sa, sb);
        let (c, _) = generate(&GenParams { seed: 2, ..small() });
        assert_ne!(a, c);
    }

    #[test]
    fn the_stream_frames_and_decodes() {
        let (bytes, summary) = generate(&small());
        let mut rest = &bytes[..];
        let (mut events, mut offers) = (0, 0);
        while !rest.is_empty() {
            let nl = rest.iter().position(|&b| b == b'\n').unwrap();
            let len: usize = std::str::from_utf8(&rest[..nl]).unwrap().parse().unwrap();
            let ev = scheduler::Event::decode(&rest[nl + 1..nl + 1 + len]).unwrap();
            if events == 0 {
                assert_eq!(ev.r#type, Some(event::Type::Subscribed as i32));
            }
            offers += ev.offers.map_or(0, |o| o.offers.len() as u64);
            events += 1;
            rest = &rest[nl + 1 + len..];
        }
        assert_eq!(events, summary.events);
        assert_eq!(offers, summary.offers);
        assert_eq!(bytes.len() as u64, summary.bytes);
    }

    /// Summary of the Python reference generator for the same arguments,
    /// obtained once with
    ///
    /// ```text
    /// python3 shared/bench-peers/gen_stream.py --agents 2000 --events 300 \
    ///     --seed 1 --out /tmp/x.rio
    /// ```
    ///
    /// (protobuf 7.36.2, Python 3.11): `{"by_type": {"FAILURE": 7,
    /// "HEARTBEAT": 11, "OFFERS": 167, "RESCIND": 20, "SUBSCRIBED": 1,
    /// "UPDATE": 94}, "bytes": 4857787, "events": 300, "offers": 8102,
    /// "offer_bytes": {"min": 482, "p50": 558, "p90": 750, "max": 978,
    /// "mean": 592.7}}`.
    const PY_BY_TYPE: [(&str, u64); 6] = [
        ("FAILURE", 7),
        ("HEARTBEAT", 11),
        ("OFFERS", 167),
        ("RESCIND", 20),
        ("SUBSCRIBED", 1),
        ("UPDATE", 94),
    ];
    const PY_BYTES: u64 = 4_857_787;
    const PY_OFFERS: u64 = 8_102;
    const PY_OFFER_MEAN: f64 = 592.7;
    const PY_OFFER_MIN: usize = 482;
    const PY_OFFER_MAX: usize = 978;

    fn within(actual: f64, expected: f64, rel: f64) -> bool {
        (actual - expected).abs() <= rel * expected
    }

    #[test]
    fn summary_matches_the_python_generator() {
        let (_, s) = generate(&small());
        assert_eq!(s.events, 300);
        // Event counts by type: both are draws from the same mix (weights out
        // of 100 for 299 events), so they agree within sampling noise: allow
        // 4 binomial standard deviations (plus 2 for the tiny classes).
        let n = 299.0;
        for ((ty, py), w) in PY_BY_TYPE.iter().zip([2.0, 5.0, 55.0, 8.0, 0.0, 30.0]) {
            let ours = s.count(ty) as f64;
            let p: f64 = w / 100.0;
            let tol = 4.0 * (n * p * (1.0 - p)).sqrt() + 2.0;
            assert!(
                (ours - *py as f64).abs() <= tol,
                "{ty}: ours {ours}, python {py}, tolerance {tol:.1}"
            );
        }
        let ob = s.offer_bytes.expect("offers");
        assert!(
            within(ob.mean, PY_OFFER_MEAN, 0.25),
            "mean offer size {} vs python {PY_OFFER_MEAN}",
            ob.mean
        );
        assert!(within(ob.min as f64, PY_OFFER_MIN as f64, 0.25), "{ob:?}");
        assert!(within(ob.max as f64, PY_OFFER_MAX as f64, 0.25), "{ob:?}");
        assert!(within(s.offers as f64, PY_OFFERS as f64, 0.25), "{s:?}");
        assert!(within(s.bytes as f64, PY_BYTES as f64, 0.25), "{s:?}");
    }

    #[test]
    fn rng_helpers_stay_in_range() {
        let mut rng = Rng::new(7);
        for _ in 0..10_000 {
            assert!((0.0..1.0).contains(&rng.random()));
            assert!(rng.below(3) < 3);
            assert!((2..=5).contains(&rng.randint(2, 5)));
            let t = rng.triangular(15.0, 85.0, 50.0);
            assert!((15.0..=85.0).contains(&t));
        }
        let mut s = rng.sample_indexes(8, 8);
        s.sort_unstable();
        assert_eq!(s, (0..8).collect::<Vec<_>>());
        let u = rng.uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        // Weighted choice follows the weights.
        let mut hits = [0u32; 3];
        for _ in 0..30_000 {
            hits[rng.weighted(&[1, 2, 7])] += 1;
        }
        assert!((2_500..3_500).contains(&hits[0]), "{hits:?}");
        assert!((19_500..22_500).contains(&hits[2]), "{hits:?}");
    }

    #[test]
    fn ports_are_carved_into_ranges() {
        let mut rng = Rng::new(3);
        for _ in 0..1_000 {
            let rs = free_port_ranges(&mut rng);
            assert!(!rs.is_empty() && rs.len() <= 6, "{rs:?}");
            for w in rs.windows(2) {
                assert!(w[0].1 < w[1].0);
            }
            for (b, e) in rs {
                assert!(PORTS.0 <= b && b <= e && e <= PORTS.1);
            }
        }
    }
}
