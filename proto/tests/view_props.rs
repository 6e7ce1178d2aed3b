//! Property tests for the borrowed OFFERS reader (`tritium_proto::view`):
//! for every OFFERS event prost can encode, the view reads exactly what
//! prost's full decode reads, on every field the view exposes; duplicated
//! fields merge the same way; no truncated or corrupted input panics; and
//! on every input, each accessor agrees with prost's decode of its own
//! message into the fields that accessor reads (`view::oracle::check`, the
//! contract in ARCHITECTURE.md, "The view and prost").

#![allow(deprecated)] // `Resource.role` is deprecated upstream; the view reads it.

use proptest::prelude::*;
use prost::Message;
use tritium_proto::scheduler::{self, event};
use tritium_proto::v1::{self, resource, value};
use tritium_proto::view::{self, EventView, ViewError, oracle};

// ---------------------------------------------------------------------------
// What the view exposes, as owned data, read both ways.

#[derive(Debug, PartialEq)]
struct EventSummary {
    type_raw: Option<i32>,
    offers: Vec<OfferSummary>,
}

#[derive(Debug, PartialEq)]
struct OfferSummary {
    id: String,
    framework_id: String,
    agent_id: String,
    hostname: String,
    allocation_role: Option<String>,
    /// `(region, zone)` of the fault domain.
    domain: Option<(String, String)>,
    resources: Vec<ResourceSummary>,
    attributes: Vec<AttributeSummary>,
}

#[derive(Debug, PartialEq)]
struct ResourceSummary {
    name: String,
    value_type: i32,
    /// Bits, so that NaN compares equal to itself.
    scalar: Option<u64>,
    ranges: Vec<(u64, u64)>,
    set: Vec<String>,
    role: String,
    reserved: bool,
    allocation_role: Option<String>,
    persistence_id: Option<String>,
    revocable: bool,
}

#[derive(Debug, PartialEq)]
struct AttributeSummary {
    name: String,
    value_type: i32,
    text: Option<String>,
    scalar: Option<u64>,
    ranges: Vec<(u64, u64)>,
    set: Vec<String>,
}

fn owned(s: Option<&str>) -> Option<String> {
    s.map(str::to_owned)
}

/// Reads everything through the view; the first error wins.
fn from_view(buf: &[u8]) -> Result<EventSummary, ViewError> {
    let event = EventView::new(buf)?;
    let mut offers = Vec::new();
    for offer in event.offers() {
        let offer = offer?;
        let mut resources = Vec::new();
        for r in offer.resources() {
            resources.push(resource_from_view(&r?)?);
        }
        let mut attributes = Vec::new();
        for a in offer.attributes() {
            attributes.push(attribute_from_view(&a?)?);
        }
        offers.push(OfferSummary {
            id: offer.id()?.to_owned(),
            // prost has no "absent" for this required field: it reads "".
            framework_id: offer.framework_id()?.unwrap_or_default().to_owned(),
            agent_id: offer.agent_id()?.to_owned(),
            hostname: offer.hostname()?.to_owned(),
            allocation_role: owned(offer.allocation_role()?),
            domain: offer.domain()?.map(|(r, z)| (r.to_owned(), z.to_owned())),
            resources,
            attributes,
        });
    }
    Ok(EventSummary {
        type_raw: event.event_type_raw(),
        offers,
    })
}

fn ranges_of(r: Option<&value::Ranges>) -> Vec<(u64, u64)> {
    r.map(|r| r.range.iter().map(|r| (r.begin, r.end)).collect())
        .unwrap_or_default()
}

fn set_of(s: Option<&value::Set>) -> Vec<String> {
    s.map(|s| s.item.clone()).unwrap_or_default()
}

