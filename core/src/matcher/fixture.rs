//! Encoded OFFERS events built from a compact description, for the
//! matcher's unit tests, property tests and benchmarks (one builder instead
//! of three copies). Not used by the engine itself.

use prost::Message;
use tritium_proto::scheduler::{Event, event};
use tritium_proto::v1::{
    AgentId, Attribute, FrameworkId, Offer, OfferId, Resource, resource, value,
};

/// A scalar resource, allocated to `role` when given.
pub fn scalar(name: &str, v: f64, role: Option<&str>) -> Resource {
    Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: v }),
        allocation_info: role.map(|r| resource::AllocationInfo {
            role: Some(r.into()),
        }),
        ..Resource::default()
    }
}

/// A `ports` resource with inclusive ranges.
pub fn ports(ranges: &[(u64, u64)], role: Option<&str>) -> Resource {
    Resource {
        name: "ports".into(),
        r#type: value::Type::Ranges as i32,
        ranges: Some(value::Ranges {
            range: ranges
                .iter()
                .map(|(b, e)| value::Range { begin: *b, end: *e })
                .collect(),
        }),
        allocation_info: role.map(|r| resource::AllocationInfo {
            role: Some(r.into()),
        }),
        ..Resource::default()
    }
}

/// `r` dynamically reserved for `role` (post-refinement format), with a
/// principal, so a launch must carry the reservation unchanged.
pub fn reserved(mut r: Resource, role: &str) -> Resource {
    r.reservations.push(resource::ReservationInfo {
        r#type: Some(resource::reservation_info::Type::Dynamic as i32),
        role: Some(role.into()),
        principal: Some("ops".into()),
        labels: None,
    });
    r
}

/// A text attribute `name:v`.
pub fn text_attr(name: &str, v: &str) -> Attribute {
    Attribute {
        name: name.into(),
        r#type: value::Type::Text as i32,
        text: Some(value::Text { value: v.into() }),
        ..Attribute::default()
    }
}

/// A scalar attribute `name:v`.
pub fn scalar_attr(name: &str, v: f64) -> Attribute {
    Attribute {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: v }),
        ..Attribute::default()
    }
}

/// A set attribute `name:{items}`.
pub fn set_attr(name: &str, items: &[&str]) -> Attribute {
    Attribute {
        name: name.into(),
        r#type: value::Type::Set as i32,
        set: Some(value::Set {
            item: items.iter().map(|s| (*s).into()).collect(),
        }),
        ..Attribute::default()
    }
}

/// A ranges attribute `name:[b-e, ...]`, ranges inclusive.
pub fn ranges_attr(name: &str, ranges: &[(u64, u64)]) -> Attribute {
    Attribute {
        name: name.into(),
        r#type: value::Type::Ranges as i32,
        ranges: Some(value::Ranges {
            range: ranges
                .iter()
                .map(|(b, e)| value::Range { begin: *b, end: *e })
                .collect(),
        }),
        ..Attribute::default()
    }
}

/// One offer.
pub fn offer(
    id: &str,
    agent: &str,
    hostname: &str,
    resources: Vec<Resource>,
    attributes: Vec<Attribute>,
) -> Offer {
    Offer {
        id: OfferId { value: id.into() },
        framework_id: FrameworkId {
            value: "tritium".into(),
        },
        agent_id: AgentId {
            value: agent.into(),
        },
        hostname: hostname.into(),
        resources,
        attributes,
        ..Offer::default()
    }
}

/// The common agent: cpus, mem, disk and ports `31000-31099`, unreserved.
pub fn plain_offer(id: &str, agent: &str, cpus: f64, mem: f64, attrs: Vec<Attribute>) -> Offer {
    offer(
        id,
        agent,
        &format!("{agent}.example"),
        vec![
            scalar("cpus", cpus, None),
            scalar("mem", mem, None),
            scalar("disk", 10_000.0, None),
            ports(&[(31_000, 31_099)], None),
        ],
        attrs,
    )
}

/// `o` with a fault domain (`Offer.domain`, Mesos ≥ 1.5).
pub fn in_domain(mut o: Offer, region: &str, zone: &str) -> Offer {
    use tritium_proto::v1::{DomainInfo, domain_info::FaultDomain, domain_info::fault_domain};
    o.domain = Some(DomainInfo {
        fault_domain: Some(FaultDomain {
            region: fault_domain::RegionInfo {
                name: region.into(),
            },
            zone: fault_domain::ZoneInfo { name: zone.into() },
        }),
    });
    o
}

/// An encoded OFFERS event.
pub fn event(offers: Vec<Offer>) -> Vec<u8> {
    Event {
        r#type: Some(event::Type::Offers as i32),
        offers: Some(event::Offers { offers }),
        ..Event::default()
    }
    .encode_to_vec()
}
