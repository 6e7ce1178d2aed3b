//! One non-blocking TCP connection to a master: connect, a write buffer that
//! survives partial writes, reads into a caller's buffer, and the readiness
//! interest that goes with it (WRITABLE only while bytes wait to be written
//! or the connect is in progress).
//!
//! For an `https://` master the socket carries a rustls
//! [`ClientConnection`]: the write buffer holds plaintext that is handed to
//! rustls (which holds it until the handshake is done), reads return
//! decrypted bytes, and every read or write moves the handshake on. The
//! callers see the same plaintext byte stream either way.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::ClientConnection;

use super::tls::{TlsError, TlsFailure, TlsSetup};
use crate::core::MasterUrl;

/// What one read gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReadOutcome {
    /// This many bytes were appended.
    Data(usize),
    /// Nothing to read now; wait for the next readiness event.
    WouldBlock,
    /// The peer closed its side.
    Eof,
}

#[derive(Debug)]
pub(super) struct Socket {
    stream: TcpStream,
    token: Token,
    connected: bool,
    interest: Interest,
    /// Bytes to send: plaintext (for TLS, not yet handed to rustls).
    wbuf: BytesMut,
    /// The most `wbuf` held since it was last given back (see
    /// [`WBUF_KEEP`]).
    wbuf_peak: usize,
    tls: Option<Tls>,
}

/// A write buffer that held more than this is given back once it drains:
/// the ACCEPTs of one OFFERS event that places 100,000 tasks are about
/// 40 MB, and a `BytesMut` keeps its largest size for good.
const WBUF_KEEP: usize = 1 << 20;

/// The TLS side of a socket.
#[derive(Debug)]
struct Tls {
    conn: Box<ClientConnection>,
    /// What the client trusts, for certificate errors.
    trust: Arc<str>,
    /// The handshake finished and nobody asked yet
    /// ([`Socket::take_tls_established`]).
    established: bool,
}

