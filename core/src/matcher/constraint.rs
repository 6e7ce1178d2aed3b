//! Constraints: checking a spec's filters, compiling them once into tests
//! over interned agent attributes, and evaluating them.
//!
//! Owns the semantics of every filter kind (documented in the matcher's
//! module docs). Must never evaluate a string comparison on the hot path
//! except LIKE/UNLIKE patterns, and never panic on any attribute value.

use smallvec::SmallVec;

use super::symbols::{Sym, Symbols};
use crate::pattern::Pattern;
use crate::spec::{AppSpec, Filter, FilterKind, SpecError, StrategyKind, parse_range};

/// Attribute name that selects the agent's hostname.
pub const HOSTNAME: &str = "hostname";
/// Marathon's name for the hostname pseudo-attribute (the same as
/// [`HOSTNAME`]).
pub const AT_HOSTNAME: &str = "@hostname";
/// The pseudo-attribute of the agent's fault-domain region
/// (`Offer.domain.fault_domain.region.name`), Marathon's name.
pub const AT_REGION: &str = "@region";
/// The pseudo-attribute of the agent's fault-domain zone
/// (`Offer.domain.fault_domain.zone.name`), Marathon's name.
pub const AT_ZONE: &str = "@zone";

/// Whether an attribute name is a text pseudo-attribute (hostname, region,
/// zone) rather than an agent attribute.
fn is_pseudo(attribute: Option<&str>) -> bool {
    matches!(
        attribute,
        Some(HOSTNAME | AT_HOSTNAME | AT_REGION | AT_ZONE)
    )
}

/// Fixed-point milli-units: the master compares scalars at three decimals.
#[inline]
pub fn milli(v: f64) -> i64 {
    // `as` saturates for out-of-range values and maps NaN to 0.
    (v * 1000.0).round() as i64
}

/// Sorted, coalesced inclusive ranges.
pub type Ranges = SmallVec<[(u64, u64); 4]>;

/// Sorts and merges overlapping or adjacent ranges in place.
pub fn normalize_ranges(r: &mut Ranges) {
    r.retain(|(b, e)| b <= e);
    r.sort_unstable();
    let mut out = 0;
    for i in 0..r.len() {
        if out > 0 && r[i].0 <= r[out - 1].1.saturating_add(1) {
            r[out - 1].1 = r[out - 1].1.max(r[i].1);
        } else {
            r[out] = r[i];
            out += 1;
        }
    }
    r.truncate(out);
}

