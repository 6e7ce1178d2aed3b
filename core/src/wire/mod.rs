//! The sans-IO wire codec between tritium and a Mesos master.
//!
//! Bytes in, values out; nothing here owns a socket, a clock or a thread.
//! The driver reads from the network into one reusable [`bytes::BytesMut`]
//! and hands it to these decoders, which take what they understand from its
//! front:
//!
//! * [`request`] writes HTTP/1.1 requests (SUBSCRIBE and every other call).
//! * [`response`] parses a response head with `httparse` and says how the
//!   body is framed.
//! * [`chunked`] strips `Transfer-Encoding: chunked` framing (size lines,
//!   extensions, trailers) at any split point.
//! * [`recordio`] splits the body into RecordIO records. A record that lies
//!   inside one chunk (the master writes one record per chunk) comes out as a
//!   [`bytes::Bytes`] slice of the receive buffer: no copy. Only a record that
//!   straddles chunk boundaries is assembled into its own buffer.
//! * [`stream`] ties body framing and record framing together for the
//!   SUBSCRIBE response.
//!
//! Every length the peer announces is checked against a limit before it is
//! trusted, and memory is only ever reserved for bytes that have arrived.
//! Malformed input is a typed error (drop the connection, re-subscribe);
//! nothing here panics on input.

pub mod chunked;
pub mod recordio;
pub mod request;
pub mod response;
pub mod stream;

pub use chunked::{ChunkedDecoder, ChunkedError, ChunkedLimits, ChunkedStep};
pub use recordio::{DEFAULT_MAX_RECORD_LEN, FrameStep, RecordError, RecordFramer, encode_record};
pub use request::{ContentType, Method, Request, RequestError, basic_authorization};
pub use response::{BodyFraming, HeadError, HeadLimits, ResponseHead};
pub use stream::{RecordStream, StreamError};
