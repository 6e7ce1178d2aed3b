//! Property tests for the wire codec: whatever the chunking and read
//! boundaries, the records out are exactly the records in; arbitrary bytes
//! produce errors, never panics.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use tritium_core::wire::{
    BodyFraming, ChunkedDecoder, ChunkedStep, HeadLimits, RecordStream, ResponseHead, StreamError,
    encode_record,
};

/// Encode `records` as RecordIO, cut the body into chunks at `cuts`
/// (positions modulo the body length), and chunk-encode it with extensions
/// on some chunks.
fn chunked_wire(records: &[Vec<u8>], cuts: &[usize], terminate: bool) -> Vec<u8> {
    let mut body = Vec::new();
    for r in records {
        encode_record(r, &mut body);
    }
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    points.push(0);
    points.push(body.len());
    points.sort_unstable();
    points.dedup();
    let mut wire = Vec::new();
    for (i, w) in points.windows(2).enumerate() {
        let piece = &body[w[0]..w[1]];
        if i % 3 == 1 {
            wire.extend_from_slice(format!("{:X};n={i}\r\n", piece.len()).as_bytes());
        } else {
            wire.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        }
        wire.extend_from_slice(piece);
        wire.extend_from_slice(b"\r\n");
    }
    if terminate {
        wire.extend_from_slice(b"0\r\nX-Checksum: 1\r\n\r\n");
    }
    wire
}

/// Feed `wire` to a stream in reads of the given sizes (cycled).
fn feed(framing: BodyFraming, wire: &[u8], reads: &[usize]) -> (Vec<Bytes>, StreamError) {
    let mut stream = RecordStream::new(framing, 1 << 16).unwrap();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut fed = 0;
    let mut r = 0;
    loop {
        match stream.next_record(&mut buf) {
            Ok(Some(rec)) => out.push(rec),
            Ok(None) => {
                if fed == wire.len() {
                    return (out, stream.on_eof(&buf));
                }
                let n = reads[r % reads.len()].max(1);
                r += 1;
                let end = (fed + n).min(wire.len());
                buf.extend_from_slice(&wire[fed..end]);
                fed = end;
            }
            Err(e) => return (out, e),
        }
    }
}

fn records() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..600), 0..24)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn chunked_recordio_roundtrip(
        recs in records(),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
        reads in prop::collection::vec(1usize..300, 1..8),
        terminate in any::<bool>(),
    ) {
        let wire = chunked_wire(&recs, &cuts, terminate);
        let (got, end) = feed(BodyFraming::Chunked, &wire, &reads);
        let got: Vec<Vec<u8>> = got.iter().map(|b| b.to_vec()).collect();
        prop_assert_eq!(got, recs);
        prop_assert_eq!(end, StreamError::Ended);
    }

    #[test]
    fn identity_recordio_roundtrip(recs in records(), reads in prop::collection::vec(1usize..300, 1..8)) {
        let mut body = Vec::new();
        for r in &recs {
            encode_record(r, &mut body);
        }
        let (got, end) = feed(BodyFraming::Length(body.len() as u64), &body, &reads);
        let got: Vec<Vec<u8>> = got.iter().map(|b| b.to_vec()).collect();
        prop_assert_eq!(&got, &recs);
        prop_assert_eq!(end, StreamError::Ended);
        let (got, _) = feed(BodyFraming::UntilClose, &body, &reads);
        prop_assert_eq!(got.len(), recs.len());
    }

    #[test]
    fn truncated_streams_report_truncation(
        recs in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..200), 1..10),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut body = Vec::new();
        for r in &recs {
            encode_record(r, &mut body);
        }
        let at = cut.index(body.len());
        let (got, end) = feed(BodyFraming::UntilClose, &body[..at], &[7]);
        // every record fully before the cut comes out; the cut one does not
        let mut complete = 0;
        let mut pos = 0;
        for r in &recs {
            pos += r.len().to_string().len() + 1 + r.len();
            if pos <= at { complete += 1; }
        }
        prop_assert_eq!(got.len(), complete);
        let boundary = {
            let mut p = 0; let mut at_boundary = at == 0;
            for r in &recs { p += r.len().to_string().len() + 1 + r.len(); if p == at { at_boundary = true; } }
            at_boundary
        };
        if boundary {
            prop_assert_eq!(end, StreamError::Ended);
        } else {
            prop_assert_eq!(end, StreamError::TruncatedRecord);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..2048), reads in prop::collection::vec(1usize..64, 1..4)) {
        let _ = feed(BodyFraming::Chunked, &data, &reads);
        let _ = feed(BodyFraming::UntilClose, &data, &reads);
        let _ = ResponseHead::parse(&data, HeadLimits::default());
        let mut dec = ChunkedDecoder::default();
        let mut buf = BytesMut::from(&data[..]);
        while let Ok(ChunkedStep::Data { available, .. }) = dec.advance(&mut buf) {
            let _ = buf.split_to(available);
            dec.consume(available);
        }
    }
}