/// The first address `url` resolves to. A name lookup blocks the engine
/// thread; masters are normally given as addresses or resolved from
/// /etc/hosts, and a lookup happens once per (re)connect only.
fn resolve(url: &MasterUrl) -> io::Result<SocketAddr> {
    (url.host.as_str(), url.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address for the host"))
}

impl Socket {
    /// Start connecting to `url`; readiness arrives with `token`. `tls`:
    /// the TLS setup, for an `https://` master (else plain TCP).
    pub(super) fn connect(
        registry: &Registry,
        url: &MasterUrl,
        token: Token,
        tls: Option<&TlsSetup>,
    ) -> io::Result<Self> {
        let tls = match tls {
            Some(setup) => Some(Tls {
                conn: Box::new(setup.connection(&url.host)?),
                trust: setup.trust().clone(),
                established: false,
            }),
            None => None,
        };
        let addr = resolve(url)?;
        let mut stream = TcpStream::connect(addr)?;
        let interest = Interest::READABLE | Interest::WRITABLE;
        registry.register(&mut stream, token, interest)?;
        Ok(Socket {
            stream,
            token,
            connected: false,
            interest,
            wbuf: BytesMut::new(),
            wbuf_peak: 0,
            tls,
        })
    }

    pub(super) fn is_connected(&self) -> bool {
        self.connected
    }

    /// After any readiness event: is the connection established?
    /// `Ok(false)`: still in progress (a spurious wake-up).
    pub(super) fn check_connected(&mut self) -> io::Result<bool> {
        if self.connected {
            return Ok(true);
        }
        if let Some(e) = self.stream.take_error()? {
            return Err(e);
        }
        match self.stream.peer_addr() {
            Ok(_) => {
                self.connected = true;
                // Calls are small and latency matters more than packets.
                let _ = self.stream.set_nodelay(true);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Bytes waiting to be written.
    pub(super) fn write_buf(&mut self) -> &mut BytesMut {
        &mut self.wbuf
    }

    /// Plaintext bytes waiting to be written (not counting what rustls
    /// holds: at most its buffer limit).
    pub(super) fn pending_write(&self) -> usize {
        self.wbuf.len()
    }

    /// Something waits to be written: plaintext, or TLS records.
    pub(super) fn wants_flush(&self) -> bool {
        !self.wbuf.is_empty() || self.tls.as_ref().is_some_and(|t| t.conn.wants_write())
    }

    /// True once after the TLS handshake completed (never for plain TCP).
    pub(super) fn take_tls_established(&mut self) -> bool {
        self.tls
            .as_mut()
            .is_some_and(|t| std::mem::take(&mut t.established))
    }

    /// Write what is queued, as far as the socket takes it, and ask for
    /// WRITABLE only if something is left.
    pub(super) fn flush(&mut self, registry: &Registry) -> io::Result<()> {
        if !self.connected {
            // WRITABLE interest is on until the connect completes.
            return Ok(());
        }
        self.wbuf_peak = self.wbuf_peak.max(self.wbuf.len());
        let want_write = match &mut self.tls {
            None => {
                while !self.wbuf.is_empty() {
                    match self.stream.write(&self.wbuf) {
                        Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                        Ok(n) => self.wbuf.advance(n),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                !self.wbuf.is_empty()
            }
            Some(tls) => {
                pump_tls(&mut tls.conn, &mut self.stream, &mut self.wbuf)?;
                // While the handshake runs rustls takes no more plaintext:
                // only its own records make the socket worth waiting for.
                tls.conn.wants_write() || (!tls.conn.is_handshaking() && !self.wbuf.is_empty())
            }
        };
        if self.wbuf.is_empty() && self.wbuf_peak > WBUF_KEEP {
            self.wbuf = BytesMut::new();
            self.wbuf_peak = 0;
        }
        let want = if want_write {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        if want != self.interest {
            registry.reregister(&mut self.stream, self.token, want)?;
            self.interest = want;
        }
        Ok(())
    }

    /// Append up to `chunk` bytes read from the socket to `buf` (for TLS:
    /// decrypted bytes; the registry is for the handshake's writes).
    ///
    /// The spare room is zeroed before the read (this crate has no unsafe
    /// code to read into uninitialised memory); the buffer's allocation is
    /// reused from read to read once the records handed out are dropped.
    pub(super) fn read_into(
        &mut self,
        registry: &Registry,
        buf: &mut BytesMut,
        chunk: usize,
    ) -> io::Result<ReadOutcome> {
        let len = buf.len();
        buf.resize(len + chunk, 0);
        let result = if self.tls.is_some() {
            self.read_tls(registry, &mut buf[len..])
        } else {
            loop {
                match self.stream.read(&mut buf[len..]) {
                    Ok(0) => break Ok(ReadOutcome::Eof),
                    Ok(n) => break Ok(ReadOutcome::Data(n)),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        break Ok(ReadOutcome::WouldBlock);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(e),
                }
            }
        };
        let got = match result {
            Ok(ReadOutcome::Data(n)) => n,
            _ => 0,
        };
        buf.truncate(len + got);
        result
    }

    /// Plaintext from rustls: what it has decrypted already, else TLS
    /// records read from the socket until there is plaintext, the socket
    /// has nothing more (`WouldBlock`: the edge-triggered readiness is
    /// re-armed), or the connection ends.
    fn read_tls(&mut self, registry: &Registry, out: &mut [u8]) -> io::Result<ReadOutcome> {
        loop {
            let tls = self.tls.as_mut().expect("a TLS socket");
            match tls.conn.reader().read(out) {
                // A close_notify from the master.
                Ok(0) => return Ok(ReadOutcome::Eof),
                Ok(n) => return Ok(ReadOutcome::Data(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // A TCP close without close_notify: the HTTP framing judges
                // whether anything was cut short, as for plain TCP.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    if tls.conn.is_handshaking() {
                        return Err(TlsError::io(TlsFailure::HandshakeEof));
                    }
                    return Ok(ReadOutcome::Eof);
                }
                Err(e) => return Err(e),
            }
            match tls.conn.read_tls(&mut self.stream) {
                // Ok(0) is the TCP EOF: rustls notes it, and its reader
                // reports it once the plaintext before it is taken.
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(ReadOutcome::WouldBlock);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let handshaking = tls.conn.is_handshaking();
            if let Err(e) = tls.conn.process_new_packets() {
                // Best effort: the alert rustls queued tells the master why.
                let _ = tls.conn.write_tls(&mut self.stream);
                let failure = if handshaking {
                    TlsFailure::Handshake(e)
                } else {
                    TlsFailure::Session(e)
                };
                return Err(TlsError::io_with_trust(failure, &tls.trust));
            }
            if handshaking && !tls.conn.is_handshaking() {
                tls.established = true;
                tracing::debug!(
                    target: "tritium::driver",
                    version = ?tls.conn.protocol_version(),
                    suite = ?tls.conn.negotiated_cipher_suite().map(|s| s.suite()),
                    "TLS handshake done"
                );
            }
            // The handshake's answers, and the plaintext queued behind it.
            self.flush(registry)?;
        }
    }

    /// Deregister and close (for TLS, a close_notify first if the socket
    /// takes it at once).
    pub(super) fn close(mut self, registry: &Registry) {
        if let Some(tls) = self.tls.as_mut()
            && self.connected
        {
            tls.conn.send_close_notify();
            let _ = tls.conn.write_tls(&mut self.stream);
        }
        let _ = registry.deregister(&mut self.stream);
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// Hand queued plaintext to rustls and write its records until everything
/// is out, the socket would block, or (during the handshake) rustls holds
/// all the plaintext it takes before the handshake is done.
fn pump_tls(
    conn: &mut ClientConnection,
    stream: &mut TcpStream,
    wbuf: &mut BytesMut,
) -> io::Result<()> {
    loop {
        let mut moved = 0;
        while !wbuf.is_empty() {
            // Bounded by rustls's buffer limit: it takes less, or nothing,
            // while its records wait for the socket.
            let n = conn.writer().write(wbuf)?;
            if n == 0 {
                break;
            }
            wbuf.advance(n);
            moved += n;
        }
        while conn.wants_write() {
            match conn.write_tls(stream) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if wbuf.is_empty() || conn.is_handshaking() || moved == 0 {
            return Ok(());
        }
    }
}
