//! The call connection: one keep-alive HTTP/1.1 connection to the master
//! that every call except SUBSCRIBE goes on. Requests are written in the
//! order the core emits them (pipelined: the next one does not wait for the
//! previous answer) and answers are matched to them in the same order.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use mio::{Registry, Token};

use super::body::{BodyReader, BodyStep};
use super::socket::{ReadOutcome, Socket};
use super::tls::TlsSetup;
use crate::core::MasterUrl;
use crate::wire::{ContentType, HeadLimits, Method, Request, ResponseHead};

/// Bytes of an answer's body kept for the core (the master answers 202
/// with no body, errors with a line of text).
const BODY_KEEP: usize = 4 * 1024;
/// An answer with a longer body is a protocol error.
const BODY_LIMIT: u64 = 1024 * 1024;
/// Queues that grew past this many entries are given back once empty.
const QUEUE_KEEP: usize = 4096;

/// One answer, in request order.
#[derive(Debug)]
pub(super) struct CallAnswer {
    pub(super) status: u16,
    pub(super) location: Option<String>,
    pub(super) body: String,
    /// The call it answers, for logs.
    pub(super) kind: &'static str,
    /// The master closes the connection after this answer.
    pub(super) close: bool,
}

#[derive(Debug)]
pub(super) enum CallNext {
    Answer(CallAnswer),
    NeedMore,
    /// The connection cannot go on (bytes that are not a valid answer).
    Broken(String),
}

#[derive(Debug)]
pub(super) struct CallConn {
    pub(super) sock: Socket,
    pub(super) generation: u64,
    pub(super) master: MasterUrl,
    host: String,
    /// Calls not answered yet, oldest first: the first `encoded` are in the
    /// write buffer or on the wire, the rest wait in `waiting`.
    in_flight: VecDeque<&'static str>,
    encoded: usize,
    /// Calls beyond `limits.max_in_flight` on the wire, kept in order until
    /// answers make room (a burst of ACKs after a big launch is bigger than
    /// any sensible pipeline; refusing them would drop work).
    waiting: VecDeque<Waiting>,
    waiting_bytes: usize,
    limits: CallLimits,
    rbuf: BytesMut,
    answer: Option<(ResponseHead, BodyReader)>,
    /// Set when a waiting call could not be encoded: the next `next` says
    /// the connection is broken.
    broken: Option<String>,
}

/// What bounds the calls a connection holds for a slow master.
#[derive(Debug, Clone)]
pub(super) struct CallLimits {
    /// Calls written and not answered (the HTTP pipeline's depth).
    pub(super) max_in_flight: usize,
    /// Bytes of calls not written yet, waiting ones included.
    pub(super) max_queued_bytes: usize,
    /// `Authorization` header value for every request.
    pub(super) authorization: Option<String>,
}

#[derive(Debug)]
struct Waiting {
    /// Shared with the call queued before it when equal (all calls of one
    /// subscription carry the same id): 200,000 ACKs waiting after a big
    /// launch held 200,000 copies of it.
    stream_id: Arc<str>,
    body: Bytes,
}

/// Why a call was not queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SendError {
    /// The queue bound was reached: the master is not keeping up.
    Full(String),
    /// The request could not be encoded (a bad stream id or header).
    Invalid(String),
}

impl CallConn {
    pub(super) fn open(
        registry: &Registry,
        token: Token,
        generation: u64,
        master: &MasterUrl,
        tls: Option<&TlsSetup>,
        limits: CallLimits,
    ) -> std::io::Result<CallConn> {
        let sock = Socket::connect(registry, master, token, tls)?;
        Ok(CallConn {
            sock,
            generation,
            master: master.clone(),
            host: master.authority(),
            in_flight: VecDeque::new(),
            encoded: 0,
            waiting: VecDeque::new(),
            waiting_bytes: 0,
            limits,
            rbuf: BytesMut::new(),
            answer: None,
            broken: None,
        })
    }

    pub(super) fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Queue one call: into the write buffer while fewer than
    /// `max_in_flight` calls are unanswered on the wire, else into the
    /// waiting queue until answers make room. Refused only past
    /// `max_queued_bytes` of unwritten calls (the master is not keeping up)
    /// or when the request cannot be encoded; either way the caller must
    /// give up the connection, since calls already queued were accepted.
    pub(super) fn send(
        &mut self,
        stream_id: &str,
        body: Bytes,
        kind: &'static str,
    ) -> Result<(), SendError> {
        let queued = self.unwritten_bytes();
        if queued + body.len() > self.limits.max_queued_bytes {
            return Err(SendError::Full(format!(
                "{queued} bytes of calls to {} not written yet (limit {})",
                self.host, self.limits.max_queued_bytes
            )));
        }
        if self.encoded < self.limits.max_in_flight && self.waiting.is_empty() {
            self.encode(stream_id, &body, kind)?;
        } else {
            self.waiting_bytes += body.len();
            let stream_id = match self.waiting.back() {
                Some(w) if *w.stream_id == *stream_id => Arc::clone(&w.stream_id),
                _ => Arc::from(stream_id),
            };
            // Moved, not cloned: a clone of a `Bytes` made from a `Vec`
            // allocates a shared header of its own.
            self.waiting.push_back(Waiting { stream_id, body });
        }
        self.in_flight.push_back(kind);
        Ok(())
    }

