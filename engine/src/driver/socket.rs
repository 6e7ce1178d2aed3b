//! One non-blocking TCP connection to a master: connect, a write buffer that
//! survives partial writes, reads into a caller's buffer, and the readiness
//! interest that goes with it (WRITABLE only while bytes wait to be written
//! or the connect is in progress).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};

use bytes::{Buf, BytesMut};
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

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
    wbuf: BytesMut,
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
    /// Start connecting to `url`; readiness arrives with `token`.
    pub(super) fn connect(registry: &Registry, url: &MasterUrl, token: Token) -> io::Result<Self> {
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

    pub(super) fn pending_write(&self) -> usize {
        self.wbuf.len()
    }

    /// Write what is queued, as far as the socket takes it, and ask for
    /// WRITABLE only if something is left.
    pub(super) fn flush(&mut self, registry: &Registry) -> io::Result<()> {
        if !self.connected {
            // WRITABLE interest is on until the connect completes.
            return Ok(());
        }
        while !self.wbuf.is_empty() {
            match self.stream.write(&self.wbuf) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.wbuf.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let want = if self.wbuf.is_empty() {
            Interest::READABLE
        } else {
            Interest::READABLE | Interest::WRITABLE
        };
        if want != self.interest {
            registry.reregister(&mut self.stream, self.token, want)?;
            self.interest = want;
        }
        Ok(())
    }

    /// Append up to `chunk` bytes read from the socket to `buf`.
    ///
    /// The spare room is zeroed before the read (this crate has no unsafe
    /// code to read into uninitialised memory); the buffer's allocation is
    /// reused from read to read once the records handed out are dropped.
    pub(super) fn read_into(
        &mut self,
        buf: &mut BytesMut,
        chunk: usize,
    ) -> io::Result<ReadOutcome> {
        let len = buf.len();
        buf.resize(len + chunk, 0);
        let result = loop {
            match self.stream.read(&mut buf[len..]) {
                Ok(0) => break Ok(ReadOutcome::Eof),
                Ok(n) => break Ok(ReadOutcome::Data(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    break Ok(ReadOutcome::WouldBlock);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        let got = match result {
            Ok(ReadOutcome::Data(n)) => n,
            _ => 0,
        };
        buf.truncate(len + got);
        result
    }

    /// Deregister and close.
    pub(super) fn close(mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.stream);
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}
