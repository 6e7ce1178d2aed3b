//! The call connection: one keep-alive HTTP/1.1 connection to the master
//! that every call except SUBSCRIBE goes on. Requests are written in the
//! order the core emits them (pipelined: the next one does not wait for the
//! previous answer) and answers are matched to them in the same order.

use std::collections::VecDeque;

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
    /// Calls written or queued and not answered yet, oldest first.
    in_flight: VecDeque<&'static str>,
    rbuf: BytesMut,
    answer: Option<(ResponseHead, BodyReader)>,
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
    ) -> std::io::Result<CallConn> {
        let sock = Socket::connect(registry, master, token, tls)?;
        Ok(CallConn {
            sock,
            generation,
            master: master.clone(),
            host: master.authority(),
            in_flight: VecDeque::new(),
            rbuf: BytesMut::new(),
            answer: None,
        })
    }

    pub(super) fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Queue one call. `max_in_flight` and `max_queued_bytes` bound what
    /// waits for a slow master.
    pub(super) fn send(
        &mut self,
        stream_id: &str,
        body: &Bytes,
        kind: &'static str,
        authorization: Option<&str>,
        max_in_flight: usize,
        max_queued_bytes: usize,
    ) -> Result<(), SendError> {
        if self.in_flight.len() >= max_in_flight {
            return Err(SendError::Full(format!(
                "{} calls to {} unanswered (the limit)",
                self.in_flight.len(),
                self.host
            )));
        }
        if self.sock.pending_write() + body.len() > max_queued_bytes {
            return Err(SendError::Full(format!(
                "{} bytes of calls to {} not written yet (limit {max_queued_bytes})",
                self.sock.pending_write(),
                self.host
            )));
        }
        let request = Request {
            method: Method::Post,
            path: &self.master.path,
            host: &self.host,
            content_type: Some(ContentType::Protobuf),
            accept: None,
            stream_id: Some(stream_id),
            authorization,
            keep_alive: true,
            body,
        };
        request
            .encode(self.sock.write_buf())
            .map_err(|e| SendError::Invalid(format!("{kind} call: {e}")))?;
        self.in_flight.push_back(kind);
        Ok(())
    }

    /// The next answer from what has been read.
    pub(super) fn next(&mut self) -> CallNext {
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