/// The same facts from prost's full decode, with Mesos' role rules.
fn from_prost(event: &scheduler::Event) -> EventSummary {
    let offers = event
        .offers
        .as_ref()
        .map(|o| o.offers.as_slice())
        .unwrap_or_default();
    EventSummary {
        type_raw: event.r#type,
        offers: offers
            .iter()
            .map(|o| OfferSummary {
                id: o.id.value.clone(),
                framework_id: o.framework_id.value.clone(),
                agent_id: o.agent_id.value.clone(),
                hostname: o.hostname.clone(),
                allocation_role: o.allocation_info.as_ref().and_then(|a| a.role.clone()),
                domain: o
                    .domain
                    .as_ref()
                    .and_then(|d| d.fault_domain.as_ref())
                    .map(|f| (f.region.name.clone(), f.zone.name.clone())),
                resources: o.resources.iter().map(resource_from_prost).collect(),
                attributes: o.attributes.iter().map(attribute_from_prost).collect(),
            })
            .collect(),
    }
}

fn resource_from_view(r: &view::ResourceView<'_>) -> Result<ResourceSummary, ViewError> {
    Ok(ResourceSummary {
        name: r.name()?.to_owned(),
        value_type: r.value_type().as_i32(),
        scalar: r.scalar()?.map(f64::to_bits),
        ranges: r.ranges()?.collect(),
        set: r.set()?.map(str::to_owned).collect(),
        role: r.role()?.to_owned(),
        reserved: r.is_reserved()?,
        allocation_role: owned(r.allocation_role()?),
        persistence_id: owned(r.persistence_id()?),
        revocable: r.is_revocable()?,
    })
}

fn attribute_from_view(a: &view::AttributeView<'_>) -> Result<AttributeSummary, ViewError> {
    Ok(AttributeSummary {
        name: a.name()?.to_owned(),
        value_type: a.value_type().as_i32(),
        text: owned(a.text()?),
        scalar: a.scalar()?.map(f64::to_bits),
        ranges: a.ranges()?.collect(),
        set: a.set()?.map(str::to_owned).collect(),
    })
}

fn resource_from_prost(r: &v1::Resource) -> ResourceSummary {
    ResourceSummary {
        name: r.name.clone(),
        value_type: r.r#type,
        scalar: r.scalar.as_ref().map(|s| s.value.to_bits()),
        ranges: ranges_of(r.ranges.as_ref()),
        set: set_of(r.set.as_ref()),
        role: match r.reservations.last() {
            Some(last) => last.role.clone().unwrap_or_default(),
            None => r.role().to_owned(),
        },
        reserved: !r.reservations.is_empty() || r.role.as_deref().is_some_and(|role| role != "*"),
        allocation_role: r.allocation_info.as_ref().and_then(|a| a.role.clone()),
        persistence_id: r
            .disk
            .as_ref()
            .and_then(|d| d.persistence.as_ref())
            .map(|p| p.id.clone()),
        revocable: r.revocable.is_some(),
    }
}

fn attribute_from_prost(a: &v1::Attribute) -> AttributeSummary {
    AttributeSummary {
        name: a.name.clone(),
        value_type: a.r#type,
        text: a.text.as_ref().map(|t| t.value.clone()),
        scalar: a.scalar.as_ref().map(|s| s.value.to_bits()),
        ranges: ranges_of(a.ranges.as_ref()),
        set: set_of(a.set.as_ref()),
    }
}

/// Where prost and the view both accept `buf`, they must read the same;
/// on any `buf`, every accessor must agree with prost's decode of its own
/// message into the fields it reads (`oracle::check`: the contract, which
/// also covers `validate` and the iterators); and nothing may panic.
/// Returns whether both accepted the whole event.
fn agree_where_both_accept(buf: &[u8]) -> Result<bool, TestCaseError> {
    oracle::check(buf).map_err(|e| TestCaseError::fail(format!("{e} on {buf:x?}")))?;
    match (from_view(buf), scheduler::Event::decode(buf)) {
        (Ok(view), Ok(prost)) => {
            prop_assert_eq!(
                view,
                from_prost(&prost),
                "view and prost disagree on {:x?}",
                buf
            );
            Ok(true)
        }
        _ => Ok(false),
    }
}

// ---------------------------------------------------------------------------
// Strategies.

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z0-9.-]{0,12}",
        1 => any::<String>(),
    ]
}

