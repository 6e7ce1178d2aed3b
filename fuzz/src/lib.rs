//! Fuzz targets for tritium's codecs and the API's parsers (app specs,
//! taurus job documents, query strings), as plain functions.
//!
//! Each function takes arbitrary bytes and checks a property that must hold
//! for every input — usually that two ways of decoding the same bytes agree
//! (whole buffer vs byte-at-a-time, lazy view vs prost) — and that nothing
//! panics. `cargo fuzz` drives them through the thin binaries in
//! `fuzz_targets/`; `tests/replay.rs` runs every checked-in corpus file
//! through them in the ordinary test run.

use bytes::{Bytes, BytesMut};
use tritium_core::wire::{
    ChunkedDecoder, ChunkedError, ChunkedStep, HeadLimits, RecordFramer, ResponseHead,
};

/// A fuzz target: arbitrary bytes in, a panic if a property fails.
pub type Target = fn(&[u8]);

/// Every target with its corpus directory name under `corpus/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("chunked", chunked),
    ("recordio", recordio),
    ("response_head", response_head),
    ("event", event),
    ("app_spec", app_spec),
    ("job_doc", job_doc),
    ("query", query),
];

#[derive(Debug, PartialEq, Eq)]
enum ChunkedOutcome {
    NeedMore,
    End,
    Error(ChunkedError),
}

/// Decode `input` as a chunked body, feeding it in reads of `read` bytes.
fn dechunk(input: &[u8], read: usize) -> (Vec<u8>, ChunkedOutcome) {
    let mut dec = ChunkedDecoder::default();
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    let mut fed = 0;
    loop {
        match dec.advance(&mut buf) {
            Ok(ChunkedStep::Data {
                available,
                chunk_remaining,
            }) => {
                assert!(available > 0 && available <= buf.len());
                assert!(available as u64 <= chunk_remaining);
                body.extend_from_slice(&buf.split_to(available));
                dec.consume(available);
            }
            Ok(ChunkedStep::End) => return (body, ChunkedOutcome::End),
            Ok(ChunkedStep::NeedMore) => {
                if fed == input.len() {
                    return (body, ChunkedOutcome::NeedMore);
                }
                let end = (fed + read).min(input.len());
                buf.extend_from_slice(&input[fed..end]);
                fed = end;
            }
            Err(e) => return (body, ChunkedOutcome::Error(e)),
        }
    }
}

/// Chunked decoding gives the same body and the same verdict whether the
/// bytes arrive at once or one by one.
pub fn chunked(data: &[u8]) {
    let (whole_body, whole_end) = dechunk(data, data.len().max(1));
    let (byte_body, byte_end) = dechunk(data, 1);
    assert!(whole_body.len() <= data.len());
    assert_eq!(whole_body, byte_body, "body depends on read boundaries");
    assert_eq!(whole_end, byte_end, "verdict depends on read boundaries");
}

/// Frame `body` as RecordIO, cut into segments of `segment` bytes, each
/// delivered in reads of `read` bytes.
fn frame(
    body: &[u8],
    segment: usize,
    read: usize,
) -> (Vec<Bytes>, Option<tritium_core::wire::RecordError>) {
    let mut framer = RecordFramer::new(1 << 20);
    let mut records = Vec::new();
    let segments: Vec<&[u8]> = body.chunks(segment.max(1)).collect();
    for (i, seg) in segments.iter().enumerate() {
        let mut buf = BytesMut::new();
        let mut fed = 0;
        let mut left = seg.len() as u64;
        loop {
            let avail = buf.len();
            match framer.next(&mut buf, avail, left) {
                Ok(step) => {
                    assert!(step.consumed as u64 <= left);
                    left -= step.consumed as u64;
                    if let Some(r) = step.record {
                        assert!(r.len() <= framer.max_record_len());
                        records.push(r);
                        continue;
                    }
                    if step.consumed > 0 {
                        continue;
                    }
                    if fed == seg.len() {
                        break;
                    }
                    let end = (fed + read.max(1)).min(seg.len());
                    buf.extend_from_slice(&seg[fed..end]);
                    fed = end;
                }
                Err(e) => return (records, Some(e)),
            }
        }
        // The framer may stop mid-segment only to wait for bytes of a record
        // inside it, and those can be missing only at the end of the body.
        assert!(
            left == 0 || i + 1 == segments.len(),
            "segment left unconsumed"
        );
    }
    (records, None)
}