    fn encode(&mut self, stream_id: &str, body: &Bytes, kind: &str) -> Result<(), SendError> {
        let request = Request {
            method: Method::Post,
            path: &self.master.path,
            host: &self.host,
            content_type: Some(ContentType::Protobuf),
            accept: None,
            stream_id: Some(stream_id),
            authorization: self.limits.authorization.as_deref(),
            keep_alive: true,
            body,
        };
        request
            .encode(self.sock.write_buf())
            .map_err(|e| SendError::Invalid(format!("{kind} call: {e}")))?;
        self.encoded += 1;
        Ok(())
    }

    /// Calls that waited, into the write buffer as answers made room.
    /// They were encodable when queued (same stream id and headers as the
    /// calls before them), so a failure here breaks the connection.
    fn promote(&mut self) -> Result<(), String> {
        while self.encoded < self.limits.max_in_flight {
            let Some(w) = self.waiting.pop_front() else {
                break;
            };
            self.waiting_bytes -= w.body.len();
            let kind = self.in_flight.get(self.encoded).copied().unwrap_or("?");
            self.encode(&w.stream_id, &w.body, kind)
                .map_err(|e| match e {
                    SendError::Full(r) | SendError::Invalid(r) => r,
                })?;
        }
        if self.waiting.is_empty() && self.waiting.capacity() > QUEUE_KEEP {
            self.waiting = VecDeque::new();
        }
        Ok(())
    }

    /// Bytes of calls not written to the socket yet: encoded requests in
    /// the write buffer and the bodies of calls waiting for the pipeline.
    /// What `max_queued_bytes` bounds.
    pub(super) fn unwritten_bytes(&self) -> usize {
        self.sock.pending_write() + self.waiting_bytes
    }

    /// Calls held back because the pipeline is full (for tests and stats).
    pub(super) fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// The next answer from what has been read.
    pub(super) fn next(&mut self) -> CallNext {
        if let Some(reason) = self.broken.take() {
            return CallNext::Broken(reason);
        }
        loop {
            if self.answer.is_none() {
                let head = match ResponseHead::parse(&self.rbuf, HeadLimits::default()) {
                    Ok(Some(head)) => head,
                    Ok(None) => return CallNext::NeedMore,
                    Err(e) => return CallNext::Broken(format!("call response head: {e}")),
                };
                self.rbuf.advance(head.head_len);
                if (100..200).contains(&head.status) {
                    continue;
                }
                if self.in_flight.is_empty() {
                    return CallNext::Broken(format!(
                        "the master sent a {} answer to no call",
                        head.status
                    ));
                }
                let body = BodyReader::new(head.framing, BODY_KEEP, BODY_LIMIT);
                self.answer = Some((head, body));
            }
            let (_, body) = self.answer.as_mut().expect("set above");
            match body.advance(&mut self.rbuf) {
                Ok(BodyStep::NeedMore) => return CallNext::NeedMore,
                Ok(BodyStep::Done) => return CallNext::Answer(self.finish()),
                Err(e) => return CallNext::Broken(format!("call response body: {e}")),
            }
        }
    }

    fn finish(&mut self) -> CallAnswer {
        let (head, body) = self.answer.take().expect("an answer in progress");
        let kind = self.in_flight.pop_front().unwrap_or("?");
        self.encoded = self.encoded.saturating_sub(1);
        // After a burst (200,000 ACKs), the queues give their memory back.
        if self.in_flight.is_empty() && self.in_flight.capacity() > QUEUE_KEEP {
            self.in_flight = VecDeque::new();
        }
        if let Err(reason) = self.promote() {
            // Unreachable in practice (see `promote`); the connection
            // cannot be trusted with the rest, so it ends like a bad answer.
            self.broken = Some(reason);
        }
        CallAnswer {
            status: head.status,
            location: head.location,
            body: body.text(),
            kind,
            close: !head.keep_alive,
        }
    }

    /// Read more answer bytes. On [`ReadOutcome::Eof`] see
    /// [`on_eof`](Self::on_eof): an answer delimited by the close is then
    /// complete.
    pub(super) fn read(
        &mut self,
        registry: &Registry,
        chunk: usize,
    ) -> std::io::Result<ReadOutcome> {
        if !self.sock.is_connected() {
            return Ok(ReadOutcome::WouldBlock);
        }
        self.sock.read_into(registry, &mut self.rbuf, chunk)
    }

    /// The master closed the connection: the answer it completes, if any.
    pub(super) fn on_eof(&mut self) -> Option<CallAnswer> {
        let (_, body) = self.answer.as_ref()?;
        body.on_eof().ok()?;
        let mut a = self.finish();
        a.close = true;
        Some(a)
    }

    pub(super) fn close(self, registry: &Registry) {
        self.sock.close(registry);
    }
}