fn role() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_owned()),
        "[a-z]{1,5}(/[a-z]{1,5}){0,2}",
        any::<String>()
    ]
}

fn value_type() -> impl Strategy<Value = i32> {
    prop_oneof![8 => 0..4i32, 1 => any::<i32>()]
}

fn scalar() -> BoxedStrategy<value::Scalar> {
    prop_oneof![
        (0u32..100_000).prop_map(|m| f64::from(m) / 1000.0),
        any::<f64>(),
    ]
    .prop_map(|value| value::Scalar { value })
    .boxed()
}

fn ranges() -> BoxedStrategy<value::Ranges> {
    prop::collection::vec((any::<u64>(), any::<u64>()), 0..4)
        .prop_map(|rs| value::Ranges {
            range: rs
                .into_iter()
                .map(|(begin, end)| value::Range { begin, end })
                .collect(),
        })
        .boxed()
}

fn set() -> BoxedStrategy<value::Set> {
    prop::collection::vec(text(), 0..4)
        .prop_map(|item| value::Set { item })
        .boxed()
}

fn labels() -> BoxedStrategy<v1::Labels> {
    prop::collection::vec((text(), prop::option::of(text())), 0..3)
        .prop_map(|ls| v1::Labels {
            labels: ls
                .into_iter()
                .map(|(key, value)| v1::Label { key, value })
                .collect(),
        })
        .boxed()
}

fn reservation() -> BoxedStrategy<resource::ReservationInfo> {
    (
        prop::option::of(0..3i32),
        prop::option::of(role()),
        prop::option::of(text()),
        prop::option::of(labels()),
    )
        .prop_map(
            |(r#type, role, principal, labels)| resource::ReservationInfo {
                r#type,
                role,
                principal,
                labels,
            },
        )
        .boxed()
}

fn allocation_info() -> impl Strategy<Value = resource::AllocationInfo> {
    prop::option::of(role()).prop_map(|role| resource::AllocationInfo { role })
}

fn disk() -> BoxedStrategy<resource::DiskInfo> {
    let persistence = (text(), prop::option::of(text()))
        .prop_map(|(id, principal)| resource::disk_info::Persistence { id, principal });
    let source = (0..3i32, prop::option::of(text())).prop_map(|(r#type, root)| {
        resource::disk_info::Source {
            r#type,
            mount: root.map(|root| resource::disk_info::source::Mount { root: Some(root) }),
            ..Default::default()
        }
    });
    (prop::option::of(persistence), prop::option::of(source))
        .prop_map(|(persistence, source)| resource::DiskInfo {
            persistence,
            volume: None,
            source,
        })
        .boxed()
}