/// RecordIO framing: the records are the same whether the body is one
/// segment or many, read at once or in pieces.
pub fn recordio(data: &[u8]) {
    let (split, body) = match data.split_first() {
        Some((&s, rest)) => (usize::from(s % 32) + 1, rest),
        None => return,
    };
    let (one, one_err) = frame(body, body.len().max(1), body.len().max(1));
    let (many, many_err) = frame(body, split, 3);
    let one_ok: Vec<&[u8]> = one.iter().map(|b| &b[..]).collect();
    let many_ok: Vec<&[u8]> = many.iter().map(|b| &b[..]).collect();
    if one_err.is_none() && many_err.is_none() {
        assert_eq!(one_ok, many_ok, "records depend on segmentation");
    } else {
        // an error may be seen earlier with more context; the records
        // before it must agree
        let n = one_ok.len().min(many_ok.len());
        assert_eq!(one_ok[..n], many_ok[..n]);
        assert_eq!(
            one_err.is_some(),
            many_err.is_some(),
            "{one_err:?} vs {many_err:?}"
        );
    }
}

/// Response heads: parsing never panics, and a complete head parses the same
/// from any longer buffer while every shorter prefix is incomplete.
pub fn response_head(data: &[u8]) {
    let limits = HeadLimits::default();
    let Ok(Some(head)) = ResponseHead::parse(data, limits) else {
        return;
    };
    assert!(head.head_len <= data.len());
    let again = ResponseHead::parse(&data[..head.head_len], limits).unwrap();
    assert_eq!(again.as_ref(), Some(&head));
    if head.head_len > 0 {
        let shorter = ResponseHead::parse(&data[..head.head_len - 1], limits);
        assert!(matches!(shorter, Ok(None)), "a prefix parsed: {shorter:?}");
    }
}

