//! `EventView::offer_ids` against what it stands for: on every input, the
//! same values and errors as `offers()` with `id()`, `agent_id()` and
//! whether `unavailability` is there. Offers are built field by field in a
//! master's layout and then bent: fields reordered, repeated, dropped,
//! given another wire type, unknown fields and groups added, ids with
//! extra fields, long, non-ASCII or not UTF-8, bytes flipped, the input
//! cut. Like every iterator of the view, it stops after its first error.

use proptest::prelude::*;
use prost::encoding::{WireType, encode_key, encode_varint};
use tritium_proto::view::{EventView, ViewError};

type Read = Result<(String, String, bool), ViewError>;

/// Both ways; `None` when the event's own framing fails.
fn both(buf: &[u8]) -> Option<(Vec<Read>, Vec<Read>)> {
    let event = EventView::new(buf).ok()?;
    let fast = event
        .offer_ids()
        .map(|r| {
            r.map(|i| {
                // The bytes' form is the same id.
                assert_eq!(i.id_bytes(), i.id().as_bytes());
                assert_eq!(i.agent_id_bytes(), i.agent_id().as_bytes());
                (
                    i.id().to_owned(),
                    i.agent_id().to_owned(),
                    i.has_unavailability(),
                )
            })
        })
        .collect();
    // `offer_ids` stops after its first error (`offers()` only after its
    // own): the slow side up to and including its first error.
    let mut failed = false;
    let slow = event
        .offers()
        .map(|o| {
            let o = o?;
            let id = o.id()?.to_owned();
            let agent = o.agent_id()?.to_owned();
            Ok((id, agent, !matches!(o.unavailability(), Ok(None))))
        })
        .take_while(|r: &Read| {
            let go = !failed;
            failed |= r.is_err();
            go
        })
        .collect();
    Some((fast, slow))
}

/// One field: number, wire type, payload (for varint and fixed fields
/// the encoded value; for groups the body).
#[derive(Clone, Debug)]
struct Field(u32, u8, Vec<u8>);

fn encode(fields: &[Field]) -> Vec<u8> {
    let mut out = Vec::new();
    for Field(n, wt, payload) in fields {
        let wire = match wt {
            0 => WireType::Varint,
            1 => WireType::SixtyFourBit,
            2 => WireType::LengthDelimited,
            3 => WireType::StartGroup,
            _ => WireType::ThirtyTwoBit,
        };
        encode_key(*n, wire, &mut out);
        match wt {
            2 => {
                encode_varint(payload.len() as u64, &mut out);
                out.extend_from_slice(payload);
            }
            3 => {
                out.extend_from_slice(payload);
                encode_key(*n, WireType::EndGroup, &mut out);
            }
            _ => out.extend_from_slice(payload),
        }
    }
    out
}

fn id_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => "[a-z0-9-]{1,40}".prop_map(String::into_bytes),
        1 => Just(vec![b'x'; 200]),
        1 => Just("ö-offer".as_bytes().to_vec()),
        1 => Just(vec![b'a', 0xff, b'b']),
        1 => Just(Vec::new()),
    ]
}

/// An id message: usually just its value, sometimes more.
fn id_message() -> impl Strategy<Value = Vec<u8>> {
    (id_value(), id_value(), 0..6u8).prop_map(|(v, w, shape)| match shape {
        // The value twice: the last wins.
        0 => encode(&[Field(1, 2, v), Field(1, 2, w)]),
        // An unknown field after it.
        1 => encode(&[Field(1, 2, v), Field(2, 0, vec![7])]),
        // No value at all.
        2 => Vec::new(),
        _ => encode(&[Field(1, 2, v)]),
    })
}

fn offer_fields() -> impl Strategy<Value = Vec<Field>> {
    (
        id_message(),
        id_message(),
        id_message(),
        "[a-z.]{0,20}",
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..60), 0..5),
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..20), 0..4),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(id, fw, agent, host, res, attrs, unavail, alloc)| {
            let mut f = vec![
                Field(1, 2, id),
                Field(2, 2, fw),
                Field(3, 2, agent),
                Field(4, 2, host.into_bytes()),
            ];
            f.extend(res.into_iter().map(|r| Field(5, 2, r)));
            f.extend(attrs.into_iter().map(|a| Field(7, 2, a)));
            if unavail {
                f.push(Field(9, 2, vec![0x0a, 0x02, 0x08, 0x01]));
            }
            if alloc {
                f.push(Field(10, 2, vec![0x0a, 0x01, b'*']));
            }
            f
        })
}

#[derive(Clone, Debug)]
enum Bend {
    None,
    Swap(usize, usize),
    Repeat(usize),
    Drop(usize),
    WireType(usize, u8),
    Unknown(u32, u8),
    Flip(usize, u8),
    Cut(usize),
}