fn resource() -> BoxedStrategy<v1::Resource> {
    let name = prop_oneof![
        Just("cpus".to_owned()),
        Just("mem".to_owned()),
        Just("disk".to_owned()),
        Just("ports".to_owned()),
        text(),
    ];
    let values = (
        value_type(),
        prop::option::of(scalar()),
        prop::option::of(ranges()),
        prop::option::of(set()),
    );
    let roles = (
        prop::option::of(role()),
        prop::option::of(allocation_info()),
        prop::option::of(reservation()),
        prop::collection::vec(reservation(), 0..3),
    );
    let extras = (
        prop::option::of(disk()),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(text()),
    );
    (name, values, roles, extras)
        .prop_map(
            |(
                name,
                (r#type, scalar, ranges, set),
                (role, allocation_info, reservation, reservations),
                extras,
            )| {
                let (disk, revocable, shared, provider) = extras;
                v1::Resource {
                    provider_id: provider.map(|value| Box::new(v1::ResourceProviderId { value })),
                    name,
                    r#type,
                    scalar,
                    ranges,
                    set,
                    role,
                    allocation_info,
                    reservation: reservation.map(Box::new),
                    reservations,
                    disk: disk.map(Box::new),
                    revocable: revocable.then_some(resource::RevocableInfo {}),
                    shared: shared.then_some(resource::SharedInfo {}),
                }
            },
        )
        .boxed()
}

fn attribute() -> BoxedStrategy<v1::Attribute> {
    (
        text(),
        value_type(),
        prop::option::of(scalar()),
        prop::option::of(ranges()),
        prop::option::of(set()),
        prop::option::of(text()),
    )
        .prop_map(|(name, r#type, scalar, ranges, set, text)| v1::Attribute {
            name,
            r#type,
            scalar,
            ranges,
            set,
            text: text.map(|value| value::Text { value }),
        })
        .boxed()
}

/// Fields of `Offer` the view skips.
fn offer_extras() -> impl Strategy<
    Value = (
        Option<v1::Url>,
        Option<v1::DomainInfo>,
        Vec<v1::ExecutorId>,
        Option<v1::Unavailability>,
    ),
> {
    let url = (
        text(),
        prop::option::of(text()),
        any::<i32>(),
        prop::option::of(text()),
    )
        .prop_map(|(scheme, hostname, port, path)| v1::Url {
            scheme,
            address: v1::Address {
                hostname,
                ip: Some("10.0.0.1".into()),
                port,
            },
            path,
            query: vec![v1::Parameter {
                key: "k".into(),
                value: "v".into(),
            }],
            fragment: None,
        });
    let domain = prop::option::of((text(), text())).prop_map(|fd| v1::DomainInfo {
        fault_domain: fd.map(|(region, zone)| v1::domain_info::FaultDomain {
            region: v1::domain_info::fault_domain::RegionInfo { name: region },
            zone: v1::domain_info::fault_domain::ZoneInfo { name: zone },
        }),
    });
    let executors = prop::collection::vec(text().prop_map(|value| v1::ExecutorId { value }), 0..3);
    let unavailability =
        (any::<i64>(), prop::option::of(any::<i64>())).prop_map(|(start, duration)| {
            v1::Unavailability {
                start: v1::TimeInfo { nanoseconds: start },
                duration: duration.map(|nanoseconds| v1::DurationInfo { nanoseconds }),
            }
        });
    (
        prop::option::of(url),
        prop::option::of(domain),
        executors,
        prop::option::of(unavailability),
    )
}

fn offer() -> BoxedStrategy<v1::Offer> {
    (
        (text(), text(), text(), text()),
        prop::option::of(allocation_info()),
        prop::collection::vec(resource(), 0..6),
        prop::collection::vec(attribute(), 0..5),
        offer_extras(),
    )
        .prop_map(
            |(
                (id, framework_id, agent_id, hostname),
                allocation_info,
                resources,
                attributes,
                extras,
            )| {
                let (url, domain, executor_ids, unavailability) = extras;
                v1::Offer {
                    id: v1::OfferId { value: id },
                    framework_id: v1::FrameworkId {
                        value: framework_id,
                    },
                    agent_id: v1::AgentId { value: agent_id },
                    hostname,
                    url,
                    domain,
                    resources,
                    attributes,
                    executor_ids,
                    unavailability,
                    allocation_info,
                }
            },
        )
        .boxed()
}

fn offers_event() -> BoxedStrategy<scheduler::Event> {
    (
        prop::collection::vec(offer(), 0..5),
        prop::option::of(text()),
        prop::option::of(text()),
    )
        .prop_map(|(offers, error, subscribed)| scheduler::Event {
            r#type: Some(event::Type::Offers as i32),
            offers: Some(event::Offers { offers }),
            // Sub-messages of other event types, which the view skips.
            error: error.map(|message| event::Error { message }),
            subscribed: subscribed.map(|value| event::Subscribed {
                framework_id: v1::FrameworkId { value },
                heartbeat_interval_seconds: Some(15.0),
                master_info: None,
            }),
            ..Default::default()
        })
        .boxed()
}

// ---------------------------------------------------------------------------
// Hand-built framing, for fields that occur twice or not at all.

fn len_field(field: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    prost::encoding::encode_key(field, prost::encoding::WireType::LengthDelimited, &mut out);
    prost::encoding::encode_varint(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

/// The messages on the path to what the view reads (field numbers from the
/// Mesos definitions), so that [`strip`] can reach inside them.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Event,
    Offers,
    Offer,
    Id,
    Resource,
    Attribute,
    AllocationInfo,
    Reservation,
    Disk,
    Persistence,
    Scalar,
    Ranges,
    Range,
    Set,
    Text,
}

fn sub_kind(kind: Kind, field: u32) -> Option<Kind> {
    use Kind::*;
    match (kind, field) {
        (Event, 3) => Some(Offers),
        (Offers, 1) => Some(Offer),
        (Offer, 1..=3) => Some(Id),
        (Offer, 5) => Some(Resource),
        (Offer, 7) => Some(Attribute),
        (Offer, 10) | (Resource, 11) => Some(AllocationInfo),
        (Resource | Attribute, 3) => Some(Scalar),
        (Resource | Attribute, 4) => Some(Ranges),
        (Resource, 5) | (Attribute, 6) => Some(Set),
        (Attribute, 5) => Some(Text),
        (Resource, 7) => Some(Disk),
        (Resource, 13) => Some(Reservation),
        (Disk, 1) => Some(Persistence),
        (Ranges, 1) => Some(Range),
        _ => None,
    }
}

/// Whether the view rejects a message without this field.
fn view_requires(kind: Kind, field: u32) -> bool {
    matches!(
        (kind, field),
        (Kind::Offer, 1 | 3 | 4) | (Kind::Resource | Kind::Attribute, 1 | 2)
    )
}

/// Drops each field of a valid message with probability 1/4, recursively
/// inside the messages the view reads, so that required fields prost always
/// writes (ids' values, `Scalar.value`, `Range.end`, ...) go missing too;
/// but never the ones the view insists on. The result is still valid
/// protobuf.
fn strip(buf: &[u8], kind: Kind, rng: &mut u64) -> Vec<u8> {
    use prost::encoding::{WireType, decode_key, decode_varint};
    let mut out = Vec::new();
    let mut rest = buf;
    while !rest.is_empty() {
        let before = rest;
        let (field, wire_type) = decode_key(&mut rest).expect("valid input");
        let payload = match wire_type {
            WireType::Varint => {
                decode_varint(&mut rest).expect("valid input");
                None
            }
            WireType::SixtyFourBit => {
                rest = &rest[8..];
                None
            }
            WireType::ThirtyTwoBit => {
                rest = &rest[4..];
                None
            }
            WireType::LengthDelimited => {
                let len = decode_varint(&mut rest).expect("valid input") as usize;
                let (payload, after) = rest.split_at(len);
                rest = after;
                Some(payload)
            }
            WireType::StartGroup | WireType::EndGroup => unreachable!("prost writes no groups"),
        };
        // xorshift64: enough randomness for picking fields.
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        if rng.is_multiple_of(4) && !view_requires(kind, field) {
            continue;
        }
        match (payload, sub_kind(kind, field)) {
            (Some(payload), Some(sub)) => out.extend(len_field(field, &strip(payload, sub, rng))),
            _ => out.extend_from_slice(&before[..before.len() - rest.len()]),
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Properties.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Everything the view exposes equals prost's full decode.
    #[test]
    fn view_reads_what_prost_decodes(event in offers_event()) {
        let buf = event.encode_to_vec();
        let decoded = scheduler::Event::decode(buf.as_slice()).expect("prost reads what it wrote");
        let view = EventView::new(&buf).map_err(|e| TestCaseError::fail(format!("view rejected valid input: {e}")))?;
        prop_assert_eq!(view.event_type(), view::EventType::Offers);
        prop_assert_eq!(view::event_type(&buf), Ok(view::EventType::Offers));
        prop_assert_eq!(view.validate(), Ok(()));
        for offer in view.offers() {
            prop_assert!(offer.expect("validated").framework_id().expect("validated").is_some(), "prost always writes framework_id");
        }
        let offers = decoded.offers.as_ref().map_or(0, |o| o.offers.len());
        prop_assert_eq!(view.offer_count(), offers, "offer_count counts what prost decodes");
        prop_assert_eq!(view.offer_count(), view.offers().count());
        let summary = from_view(&buf).map_err(|e| TestCaseError::fail(format!("view rejected valid input: {e}")))?;
        prop_assert_eq!(summary, from_prost(&decoded));
        oracle::check(&buf).map_err(TestCaseError::fail)?;
    }

    /// Fields that occur twice (concatenated messages, which prost merges):
    /// whole events, offers inside an offer, resources and attributes inside
    /// a resource / attribute occurrence. The second copy has random fields
    /// stripped, so a merge must also keep what only the first one has.
    #[test]
    fn view_merges_duplicate_fields_like_prost(
        events in (offers_event(), offers_event()),
        offers in (offer(), offer()),
        resources in (resource(), resource()),
        attributes in (attribute(), attribute()),
        seed in any::<u64>(),
    ) {
        let mut rng = seed | 1;
        // Two events back to back decode as one, merged.
        let mut buf = events.0.encode_to_vec();
        buf.extend(strip(&events.1.encode_to_vec(), Kind::Event, &mut rng));
        prop_assert!(agree_where_both_accept(&buf)?, "both must accept merged valid events");

        // One offer written as two, containing one resource written as two
        // and one attribute written as two.
        let mut offer = offers.0.encode_to_vec();
        offer.extend(strip(&offers.1.encode_to_vec(), Kind::Offer, &mut rng));
        let mut resource = resources.0.encode_to_vec();
        resource.extend(strip(&resources.1.encode_to_vec(), Kind::Resource, &mut rng));
        offer.extend(len_field(5, &resource)); // Offer.resources
        let mut attribute = attributes.0.encode_to_vec();
        attribute.extend(strip(&attributes.1.encode_to_vec(), Kind::Attribute, &mut rng));
        offer.extend(len_field(7, &attribute)); // Offer.attributes
        let mut buf = scheduler::Event {
            r#type: Some(event::Type::Offers as i32),
            ..Default::default()
        }
        .encode_to_vec();
        buf.extend(len_field(3, &len_field(1, &offer))); // Event.offers.offers
        prop_assert!(agree_where_both_accept(&buf)?, "both must accept merged valid offers");
    }

    /// Valid events with random fields missing at every level (optional
    /// ones, and required ones prost always writes but does not insist on,
    /// such as ids' values, `Scalar.value`, `Range.end`): the view reads
    /// what prost reads. (Fields the view insists on are kept; dropping
    /// those is covered by the unit tests and the corruption property.)
    #[test]
    fn view_reads_sparse_events_like_prost(event in offers_event(), seed in any::<u64>()) {
        let mut rng = seed | 1;
        let buf = strip(&event.encode_to_vec(), Kind::Event, &mut rng);
        prop_assert!(scheduler::Event::decode(buf.as_slice()).is_ok(), "stripping keeps protobuf valid");
        prop_assert!(agree_where_both_accept(&buf)?, "the view accepts every field it needs");
    }

    /// No prefix of a valid event panics; one that is read at all is read
    /// like prost reads it.
    #[test]
    fn truncated_events_never_panic(event in offers_event(), cut in any::<prop::sample::Index>()) {
        let buf = event.encode_to_vec();
        let cut = cut.index(buf.len() + 1);
        agree_where_both_accept(&buf[..cut])?;
    }

    /// Corrupted events never panic; where prost and the view both accept
    /// one, they read the same.
    #[test]
    fn corrupted_events_never_panic(
        event in offers_event(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1..=255u8), 1..6),
    ) {
        let mut buf = event.encode_to_vec();
        if !buf.is_empty() {
            for (at, mask) in flips {
                let i = at.index(buf.len());
                buf[i] ^= mask;
            }
        }
        agree_where_both_accept(&buf)?;
    }

    /// Arbitrary bytes never panic.
    #[test]
    fn arbitrary_bytes_never_panic(buf in prop::collection::vec(any::<u8>(), 0..512)) {
        agree_where_both_accept(&buf)?;
    }
}
