//! The view's contract with prost, as an executable check (feature
//! `oracle`; used by `proto/tests/view_props.rs` and the fuzz target
//! `event`).
//!
//! For every accessor of [`OfferView`], [`ResourceView`] and
//! [`AttributeView`], this module declares a *projection*: a prost message
//! holding only the fields that accessor reads, with the Mesos field numbers
//! and types, every other field left unknown (prost then only checks its
//! framing). [`check`] walks everything the view yields of an event and
//! compares each accessor with prost's decode of that message's own bytes
//! into the accessor's projection: `Ok` with the same value when prost
//! decodes it, an error when prost fails. The iterators are compared the
//! same way with a projection that holds the offers (resources,
//! attributes) as raw bytes: the view yields the same messages in the same
//! order, and an item may be an error only where prost rejects that
//! message as a whole (its full decode fails) or where it lacks a field the
//! view requires. The exceptions are the ones ARCHITECTURE.md lists: the
//! view's stricter checks of required fields and of group nesting.

use prost::Message;

use super::{AttributeView, EventView, OfferView, ResourceView, ViewError, event_type};
use crate::{scheduler, v1};

/// Projections: one prost message per accessor, declaring only what it
/// reads.
mod p {
    #![allow(missing_docs)]

    /// A message whose fields are all unknown: decoding it checks framing.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Empty {}