fn bend() -> impl Strategy<Value = Bend> {
    prop_oneof![
        6 => Just(Bend::None),
        1 => (0..12usize, 0..12usize).prop_map(|(a, b)| Bend::Swap(a, b)),
        1 => (0..12usize).prop_map(Bend::Repeat),
        1 => (0..12usize).prop_map(Bend::Drop),
        1 => (0..12usize, prop::sample::select(vec![0u8, 1, 3, 5])).prop_map(|(i, w)| Bend::WireType(i, w)),
        1 => (prop::sample::select(vec![6u32, 8, 12, 15, 16, 300]), prop::sample::select(vec![0u8, 1, 2, 3, 5])).prop_map(|(n, w)| Bend::Unknown(n, w)),
        1 => (0..400usize, any::<u8>()).prop_map(|(i, b)| Bend::Flip(i, b)),
        1 => (0..400usize).prop_map(Bend::Cut),
    ]
}

fn bent(mut f: Vec<Field>, b: &Bend) -> Vec<u8> {
    let n = f.len();
    match *b {
        Bend::Swap(i, j) if i < n && j < n => f.swap(i, j),
        Bend::Repeat(i) if i < n => {
            let again = f[i].clone();
            f.push(again);
        }
        Bend::Drop(i) if i < n => {
            f.remove(i);
        }
        Bend::WireType(i, w) if i < n => {
            f[i].1 = w;
            f[i].2 = match w {
                0 => vec![1],
                1 => vec![0; 8],
                5 => vec![0; 4],
                _ => Vec::new(),
            };
        }
        Bend::Unknown(num, w) => {
            let payload = match w {
                0 => vec![0x96, 0x01],
                1 => vec![0; 8],
                5 => vec![0; 4],
                _ => vec![0x08, 0x01],
            };
            f.insert(n.min(5), Field(num, w, payload));
        }
        _ => {}
    }
    let mut bytes = encode(&f);
    match *b {
        Bend::Flip(i, x) if i < bytes.len() => bytes[i] ^= x | 1,
        Bend::Cut(i) if i < bytes.len() => bytes.truncate(i),
        _ => {}
    }
    bytes
}

/// An OFFERS event of these offers.
fn event(offers: &[Vec<u8>]) -> Vec<u8> {
    let inner: Vec<Field> = offers.iter().map(|o| Field(1, 2, o.clone())).collect();
    encode(&[Field(1, 0, vec![2]), Field(3, 2, encode(&inner))])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn offer_ids_read_what_the_offer_view_reads(
        offers in prop::collection::vec((offer_fields(), bend()), 1..4),
    ) {
        let offers: Vec<Vec<u8>> = offers.iter().map(|(f, b)| bent(f.clone(), b)).collect();
        let (fast, slow) = both(&event(&offers)).expect("the event's framing is built whole");
        prop_assert_eq!(fast, slow);
    }

    #[test]
    fn offer_ids_agree_on_arbitrary_bytes(buf in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Some((fast, slow)) = both(&buf) {
            prop_assert_eq!(fast, slow);
        }
    }
}

#[test]
fn a_masters_offer_is_read_and_a_repeated_id_is_merged_as_prost_merges() {
    let id = |v: &str| encode(&[Field(1, 2, v.as_bytes().to_vec())]);
    let offer = |extra: Vec<Field>| {
        let mut f = vec![
            Field(1, 2, id("o-1")),
            Field(2, 2, id("fw")),
            Field(3, 2, id("agent-1")),
            Field(4, 2, b"host".to_vec()),
            Field(5, 2, vec![0x0a, 0x04, b'c', b'p', b'u', b's']),
        ];
        f.extend(extra);
        encode(&f)
    };
    let plain = event(&[offer(vec![])]);
    let ids: Vec<_> = EventView::new(&plain)
        .unwrap()
        .offer_ids()
        .map(|r| r.map(|i| (i.id(), i.agent_id())))
        .collect();
    assert_eq!(ids, vec![Ok(("o-1", "agent-1"))]);
    // A later occurrence of `id` merges into the first: prost's value.
    let twice = event(&[offer(vec![Field(1, 2, id("o-2"))])]);
    let ids: Vec<_> = EventView::new(&twice)
        .unwrap()
        .offer_ids()
        .map(|r| r.map(|i| i.id()))
        .collect();
    assert_eq!(ids, vec![Ok("o-2")]);
    // No hostname: the offer view's error.
    let no_host = event(&[encode(&[Field(1, 2, id("o")), Field(3, 2, id("a"))])]);
    let ids: Vec<_> = EventView::new(&no_host).unwrap().offer_ids().collect();
    assert_eq!(ids, vec![Err(ViewError::MissingField("Offer.hostname"))]);
    // An id that is not UTF-8 is an error, not a value.
    let bad = event(&[encode(&[
        Field(1, 2, encode(&[Field(1, 2, vec![0xff])])),
        Field(3, 2, id("a")),
        Field(4, 2, b"h".to_vec()),
    ])]);
    let ids: Vec<_> = EventView::new(&bad).unwrap().offer_ids().collect();
    assert_eq!(
        ids,
        vec![Err(ViewError::InvalidUtf8 {
            field: "Offer.id.value"
        })]
    );
}