/// One value of an agent attribute, interned.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Text(Sym),
    Scalar(i64),
    Ranges(SmallVec<[(u64, u64); 2]>),
    /// Sorted, deduplicated.
    Set(SmallVec<[Sym; 4]>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attr {
    pub name: Sym,
    pub value: AttrValue,
}

pub type Attrs = SmallVec<[Attr; 4]>;

/// Which attribute a constraint looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sel {
    /// hydrogen's form without an attribute name: any attribute (the
    /// hostname included, as a text attribute) may satisfy the test.
    Any,
    Hostname,
    /// The agent's fault-domain region (absent without a domain).
    Region,
    /// The agent's fault-domain zone (absent without a domain).
    Zone,
    Named(Sym),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn parse(s: Option<&str>) -> Option<Op> {
        Some(match s.map(str::to_ascii_lowercase).as_deref() {
            None | Some("eq") => Op::Eq,
            Some("lt") => Op::Lt,
            Some("le") => Op::Le,
            Some("gt") => Op::Gt,
            Some("ge") => Op::Ge,
            Some(_) => return None,
        })
    }
    fn holds(self, x: i64, bound: i64) -> bool {
        match self {
            Op::Eq => x == bound,
            Op::Lt => x < bound,
            Op::Le => x <= bound,
            Op::Gt => x > bound,
            Op::Ge => x >= bound,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Test {
    /// The attribute is text and equals one of these (sorted).
    Text(SmallVec<[Sym; 2]>),
    /// The attribute is a set that contains every one of these.
    Set(SmallVec<[Sym; 4]>),
    /// The attribute is a scalar and `attribute op value` holds for at
    /// least one value.
    Scalar(Op, SmallVec<[i64; 2]>),
    /// The attribute is ranges and every one of these lies inside one of
    /// its ranges.
    Ranges(SmallVec<[(u64, u64); 2]>),
    /// The attribute is text (or a set with an item) that one of these
    /// patterns matches as a whole.
    Like(Vec<Pattern>),
}

/// A compiled attribute constraint.
#[derive(Debug, Clone)]
pub struct AttrConstraint {
    /// Index of the filter in the spec.
    pub filter: usize,
    pub sel: Sel,
    pub test: Test,
    /// Negated: the agent must not pass `test`.
    pub not: bool,
}

/// A constraint over where the app's instances already are.
#[derive(Debug, Clone, Copy)]
pub enum Counting {
    /// At most `n` instances per value of the attribute.
    MaxPer { sel: Sel, n: u32 },
    /// Spread evenly over the values of the attribute; with `cap`, no
    /// value holds more than `cap` instances. `soft`: the default zone
    /// spread of a service, not a filter — agents without the attribute
    /// form one more group instead of being refused.
    GroupBy {
        sel: Sel,
        cap: Option<u32>,
        soft: bool,
    },
}

/// The filter index of the implicit zone spread (no filter of the spec).
pub const IMPLICIT: usize = usize::MAX;

/// The group of agents without the attribute, for a soft GROUP_BY.
const MISSING: u64 = u64::MAX;

impl Counting {
    /// The agent's group for this constraint ([`group_key`]; a soft
    /// GROUP_BY puts agents without the attribute in a group of their own).
    pub fn key(&self, agent_ix: u32, agent: AgentAttrs<'_>) -> Option<u64> {
        match *self {
            Counting::MaxPer { sel, .. } => group_key(sel, agent_ix, agent),
            Counting::GroupBy { sel, soft, .. } => {
                group_key(sel, agent_ix, agent).or(soft.then_some(MISSING))
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Compiled {
    pub attrs: Vec<AttrConstraint>,
    /// `(filter index, constraint)`.
    pub counting: Vec<(usize, Counting)>,
    /// Index into `counting` of the GROUP_BY, if any (at most one): the
    /// spec's, or the implicit soft one by zone of a `spread` service.
    pub group_by: Option<usize>,
    /// Some filter names `@region`: the app may leave the home region.
    pub names_region: bool,
    pub strategy: StrategyKind,
    /// At most one instance per agent (strategy or UNIQUE filter).
    pub unique: bool,
    /// Filter index of the UNIQUE filter, `None` if it comes from the
    /// strategy.
    pub unique_filter: Option<usize>,
    /// Human-readable description of each filter, by filter index.
    pub descriptions: Vec<String>,
}

fn field(i: usize, rest: &str) -> String {
    if rest.is_empty() {
        format!("filters[{i}]")
    } else {
        format!("filters[{i}].{rest}")
    }
}

fn describe(f: &Filter) -> String {
    let mut s = String::new();
    if f.not {
        s.push_str("NOT ");
    }
    s.push_str(match f.kind {
        FilterKind::Text => "TEXT",
        FilterKind::Set => "SET",
        FilterKind::Scalar => "SCALAR",
        FilterKind::Ranges => "RANGES",
        FilterKind::Like => "LIKE",
        FilterKind::Unlike => "UNLIKE",
        FilterKind::Strategy => "STRATEGY",
        FilterKind::Unique => "UNIQUE",
        FilterKind::MaxPer => "MAX_PER",
        FilterKind::GroupBy => "GROUP_BY",
    });
    if let Some(a) = &f.attribute {
        s.push(' ');
        s.push_str(a);
    }
    if let Some(op) = &f.operator {
        s.push(' ');
        s.push_str(op);
    }
    if !f.value.is_empty() {
        s.push(' ');
        s.push_str(&f.value.join(","));
    }
    s
}

/// The strategy an app runs with: hydrogen's STRATEGY filter, else the
/// spec's strategy, its kind's default resolved (spread for services,
/// binpack for jobs). Conflicts are refused by [`validate`].
fn effective_strategy(spec: &AppSpec) -> StrategyKind {
    for f in &spec.filters {
        if f.kind == FilterKind::Strategy
            && let Some(v) = f.value.first()
        {
            return if v.eq_ignore_ascii_case("mux") {
                StrategyKind::Mux
            } else {
                StrategyKind::Unique
            };
        }
    }
    spec.strategy.kind.resolve(spec.kind)
}

/// Checks everything about the filters that does not need the cluster:
/// each filter compiles, and no combination can never be satisfied.
pub fn validate(spec: &AppSpec) -> Result<(), SpecError> {
    let mut strategy_filter: Option<(usize, StrategyKind)> = None;
    let mut unique_filter = None;
    let mut group_by = None;
    for (i, f) in spec.filters.iter().enumerate() {
        let is_host = is_pseudo(f.attribute.as_deref());
        if let Some(a) = f.attribute.as_deref()
            && a.starts_with('@')
            && !is_host
        {
            return Err(SpecError::new(
                field(i, "attribute"),
                "unknown pseudo-attribute: @hostname, @region or @zone",
            ));
        }
        match f.kind {
            FilterKind::Strategy
            | FilterKind::Unique
            | FilterKind::MaxPer
            | FilterKind::GroupBy
                if f.not =>
            {
                return Err(SpecError::new(
                    field(i, "not"),
                    "only attribute tests (TEXT, SET, SCALAR, RANGES, LIKE, UNLIKE) can be negated",
                ));
            }
            FilterKind::Set | FilterKind::Scalar | FilterKind::Ranges if is_host => {
                return Err(SpecError::new(
                    field(i, "type"),
                    "hostname, @region and @zone are text: use TEXT (IS), LIKE or UNLIKE",
                ));
            }
            FilterKind::Text | FilterKind::Set => {
                if f.value.is_empty() {
                    return Err(SpecError::new(
                        field(i, "value"),
                        "needs at least one value",
                    ));
                }
            }
            FilterKind::Scalar => {
                if Op::parse(f.operator.as_deref()).is_none() {
                    return Err(SpecError::new(field(i, "operator"), "eq, lt, le, gt or ge"));
                }
                for (j, v) in f.value.iter().enumerate() {
                    if !v.trim().parse::<f64>().is_ok_and(f64::is_finite) {
                        return Err(SpecError::new(
                            field(i, &format!("value[{j}]")),
                            "not a number",
                        ));
                    }
                }
            }
            FilterKind::Ranges => {
                for (j, v) in f.value.iter().enumerate() {
                    if parse_range(v).is_none() {
                        return Err(SpecError::new(
                            field(i, &format!("value[{j}]")),
                            "a number or a range like 100-200",
                        ));
                    }
                }
            }
            FilterKind::Like | FilterKind::Unlike => {
                for (j, v) in f.value.iter().enumerate() {
                    Pattern::compile(v)
                        .map_err(|e| SpecError::new(field(i, &format!("value[{j}]")), e))?;
                }
            }
            FilterKind::Strategy => {
                let k = match f.value.first().map(|v| v.to_ascii_lowercase()).as_deref() {
                    Some("unique") => StrategyKind::Unique,
                    Some("mux") => StrategyKind::Mux,
                    _ => {
                        return Err(SpecError::new(field(i, "value"), "unique or mux"));
                    }
                };
                if strategy_filter.is_some_and(|(_, s)| s != k) {
                    return Err(SpecError::new(
                        field(i, "value"),
                        "two STRATEGY filters that disagree",
                    ));
                }
                strategy_filter = Some((i, k));
            }
            FilterKind::Unique => unique_filter = Some(i),
            FilterKind::MaxPer => {
                let n = f.value.first().and_then(|v| v.trim().parse::<u32>().ok());
                if n.is_none_or(|n| n == 0) {
                    return Err(SpecError::new(
                        field(i, "value"),
                        "one positive whole number",
                    ));
                }
            }
            FilterKind::GroupBy => {
                if group_by.is_some() {
                    return Err(SpecError::new(
                        field(i, "type"),
                        "at most one GROUP_BY per app",
                    ));
                }
                if f.attribute.is_none() {
                    return Err(SpecError::new(
                        field(i, "attribute"),
                        "GROUP_BY needs an attribute",
                    ));
                }
                if let Some(v) = f.value.first()
                    && !v.trim().parse::<u32>().is_ok_and(|n| n > 0)
                {
                    return Err(SpecError::new(field(i, "value"), "the number of groups"));
                }
                group_by = Some(i);
            }
        }
        if matches!(f.kind, FilterKind::MaxPer) && f.attribute.is_none() {
            return Err(SpecError::new(
                field(i, "attribute"),
                "MAX_PER needs an attribute",
            ));
        }
    }
    if let Some((i, s)) = strategy_filter
        && !matches!(
            spec.strategy.kind,
            StrategyKind::Default | StrategyKind::Binpack
        )
        && spec.strategy.kind != s
    {
        return Err(SpecError::new(
            field(i, "value"),
            "the STRATEGY filter contradicts strategy.type",
        ));
    }
    let strategy = effective_strategy(spec);
    if strategy == StrategyKind::Mux {
        let at = |i: usize| field(i, "type");
        if let Some(i) = unique_filter {
            return Err(SpecError::new(at(i), "UNIQUE contradicts the MUX strategy"));
        }
        if let Some(i) = group_by {
            return Err(SpecError::new(
                at(i),
                "GROUP_BY contradicts the MUX strategy",
            ));
        }
    }
    check_text_conflicts(spec)?;
    check_scalar_conflicts(spec)?;
    Ok(())
}

/// Two positive TEXT filters on the same named attribute with no value in
/// common, or a negated TEXT excluding every value a positive one allows,
/// can never both hold.
fn check_text_conflicts(spec: &AppSpec) -> Result<(), SpecError> {
    let fs = &spec.filters;
    for (i, a) in fs.iter().enumerate() {
        if a.kind != FilterKind::Text || a.not || a.attribute.is_none() {
            continue;
        }
        let mut allowed: Vec<&String> = a.value.iter().collect();
        for (j, b) in fs.iter().enumerate() {
            if j == i || b.kind != FilterKind::Text || b.attribute != a.attribute {
                continue;
            }
            if b.not {
                allowed.retain(|v| !b.value.contains(v));
            } else {
                allowed.retain(|v| b.value.contains(v));
            }
            if allowed.is_empty() {
                return Err(SpecError::new(
                    field(j, "value"),
                    format!("can never hold together with filters[{i}]"),
                ));
            }
        }
    }
    Ok(())
}

/// Single-valued SCALAR filters on one named attribute whose bounds leave
/// no number can never all hold.
fn check_scalar_conflicts(spec: &AppSpec) -> Result<(), SpecError> {
    let fs = &spec.filters;
    for (i, a) in fs.iter().enumerate() {
        if a.kind != FilterKind::Scalar || a.not || a.attribute.is_none() || a.value.len() != 1 {
            continue;
        }
        // Feasible interval of milli-values, inclusive.
        let (mut lo, mut hi) = (i64::MIN, i64::MAX);
        for (j, b) in fs.iter().enumerate().skip(i) {
            if b.kind != FilterKind::Scalar
                || b.not
                || b.attribute != a.attribute
                || b.value.len() != 1
            {
                continue;
            }
            let Some(v) = b.value[0].trim().parse::<f64>().ok().map(milli) else {
                continue;
            };
            match Op::parse(b.operator.as_deref()) {
                Some(Op::Eq) => {
                    lo = lo.max(v);
                    hi = hi.min(v);
                }
                Some(Op::Lt) => hi = hi.min(v.saturating_sub(1)),
                Some(Op::Le) => hi = hi.min(v),
                Some(Op::Gt) => lo = lo.max(v.saturating_add(1)),
                Some(Op::Ge) => lo = lo.max(v),
                None => {}
            }
            if lo > hi {
                return Err(SpecError::new(
                    field(j, "value"),
                    format!("no number satisfies this together with filters[{i}]"),
                ));
            }
        }
    }
    Ok(())
}

fn sel(syms: &mut Symbols, attribute: Option<&str>) -> Sel {
    match attribute {
        None => Sel::Any,
        Some(HOSTNAME | AT_HOSTNAME) => Sel::Hostname,
        Some(AT_REGION) => Sel::Region,
        Some(AT_ZONE) => Sel::Zone,
        // A full symbol table makes the name unknown to every agent, which
        // is what a never-seen attribute is.
        Some(a) => syms.intern(a).map_or(Sel::Named(Sym(u32::MAX)), Sel::Named),
    }
}

fn sym_list<const N: usize>(syms: &mut Symbols, values: &[String]) -> SmallVec<[Sym; N]>
where
    [Sym; N]: smallvec::Array<Item = Sym>,
{
    let mut out: SmallVec<[Sym; N]> = values
        .iter()
        .map(|v| syms.intern(v).unwrap_or(Sym(u32::MAX)))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Compiles a spec [`validate`] accepted. Interns attribute names and text
/// values (bounded by the spec's own limits).
pub fn compile(spec: &AppSpec, syms: &mut Symbols) -> Result<Compiled, SpecError> {
    validate(spec)?;
    let strategy = effective_strategy(spec);
    let mut c = Compiled {
        attrs: Vec::new(),
        counting: Vec::new(),
        group_by: None,
        names_region: spec
            .filters
            .iter()
            .any(|f| f.attribute.as_deref() == Some(AT_REGION)),
        strategy,
        unique: strategy == StrategyKind::Unique,
        unique_filter: None,
        descriptions: spec.filters.iter().map(describe).collect(),
    };
    for (i, f) in spec.filters.iter().enumerate() {
        let s = sel(syms, f.attribute.as_deref());
        let test = match f.kind {
            FilterKind::Text => Test::Text(sym_list(syms, &f.value)),
            FilterKind::Set => Test::Set(sym_list(syms, &f.value)),
            FilterKind::Scalar => Test::Scalar(
                Op::parse(f.operator.as_deref()).unwrap_or(Op::Eq),
                f.value
                    .iter()
                    .filter_map(|v| v.trim().parse::<f64>().ok())
                    .map(milli)
                    .collect(),
            ),
            FilterKind::Ranges => {
                Test::Ranges(f.value.iter().filter_map(|v| parse_range(v)).collect())
            }
            FilterKind::Like | FilterKind::Unlike => {
                let mut pats = Vec::with_capacity(f.value.len());
                for (j, v) in f.value.iter().enumerate() {
                    pats.push(
                        Pattern::compile(v)
                            .map_err(|e| SpecError::new(field(i, &format!("value[{j}]")), e))?,
                    );
                }
                Test::Like(pats)
            }
            FilterKind::Strategy => continue,
            FilterKind::Unique => {
                c.unique = true;
                c.unique_filter = Some(i);
                continue;
            }
            FilterKind::MaxPer => {
                let n = f
                    .value
                    .first()
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(1);
                c.counting.push((i, Counting::MaxPer { sel: s, n }));
                continue;
            }
            FilterKind::GroupBy => {
                let k: Option<u32> = f.value.first().and_then(|v| v.trim().parse().ok());
                let cap = k.map(|k| spec.instances.div_ceil(k.max(1)).max(1));
                c.group_by = Some(c.counting.len());
                c.counting.push((
                    i,
                    Counting::GroupBy {
                        sel: s,
                        cap,
                        soft: false,
                    },
                ));
                continue;
            }
        };
        let not = f.not ^ (f.kind == FilterKind::Unlike);
        c.attrs.push(AttrConstraint {
            filter: i,
            sel: s,
            test,
            not,
        });
    }
    // A service spread over agents is spread over zones first, where
    // agents have them: the soft GROUP_BY the placement uses only when an
    // event's agents span two zones or more (see the matcher's docs).
    if c.group_by.is_none() && strategy == StrategyKind::Spread {
        c.group_by = Some(c.counting.len());
        c.counting.push((
            IMPLICIT,
            Counting::GroupBy {
                sel: Sel::Zone,
                cap: None,
                soft: true,
            },
        ));
    }
    Ok(c)
}

/// An agent as constraints see it.
#[derive(Debug, Clone, Copy)]
pub struct AgentAttrs<'a> {
    pub hostname: Sym,
    /// Fault-domain region and zone, when offers carry a domain.
    pub region: Option<Sym>,
    pub zone: Option<Sym>,
    pub attrs: &'a [Attr],
}

fn test_value(test: &Test, v: &AttrValue, syms: &Symbols) -> bool {
    match (test, v) {
        (Test::Text(want), AttrValue::Text(s)) => want.binary_search(s).is_ok(),
        (Test::Set(want), AttrValue::Set(have)) => {
            want.iter().all(|w| have.binary_search(w).is_ok())
        }
        (Test::Scalar(op, bounds), AttrValue::Scalar(x)) => bounds.iter().any(|b| op.holds(*x, *b)),
        (Test::Ranges(want), AttrValue::Ranges(have)) => want
            .iter()
            .all(|(b, e)| have.iter().any(|(hb, he)| hb <= b && e <= he)),
        (Test::Like(pats), AttrValue::Text(s)) => {
            let s = syms.name(*s);
            pats.iter().any(|p| p.matches(s))
        }
        (Test::Like(pats), AttrValue::Set(items)) => items
            .iter()
            .any(|i| pats.iter().any(|p| p.matches(syms.name(*i)))),
        _ => false,
    }
}

impl AttrConstraint {
    /// Whether the agent satisfies this constraint (negation applied).
    pub fn holds(&self, agent: AgentAttrs<'_>, syms: &Symbols) -> bool {
        let host = AttrValue::Text(agent.hostname);
        let passes = match self.sel {
            Sel::Hostname => test_value(&self.test, &host, syms),
            Sel::Region => agent
                .region
                .is_some_and(|r| test_value(&self.test, &AttrValue::Text(r), syms)),
            Sel::Zone => agent
                .zone
                .is_some_and(|z| test_value(&self.test, &AttrValue::Text(z), syms)),
            Sel::Named(n) => agent
                .attrs
                .iter()
                .any(|a| a.name == n && test_value(&self.test, &a.value, syms)),
            Sel::Any => {
                test_value(&self.test, &host, syms)
                    || agent
                        .attrs
                        .iter()
                        .any(|a| test_value(&self.test, &a.value, syms))
            }
        };
        passes != self.not
    }
}

/// The group an agent belongs to for MAX_PER / GROUP_BY: its value of the
/// attribute (text or scalar). For `hostname` the group is the agent itself
/// (`agent_ix`), so agents known only from their tasks are told apart.
/// `None`: the agent has no such attribute, or one of another type, and
/// cannot host.
pub fn group_key(sel: Sel, agent_ix: u32, agent: AgentAttrs<'_>) -> Option<u64> {
    const TEXT: u64 = 1 << 63;
    const AGENT: u64 = 1 << 62;
    match sel {
        Sel::Hostname => Some(TEXT | AGENT | u64::from(agent_ix)),
        Sel::Region => agent.region.map(|r| TEXT | u64::from(r.0)),
        Sel::Zone => agent.zone.map(|z| TEXT | u64::from(z.0)),
        Sel::Named(n) => agent
            .attrs
            .iter()
            .find(|a| a.name == n)
            .and_then(|a| match &a.value {
                AttrValue::Text(s) => Some(TEXT | u64::from(s.0)),
                // Scalars keep 63 bits: values beyond ±2^62 milli-units share
                // groups, far outside any real attribute.
                AttrValue::Scalar(x) => Some((*x as u64) & !TEXT),
                _ => None,
            }),
        Sel::Any => None,
    }
}