/// Event decoding: on any bytes, the lazy view keeps its contract with
/// prost (`tritium_proto::view::oracle::check`, ARCHITECTURE.md "The view
/// and prost"): each accessor of each offer, resource and attribute it
/// yields returns what prost gives when it decodes that message's own bytes
/// into the fields the accessor reads, `Ok` when prost succeeds and an
/// error when prost fails; the iterators yield prost's messages, failing
/// only on one prost rejects (or that lacks a field the view requires);
/// `validate` passes exactly when nothing fails; and nothing panics.
/// Wherever prost decodes the whole event, the view reads the same type
/// and, for every offer, the same value of every field it exposes.
pub fn event(data: &[u8]) {
    use prost::Message;
    use tritium_proto::scheduler::Event;
    use tritium_proto::view::{EventView, oracle};

    if let Err(e) = oracle::check(data) {
        panic!("the view breaks its contract with prost: {e}");
    }
    let (Ok(full), Ok(view)) = (Event::decode(data), EventView::new(data)) else {
        return;
    };
    assert_eq!(view.event_type_raw().unwrap_or(0), full.r#type.unwrap_or(0));
    let offers = full.offers.map(|o| o.offers).unwrap_or_default();
    let mut seen = 0;
    for (i, got) in view.offers().enumerate() {
        // the view is stricter about required fields prost fills with
        // defaults (the oracle checked that such an error is one)
        let Ok(got) = got else { return };
        let want = &offers[i];
        assert_eq!(got.id(), Ok(want.id.value.as_str()));
        assert_eq!(got.agent_id(), Ok(want.agent_id.value.as_str()));
        assert_eq!(got.hostname(), Ok(want.hostname.as_str()));
        assert_eq!(
            got.allocation_role(),
            Ok(want
                .allocation_info
                .as_ref()
                .and_then(|a| a.role.as_deref()))
        );
        for (j, r) in got.resources().enumerate() {
            let Ok(r) = r else { return };
            let w = &want.resources[j];
            assert_eq!(r.name(), Ok(w.name.as_str()));
            assert_eq!(r.value_type().as_i32(), w.r#type);
            assert_eq!(
                r.scalar().map(|s| s.map(f64::to_bits)),
                Ok(w.scalar.as_ref().map(|s| s.value.to_bits()))
            );
            let ranges: Vec<(u64, u64)> = r.ranges().expect("prost decoded it").collect();
            let want_ranges: Vec<(u64, u64)> = w
                .ranges
                .iter()
                .flat_map(|rs| rs.range.iter().map(|x| (x.begin, x.end)))
                .collect();
            assert_eq!(ranges, want_ranges);
            let items: Vec<&str> = r.set().expect("prost decoded it").collect();
            let want_items: Vec<&str> = w
                .set
                .iter()
                .flat_map(|s| s.item.iter().map(String::as_str))
                .collect();
            assert_eq!(items, want_items);
        }
        for (j, a) in got.attributes().enumerate() {
            let Ok(a) = a else { return };
            let w = &want.attributes[j];
            assert_eq!(a.name(), Ok(w.name.as_str()));
            assert_eq!(a.text(), Ok(w.text.as_ref().map(|t| t.value.as_str())));
        }
        seen += 1;
    }
    assert_eq!(
        seen,
        offers.len(),
        "view and prost disagree on the number of offers"
    );
}

// ------------------------------------------------------------ the API's parsers

/// Whether strict parsing refused `e` for a key given twice (the one
/// refusal serde_json does not make).
fn is_duplicate_key(e: &tritium_core::spec::SpecError) -> bool {
    e.error.starts_with("duplicate key")
}

/// An app document as the API reads it: strict JSON, then the spec's
/// parse and checks. Nothing panics; strict parsing agrees with serde_json
/// on every input without a key twice in one object; a spec that parses
/// comes back equal from its own JSON (what the API shows under `spec`
/// is a document it accepts as the same app).
pub fn app_spec(data: &[u8]) {
    use tritium_core::spec::{AppSpec, parse_strict_json};
    let strict = parse_strict_json(data);
    let loose = serde_json::from_slice::<serde_json::Value>(data);
    match (&strict, &loose) {
        (Ok(s), Ok(l)) => assert_eq!(s, l, "strict and serde_json read different values"),
        (Ok(_), Err(e)) => panic!("strict parse accepted what serde_json refuses: {e}"),
        (Err(e), Ok(_)) => assert!(
            is_duplicate_key(e),
            "strict parse refused valid JSON without a duplicate key: {e:?}"
        ),
        (Err(_), Err(_)) => {}
    }
    let Ok(value) = strict else { return };
    let Ok(spec) = AppSpec::from_value(value) else {
        return;
    };
    let json = serde_json::to_vec(&spec).expect("a spec serializes");
    let again = AppSpec::parse(&json).unwrap_or_else(|e| {
        panic!(
            "a spec's own JSON is refused: {e:?}\n{}",
            String::from_utf8_lossy(&json)
        )
    });
    assert_eq!(again, spec, "a spec changed through its own JSON");
}

/// A taurus job document (`POST /job/new`): nothing panics; a job that
/// parses maps onto apps that pass the spec's checks, and the job the API
/// shows back (each app's task template) parses to the same apps.
pub fn job_doc(data: &[u8]) {
    use tritium::taurus::{Job, JobTask};
    let Ok(job) = Job::parse(data) else { return };
    let Ok(apps) = job.apps() else { return };
    assert_eq!(apps.len(), job.tasks.len(), "one app per task template");
    for a in &apps {
        a.validate()
            .unwrap_or_else(|e| panic!("a job's app fails the spec's checks: {e:?}"));
    }
    let shown = serde_json::json!({
        "id": job.id,
        "tasks": apps.iter().map(JobTask::from_app).collect::<Vec<_>>(),
    });
    let again = Job::parse(shown.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("the job as shown is refused: {e:?}\n{shown}"));
    let again = again
        .apps()
        .unwrap_or_else(|e| panic!("the job as shown maps to no apps: {e:?}"));
    assert_eq!(
        again, apps,
        "a job changed through the document the API shows"
    );
}

/// A request target's query (`/v1/api/app/all?limit=...`): nothing panics,
/// paging that is accepted is within its bounds, and any string written
/// with the client's escaping reads back unchanged.
pub fn query(data: &[u8]) {
    use tritium::query;
    use tritium_core::contract::{MAX_TASK_LIMIT, TaskDetail};
    let url = String::from_utf8_lossy(data);
    let max_page = 1 + data.first().copied().unwrap_or(0) as usize;
    for (k, v) in query::pairs(&url) {
        assert!(
            query::value(&url, &k).is_some(),
            "a pair's key {k:?} (value {v:?}) is not found"
        );
    }
    if let Ok(p) = query::list_page(&url, max_page) {
        assert!((1..=max_page).contains(&p.limit));
        assert!((1..=MAX_TASK_LIMIT).contains(&p.task_limit));
    }
    if let Ok((name, page)) = query::app_page(&url) {
        assert!(!name.is_empty());
        assert!((1..=MAX_TASK_LIMIT).contains(&page.limit));
        assert_ne!(page.after.as_deref(), Some(""));
    }
    if let Ok(p) = query::jobs_page(&url, max_page) {
        assert!((1..=max_page).contains(&p.limit));
        assert_ne!(p.tasks, TaskDetail::All);
    }
    let escaped = tritium_client::query_value(&url);
    assert_eq!(query::percent_decode(&escaped), url, "escape then decode");
    let target = format!("/v1/api/app?x=1&name={escaped}&name=other");
    assert_eq!(query::value(&target, "name").as_deref(), Some(&*url));
}
