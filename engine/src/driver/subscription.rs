//! The subscription connection: SUBSCRIBE out, then the response head, then
//! the event stream as RecordIO records — turned into the core's inputs one
//! at a time. Owns the socket and the framing state, never the receive
//! buffer (the driver's single reusable one) and never the core.

use bytes::{Buf, BytesMut};
use mio::{Registry, Token};

use super::body::{BodyReader, BodyStep};
use super::socket::{ReadOutcome, Socket};
use super::tls::{TlsSetup, describe};
use crate::core::{CloseReason, Input, MasterUrl};
use crate::wire::{
    ContentType, HeadLimits, Method, RecordStream, Request, ResponseHead, StreamError,
};

/// Bytes of a refused SUBSCRIBE's body handed to the core for its log.
const ERROR_BODY_KEEP: usize = 4 * 1024;
/// A refused SUBSCRIBE with a longer body than this is cut short (we only
/// want the first bytes; the connection is closed afterwards anyway).
const ERROR_BODY_LIMIT: u64 = 1024 * 1024;

#[derive(Debug)]
enum State {
    /// Waiting for the response head.
    Head,
    /// A non-200 answer: collecting the start of its body.
    Refused {
        head: ResponseHead,
        body: BodyReader,
    },
    /// 200: records.
    Streaming(RecordStream),
    /// 200, but its body cannot carry records: the core has been told of
    /// the 200 and hears this next.
    Broken(CloseReason),
}

/// What the subscription has for the core.
#[derive(Debug)]
pub(super) enum Next {
    /// Feed this; the subscription goes on.
    Input(Input),
    /// The subscription is over: close it, then feed this.
    Final(Input),
    /// Read more bytes first.
    NeedMore,
}

/// What one read did.
#[derive(Debug)]
pub(super) enum Read {
    Data(usize),
    WouldBlock,
    /// EOF or an error: close, then feed this.
    Final(Input),
}

#[derive(Debug)]
pub(super) struct Subscription {
    sock: Socket,
    pub(super) generation: u64,
    pub(super) master: MasterUrl,
    state: State,
    max_record_len: usize,
}