    /// `optional string = 1` (ids' `value`, `AllocationInfo.role`,
    /// `Value.Text.value`, `Persistence.id`, region and zone names).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Str1 {
        #[prost(string, optional, tag = "1")]
        pub value: Option<String>,
    }

    /// `ReservationInfo`: `optional string role = 3`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Reservation {
        #[prost(string, optional, tag = "3")]
        pub role: Option<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Scalar {
        #[prost(double, optional, tag = "1")]
        pub value: Option<f64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Range {
        #[prost(uint64, optional, tag = "1")]
        pub begin: Option<u64>,
        #[prost(uint64, optional, tag = "2")]
        pub end: Option<u64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Ranges {
        #[prost(message, repeated, tag = "1")]
        pub range: Vec<Range>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Set {
        #[prost(string, repeated, tag = "1")]
        pub item: Vec<String>,
    }

    // ---- Event

    /// `Event.offers.offers`, each offer as raw bytes.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct EventOffers {
        #[prost(message, optional, tag = "3")]
        pub offers: Option<OffersRaw>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OffersRaw {
        #[prost(bytes = "vec", repeated, tag = "1")]
        pub offers: Vec<Vec<u8>>,
    }

    // ---- Offer

    /// The fields the offer scan requires, as raw bytes (presence only).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OfferRequired {
        #[prost(bytes = "vec", optional, tag = "1")]
        pub id: Option<Vec<u8>>,
        #[prost(bytes = "vec", optional, tag = "3")]
        pub agent_id: Option<Vec<u8>>,
        #[prost(bytes = "vec", optional, tag = "4")]
        pub hostname: Option<Vec<u8>>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OfferId {
        #[prost(message, optional, tag = "1")]
        pub id: Option<Str1>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OfferFrameworkId {
        #[prost(message, optional, tag = "2")]
        pub id: Option<Str1>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OfferAgentId {
        #[prost(message, optional, tag = "3")]
        pub id: Option<Str1>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OfferHostname {
        #[prost(string, optional, tag = "4")]
        pub hostname: Option<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OfferResourcesRaw {
        #[prost(bytes = "vec", repeated, tag = "5")]
        pub resources: Vec<Vec<u8>>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OfferAttributesRaw {
        #[prost(bytes = "vec", repeated, tag = "7")]
        pub attributes: Vec<Vec<u8>>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OfferUnavailability {
        #[prost(message, optional, tag = "9")]
        pub unavailability: Option<crate::v1::Unavailability>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OfferAllocation {
        #[prost(message, optional, tag = "10")]
        pub allocation_info: Option<Str1>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OfferDomain {
        #[prost(message, optional, tag = "11")]
        pub domain: Option<Domain>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Domain {
        #[prost(message, optional, tag = "1")]
        pub fault_domain: Option<FaultDomain>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct FaultDomain {
        #[prost(message, optional, tag = "1")]
        pub region: Option<Str1>,
        #[prost(message, optional, tag = "2")]
        pub zone: Option<Str1>,
    }

    // ---- Resource

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResourceRequired {
        #[prost(bytes = "vec", optional, tag = "1")]
        pub name: Option<Vec<u8>>,
        #[prost(uint64, optional, tag = "2")]
        pub r#type: Option<u64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResourceName {
        #[prost(string, optional, tag = "1")]
        pub name: Option<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResourceType {
        #[prost(int32, optional, tag = "2")]
        pub r#type: Option<i32>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResourceScalar {
        #[prost(message, optional, tag = "3")]
        pub scalar: Option<Scalar>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResourceRanges {
        #[prost(message, optional, tag = "4")]
        pub ranges: Option<Ranges>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResourceSet {
        #[prost(message, optional, tag = "5")]
        pub set: Option<Set>,
    }

    /// What `role` and `is_reserved` read.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResourceRoles {
        #[prost(string, optional, tag = "6")]
        pub role: Option<String>,
        #[prost(message, repeated, tag = "13")]
        pub reservations: Vec<Reservation>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResourceAllocation {
        #[prost(message, optional, tag = "11")]
        pub allocation_info: Option<Str1>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResourcePersistence {
        #[prost(message, optional, tag = "7")]
        pub disk: Option<DiskPersistence>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct DiskPersistence {
        #[prost(message, optional, tag = "1")]
        pub persistence: Option<Str1>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResourceDiskSource {
        #[prost(message, optional, tag = "7")]
        pub disk: Option<DiskSource>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct DiskSource {
        #[prost(message, optional, tag = "3")]
        pub source: Option<Empty>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResourceRevocable {
        #[prost(message, optional, tag = "9")]
        pub revocable: Option<Empty>,
    }

    // ---- Attribute (text is 5 and set is 6, unlike Resource)

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AttributeText {
        #[prost(message, optional, tag = "5")]
        pub text: Option<Str1>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AttributeSet {
        #[prost(message, optional, tag = "6")]
        pub set: Option<Set>,
    }
}

/// A failed check: what disagreed, on which bytes.
pub type Failure = String;

/// The view's answer and prost's agree: the same value, or both errors. An
/// error from the view's group-nesting limit is allowed either way.
fn agree<T: PartialEq + std::fmt::Debug>(
    what: &str,
    view: Result<T, ViewError>,
    prost: Result<T, prost::DecodeError>,
) -> Result<(), Failure> {
    match (view, prost) {
        (Ok(v), Ok(p)) if v == p => Ok(()),
        (Err(_), Err(_)) | (Err(ViewError::GroupTooDeep), Ok(_)) => Ok(()),
        (v, p) => Err(format!("{what}: view {v:?}, prost {p:?}")),
    }
}

/// The scalar's bits (so that NaN equals itself).
fn bits(v: Option<f64>) -> Option<u64> {
    v.map(f64::to_bits)
}

/// Checks the view against prost on `buf` (any bytes): everything in the
/// module documentation, plus that nothing panics and that
/// [`EventView::validate`] passes exactly when nothing the view yields
/// fails.
pub fn check(buf: &[u8]) -> Result<(), Failure> {
    let full = scheduler::Event::decode(buf);
    let view = match EventView::new(buf) {
        Ok(view) => view,
        Err(e) => {
            if full.is_ok() && e != ViewError::GroupTooDeep {
                return Err(format!("the event scan rejects what prost decodes: {e}"));
            }
            return Ok(());
        }
    };
    if event_type(buf) != Ok(view.event_type()) {
        return Err("event_type() differs from the view's".into());
    }
    if let Ok(full) = &full
        && full.r#type != view.event_type_raw()
    {
        return Err(format!(
            "type: view {:?}, prost {:?}",
            view.event_type_raw(),
            full.r#type
        ));
    }
    let raw = p::EventOffers::decode(buf).map(|e| e.offers.map(|o| o.offers).unwrap_or_default());
    let mut clean = true;
    let mut seq = Sequence::new("offer", raw);
    for item in view.offers() {
        match item {
            Ok(offer) => {
                seq.yielded(offer.as_bytes())?;
                clean &= check_offer(&offer)?;
            }
            Err(e) => {
                seq.failed(e, offer_lacks, |b| v1::Offer::decode(b).is_err())?;
                break;
            }
        }
    }
    seq.end()?;
    clean &= !seq.failed;
    // offer_count reads only the framing: prost's count of offers.
    if let Ok(raw) = &seq.raw
        && view.offer_count() != raw.len()
    {
        return Err(format!(
            "offer_count() is {}, prost has {} offers",
            view.offer_count(),
            raw.len()
        ));
    }
    if view.validate().is_ok() != clean {
        return Err(format!(
            "validate() is {:?} but reading everything {}",
            view.validate(),
            if clean { "succeeds" } else { "fails" }
        ));
    }
    Ok(())
}

/// An iterator of the view (offers, resources, attributes) against prost's
/// list of the same messages as raw bytes.
struct Sequence {
    what: &'static str,
    raw: Result<Vec<Vec<u8>>, prost::DecodeError>,
    n: usize,
    failed: bool,
}

impl Sequence {
    fn new(what: &'static str, raw: Result<Vec<Vec<u8>>, prost::DecodeError>) -> Self {
        Sequence {
            what,
            raw,
            n: 0,
            failed: false,
        }
    }

    /// The view yielded a message: prost's next one, byte for byte (where
    /// prost rejects the list's framing, the view reads lazily up to the
    /// break: [`Sequence::end`] checks that it fails there).
    fn yielded(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        let Ok(raw) = &self.raw else {
            self.n += 1;
            return Ok(());
        };
        if raw.get(self.n).is_none_or(|w| w[..] != *bytes) {
            return Err(format!(
                "{} {}: the view yields bytes prost does not",
                self.what, self.n
            ));
        }
        self.n += 1;
        Ok(())
    }

    /// The view yielded an error: allowed where prost rejects the list's
    /// framing, or rejects this message as a whole, or the message lacks a
    /// field the view requires, or groups nest too deep.
    fn failed(
        &mut self,
        e: ViewError,
        lacks: fn(&[u8], &str) -> bool,
        prost_rejects: fn(&[u8]) -> bool,
    ) -> Result<(), Failure> {
        self.failed = true;
        let Ok(raw) = &self.raw else {
            return Ok(());
        };
        let Some(w) = raw.get(self.n) else {
            return Err(format!(
                "{} {}: the view fails ({e}) after prost's last one",
                self.what, self.n
            ));
        };
        let ok = match e {
            ViewError::MissingField(field) => lacks(w, field),
            ViewError::GroupTooDeep => true,
            _ => prost_rejects(w),
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{} {}: the view rejects with {e}, prost accepts it",
                self.what, self.n
            ))
        }
    }

    /// The iterator ended: without an error, it yielded all of prost's.
    fn end(&self) -> Result<(), Failure> {
        match &self.raw {
            _ if self.failed => Ok(()),
            Ok(raw) if raw.len() == self.n => Ok(()),
            Ok(raw) => Err(format!(
                "the view yields {} {}s, prost {}",
                self.n,
                self.what,
                raw.len()
            )),
            Err(e) => Err(format!(
                "prost rejects the {}s' framing ({e}), the view yields them all",
                self.what
            )),
        }
    }
}

fn offer_lacks(w: &[u8], field: &str) -> bool {
    let Ok(r) = p::OfferRequired::decode(w) else {
        return false;
    };
    match field {
        "Offer.id" => r.id.is_none(),
        "Offer.agent_id" => r.agent_id.is_none(),
        "Offer.hostname" => r.hostname.is_none(),
        _ => false,
    }
}

fn resource_lacks(w: &[u8], field: &str) -> bool {
    let Ok(r) = p::ResourceRequired::decode(w) else {
        return false;
    };
    match field {
        "Resource.name" => r.name.is_none(),
        "Resource.type" => r.r#type.is_none(),
        _ => false,
    }
}

fn attribute_lacks(w: &[u8], field: &str) -> bool {
    // Attribute's name and type have the numbers of Resource's.
    match field {
        "Attribute.name" => resource_lacks(w, "Resource.name"),
        "Attribute.type" => resource_lacks(w, "Resource.type"),
        _ => false,
    }
}

/// Checks one offer's accessors and iterators; whether all of them
/// succeeded.
fn check_offer(o: &OfferView<'_>) -> Result<bool, Failure> {
    let b = o.as_bytes();
    let _ = format!("{o:?}");
    let mut clean = true;
    let mut count = |ok: bool| clean &= ok;

    // Each id is present (the scan required it): prost's default "".
    let id = |s: Option<p::Str1>| s.map(|s| s.value.unwrap_or_default());
    let v = o.id();
    count(v.is_ok());
    agree(
        "Offer.id",
        v.map(|s| Some(s.to_owned())),
        p::OfferId::decode(b).map(|m| id(m.id)),
    )?;
    let v = o.framework_id();
    count(v.is_ok());
    agree(
        "Offer.framework_id",
        v.map(|s| s.map(str::to_owned)),
        p::OfferFrameworkId::decode(b).map(|m| id(m.id)),
    )?;
    let v = o.agent_id();
    count(v.is_ok());
    agree(
        "Offer.agent_id",
        v.map(|s| Some(s.to_owned())),
        p::OfferAgentId::decode(b).map(|m| id(m.id)),
    )?;
    let v = o.hostname();
    count(v.is_ok());
    agree(
        "Offer.hostname",
        v.map(|s| Some(s.to_owned())),
        p::OfferHostname::decode(b).map(|m| m.hostname),
    )?;
    let v = o.allocation_role();
    count(v.is_ok());
    agree(
        "Offer.allocation_info.role",
        v.map(|s| s.map(str::to_owned)),
        p::OfferAllocation::decode(b).map(|m| m.allocation_info.and_then(|a| a.value)),
    )?;
    let v = o.domain();
    count(v.is_ok());
    agree(
        "Offer.domain",
        v.map(|d| d.map(|(r, z)| (r.to_owned(), z.to_owned()))),
        p::OfferDomain::decode(b).map(|m| {
            m.domain.and_then(|d| d.fault_domain).map(|f| {
                let name = |s: Option<p::Str1>| s.and_then(|s| s.value).unwrap_or_default();
                (name(f.region), name(f.zone))
            })
        }),
    )?;
    let v = o.unavailability();
    count(v.is_ok());
    agree(
        "Offer.unavailability",
        v,
        p::OfferUnavailability::decode(b).map(|m| {
            m.unavailability
                .map(|u| (u.start.nanoseconds, u.duration.map(|d| d.nanoseconds)))
        }),
    )?;

    // Resources and attributes.
    let mut seq = Sequence::new(
        "resource",
        p::OfferResourcesRaw::decode(b).map(|m| m.resources),
    );
    for item in o.resources() {
        match item {
            Ok(r) => {
                seq.yielded(r.as_bytes())?;
                clean &= check_resource(&r)?;
            }
            Err(e) => {
                seq.failed(e, resource_lacks, |b| v1::Resource::decode(b).is_err())?;
                break;
            }
        }
    }
    seq.end()?;
    clean &= !seq.failed;
    let mut seq = Sequence::new(
        "attribute",
        p::OfferAttributesRaw::decode(b).map(|m| m.attributes),
    );
    for item in o.attributes() {
        match item {
            Ok(a) => {
                seq.yielded(a.as_bytes())?;
                clean &= check_attribute(&a)?;
            }
            Err(e) => {
                seq.failed(e, attribute_lacks, |b| v1::Attribute::decode(b).is_err())?;
                break;
            }
        }
    }
    seq.end()?;
    clean &= !seq.failed;
    if o.validate().is_ok() != clean {
        return Err(format!(
            "offer validate() is {:?} but reading it all {}",
            o.validate(),
            if clean { "succeeds" } else { "fails" }
        ));
    }
    Ok(clean)
}

/// Checks one resource's accessors; whether all of them succeeded.
#[allow(clippy::type_complexity)]
fn check_resource(r: &ResourceView<'_>) -> Result<bool, Failure> {
    let b = r.as_bytes();
    let _ = format!("{r:?}");
    let mut clean = true;
    let mut count = |ok: bool| clean &= ok;

    let v = r.name();
    count(v.is_ok());
    agree(
        "Resource.name",
        v.map(|s| Some(s.to_owned())),
        p::ResourceName::decode(b).map(|m| m.name),
    )?;
    agree(
        "Resource.type",
        Ok(Some(r.value_type().as_i32())),
        p::ResourceType::decode(b).map(|m| m.r#type),
    )?;
    let v = r.scalar();
    count(v.is_ok());
    agree(
        "Resource.scalar",
        v.map(bits),
        p::ResourceScalar::decode(b).map(|m| bits(m.scalar.map(|s| s.value.unwrap_or(0.0)))),
    )?;
    let v = r.ranges();
    count(v.is_ok());
    agree(
        "Resource.ranges",
        v.map(Iterator::collect::<Vec<_>>),
        p::ResourceRanges::decode(b).map(|m| {
            m.ranges
                .map(|rs| {
                    rs.range
                        .iter()
                        .map(|x| (x.begin.unwrap_or(0), x.end.unwrap_or(0)))
                        .collect()
                })
                .unwrap_or_default()
        }),
    )?;
    let v = r.set();
    count(v.is_ok());
    agree(
        "Resource.set",
        v.map(|s| s.map(str::to_owned).collect::<Vec<_>>()),
        p::ResourceSet::decode(b).map(|m| m.set.map(|s| s.item).unwrap_or_default()),
    )?;
    let roles = p::ResourceRoles::decode(b);
    let v = r.role();
    count(v.is_ok());
    agree(
        "Resource.role",
        v.map(str::to_owned),
        roles.clone().map(|m| match m.reservations.last() {
            Some(last) => last.role.clone().unwrap_or_default(),
            None => m.role.unwrap_or_else(|| "*".to_owned()),
        }),
    )?;
    let v = r.is_reserved();
    count(v.is_ok());
    agree(
        "Resource.is_reserved",
        v,
        roles.map(|m| !m.reservations.is_empty() || m.role.is_some_and(|r| r != "*")),
    )?;
    let v = r.allocation_role();
    count(v.is_ok());
    agree(
        "Resource.allocation_info.role",
        v.map(|s| s.map(str::to_owned)),
        p::ResourceAllocation::decode(b).map(|m| m.allocation_info.and_then(|a| a.value)),
    )?;
    let v = r.persistence_id();
    count(v.is_ok());
    agree(
        "Resource.disk.persistence.id",
        v.map(|s| s.map(str::to_owned)),
        p::ResourcePersistence::decode(b).map(|m| {
            m.disk
                .and_then(|d| d.persistence)
                .map(|p| p.value.unwrap_or_default())
        }),
    )?;
    let v = r.has_disk_source();
    count(v.is_ok());
    agree(
        "Resource.disk.source",
        v,
        p::ResourceDiskSource::decode(b).map(|m| m.disk.is_some_and(|d| d.source.is_some())),
    )?;
    let v = r.is_revocable();
    count(v.is_ok());
    agree(
        "Resource.revocable",
        v,
        p::ResourceRevocable::decode(b).map(|m| m.revocable.is_some()),
    )?;
    if r.validate().is_ok() != clean {
        return Err(format!("resource validate() is {:?}", r.validate()));
    }
    Ok(clean)
}

/// Checks one attribute's accessors; whether all of them succeeded.
fn check_attribute(a: &AttributeView<'_>) -> Result<bool, Failure> {
    let b = a.as_bytes();
    let _ = format!("{a:?}");
    let mut clean = true;
    let mut count = |ok: bool| clean &= ok;

    let v = a.name();
    count(v.is_ok());
    agree(
        "Attribute.name",
        v.map(|s| Some(s.to_owned())),
        p::ResourceName::decode(b).map(|m| m.name),
    )?;
    agree(
        "Attribute.type",
        Ok(Some(a.value_type().as_i32())),
        p::ResourceType::decode(b).map(|m| m.r#type),
    )?;
    let v = a.scalar();
    count(v.is_ok());
    agree(
        "Attribute.scalar",
        v.map(bits),
        p::ResourceScalar::decode(b).map(|m| bits(m.scalar.map(|s| s.value.unwrap_or(0.0)))),
    )?;
    let v = a.ranges();
    count(v.is_ok());
    agree(
        "Attribute.ranges",
        v.map(Iterator::collect::<Vec<_>>),
        p::ResourceRanges::decode(b).map(|m| {
            m.ranges
                .map(|rs| {
                    rs.range
                        .iter()
                        .map(|x| (x.begin.unwrap_or(0), x.end.unwrap_or(0)))
                        .collect()
                })
                .unwrap_or_default()
        }),
    )?;
    let v = a.text();
    count(v.is_ok());
    agree(
        "Attribute.text",
        v.map(|s| s.map(str::to_owned)),
        p::AttributeText::decode(b).map(|m| m.text.map(|t| t.value.unwrap_or_default())),
    )?;
    let v = a.set();
    count(v.is_ok());
    agree(
        "Attribute.set",
        v.map(|s| s.map(str::to_owned).collect::<Vec<_>>()),
        p::AttributeSet::decode(b).map(|m| m.set.map(|s| s.item).unwrap_or_default()),
    )?;
    if a.validate().is_ok() != clean {
        return Err(format!("attribute validate() is {:?}", a.validate()));
    }
    Ok(clean)
}