impl Subscription {
    /// Connect to `master` and queue the SUBSCRIBE request with `body`.
    /// `tls`: the TLS setup, for an `https://` master.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn open(
        registry: &Registry,
        token: Token,
        generation: u64,
        master: &MasterUrl,
        body: &[u8],
        authorization: Option<&str>,
        max_record_len: usize,
        tls: Option<&TlsSetup>,
    ) -> Result<Subscription, String> {
        let host = master.authority();
        let request = Request {
            method: Method::Post,
            path: &master.path,
            host: &host,
            content_type: Some(ContentType::Protobuf),
            accept: Some(ContentType::Protobuf),
            // SUBSCRIBE must not carry a stream id.
            stream_id: None,
            authorization,
            keep_alive: true,
            body,
        };
        let mut encoded = BytesMut::new();
        request
            .encode(&mut encoded)
            .map_err(|e| format!("SUBSCRIBE request to {master}: {e}"))?;
        let mut sock = Socket::connect(registry, master, token, tls)
            .map_err(|e| describe("connect to", &host, &e))?;
        *sock.write_buf() = encoded;
        Ok(Subscription {
            sock,
            generation,
            master: master.clone(),
            state: State::Head,
            max_record_len,
        })
    }

    /// On a readiness event: finish the connect, write what is queued.
    /// `Ok(false)`: not connected yet.
    pub(super) fn on_ready(&mut self, registry: &Registry) -> Result<bool, CloseReason> {
        let io = |what: &str, e: std::io::Error| {
            CloseReason::Io(describe(what, &self.master.authority(), &e))
        };
        match self.sock.check_connected() {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(e) => return Err(io("connect to", e)),
        }
        self.sock.flush(registry).map_err(|e| io("write to", e))?;
        Ok(true)
    }

    /// The next input from what `buf` holds. `cap`: most bytes the buffer
    /// may hold without yielding a record.
    pub(super) fn next(&mut self, buf: &mut BytesMut, cap: usize) -> Next {
        loop {
            match &mut self.state {
                State::Head => {
                    let head = match ResponseHead::parse(buf, HeadLimits::default()) {
                        Ok(Some(head)) => head,
                        Ok(None) => return Next::NeedMore,
                        Err(e) => {
                            return Next::Final(Input::StreamClosed(CloseReason::Protocol(
                                format!("SUBSCRIBE response head: {e}"),
                            )));
                        }
                    };
                    buf.advance(head.head_len);
                    if (100..200).contains(&head.status) {
                        // An interim response (100 Continue): the real one follows.
                        continue;
                    }
                    if head.status != 200 {
                        let body = BodyReader::new(head.framing, ERROR_BODY_KEEP, ERROR_BODY_LIMIT);
                        self.state = State::Refused { head, body };
                        continue;
                    }
                    self.state = match RecordStream::new(head.framing, self.max_record_len) {
                        Ok(stream) => State::Streaming(stream),
                        Err(e) => State::Broken(CloseReason::Protocol(format!(
                            "SUBSCRIBE answered 200 without a stream: {e}"
                        ))),
                    };
                    return Next::Input(response(&head, String::new()));
                }
                State::Refused { head, body } => {
                    let done = match body.advance(buf) {
                        Ok(BodyStep::Done) => true,
                        Ok(BodyStep::NeedMore) => body.has_enough(),
                        // Give the core what arrived; the connection is over.
                        Err(_) => true,
                    };
                    if !done {
                        return Next::NeedMore;
                    }
                    return Next::Final(response(head, body.text()));
                }
                State::Streaming(stream) => {
                    return match stream.next_record(buf) {
                        Ok(Some(record)) => Next::Input(Input::Event(record)),
                        Ok(None) if buf.len() >= cap => {
                            Next::Final(Input::StreamClosed(CloseReason::Protocol(format!(
                                "{} bytes buffered without a complete record",
                                buf.len()
                            ))))
                        }
                        Ok(None) => Next::NeedMore,
                        Err(StreamError::Ended) => {
                            Next::Final(Input::StreamClosed(CloseReason::Eof))
                        }
                        Err(e) => {
                            Next::Final(Input::StreamClosed(CloseReason::Protocol(e.to_string())))
                        }
                    };
                }
                State::Broken(reason) => {
                    return Next::Final(Input::StreamClosed(reason.clone()));
                }
            }
        }
    }

    /// Read up to `chunk` more bytes into `buf`. Call only after
    /// [`next`](Self::next) said [`Next::NeedMore`]: an EOF is judged on
    /// what is left unframed.
    pub(super) fn read(&mut self, registry: &Registry, buf: &mut BytesMut, chunk: usize) -> Read {
        if !self.sock.is_connected() {
            return Read::WouldBlock;
        }
        match self.sock.read_into(registry, buf, chunk) {
            Ok(ReadOutcome::Data(n)) => Read::Data(n),
            Ok(ReadOutcome::WouldBlock) => Read::WouldBlock,
            Ok(ReadOutcome::Eof) => Read::Final(self.on_eof(buf)),
            Err(e) => Read::Final(Input::StreamClosed(CloseReason::Io(describe(
                "read from",
                &self.master.authority(),
                &e,
            )))),
        }
    }

    /// True once after the TLS handshake completed.
    pub(super) fn take_tls_established(&mut self) -> bool {
        self.sock.take_tls_established()
    }

    fn on_eof(&self, buf: &BytesMut) -> Input {
        match &self.state {
            State::Head => Input::StreamClosed(if buf.is_empty() {
                CloseReason::Eof
            } else {
                CloseReason::Protocol("connection closed inside the SUBSCRIBE response head".into())
            }),
            State::Refused { head, body } => response(head, body.text()),
            State::Streaming(stream) => Input::StreamClosed(match stream.on_eof(buf) {
                StreamError::Ended => CloseReason::Eof,
                e => CloseReason::Protocol(format!("stream closed: {e}")),
            }),
            State::Broken(reason) => Input::StreamClosed(reason.clone()),
        }
    }

    pub(super) fn close(self, registry: &Registry) {
        self.sock.close(registry);
    }
}

fn response(head: &ResponseHead, body: String) -> Input {
    Input::SubscribeResponse {
        status: head.status,
        stream_id: head.stream_id.clone(),
        location: head.location.clone(),
        content_type: head.content_type.clone(),
        body,
    }
}
