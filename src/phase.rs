//! Tells an I/O failure before the request was completely written from one
//! after.
//!
//! ureq reports a reset connection as `Error::Io(ConnectionReset)` whether it
//! came while connecting (a TLS handshake), while writing the request, or
//! while waiting for the answer. Only the last can follow a request the
//! server received whole, so only the last must be treated as "maybe
//! delivered". [`PhaseConnector`] wraps ureq's default connector chain and
//! marks the I/O errors of the first two phases; `transport::classify` reads
//! the mark with [`before_sending`].
//!
//! Why a failed write proves the request incomplete: `write_all` fails only
//! when some byte was not accepted by the local kernel (or, under TLS, by
//! rustls), and ureq writes the head before the body with a `Content-Length`,
//! so the server cannot have read a whole request.
//!
//! This uses `ureq::unversioned`, which is outside ureq's semver promise:
//! `Cargo.toml` pins ureq to one minor version (`~3.5`) for that reason.

use std::fmt;
use std::io;

use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, DefaultConnector, NextTimeout, Transport,
};

/// ureq's [`DefaultConnector`] (TCP, proxies, rustls), whose connections mark
/// the I/O errors raised before the request was completely written.
#[derive(Debug, Default)]
pub(crate) struct PhaseConnector(DefaultConnector);

impl Connector for PhaseConnector {
    type Out = Phased;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<()>,
    ) -> Result<Option<Phased>, ureq::Error> {
        // Nothing of the request is written while connecting.
        match self.0.connect(details, chained) {
            Ok(transport) => Ok(transport.map(Phased)),
            Err(e) => Err(mark(e)),
        }
    }
}

/// A connection that marks the I/O errors of its writes.
#[derive(Debug)]
pub(crate) struct Phased(Box<dyn Transport>);

impl Transport for Phased {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.0.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.0.transmit_output(amount, timeout).map_err(mark)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        // Through a CONNECT proxy, the tunnel is a `Phased` too, and a TLS
        // read may write to it: a failure there, while the answer is awaited,
        // comes after the request was sent. Only this outermost layer knows.
        self.0.await_input(timeout).map_err(unmark)
    }

    fn is_open(&mut self) -> bool {
        self.0.is_open()
    }

    fn is_tls(&self) -> bool {
        self.0.is_tls()
    }
}

/// Whether this I/O error was raised before the request was completely
/// written (while connecting or writing).
pub(crate) fn before_sending(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<NotSent>())
}

/// The mark: the original error, kind kept.
#[derive(Debug)]
struct NotSent(io::Error);

impl fmt::Display for NotSent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, before the request was completely sent", self.0)
    }
}

impl std::error::Error for NotSent {}

/// Marks an I/O error as raised before the request was completely written.
pub(crate) fn mark(e: ureq::Error) -> ureq::Error {
    match e {
        ureq::Error::Io(io) if !before_sending(&io) => {
            ureq::Error::Io(io::Error::new(io.kind(), NotSent(io)))
        }
        other => other,
    }
}

fn unmark(e: ureq::Error) -> ureq::Error {
    match e {
        ureq::Error::Io(io) if before_sending(&io) => {
            let inner = io.into_inner().expect("checked by before_sending");
            match inner.downcast::<NotSent>() {
                Ok(not_sent) => ureq::Error::Io(not_sent.0),
                Err(other) => ureq::Error::Io(io::Error::other(other)),
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use io::ErrorKind;

    #[test]
    fn the_mark_keeps_the_kind_and_the_message_and_comes_off_again() {
        let marked = mark(ureq::Error::Io(ErrorKind::ConnectionReset.into()));
        let ureq::Error::Io(io) = &marked else {
            panic!("{marked:?}")
        };
        assert!(before_sending(io));
        assert_eq!(io.kind(), ErrorKind::ConnectionReset);
        assert!(
            marked
                .to_string()
                .contains("before the request was completely sent"),
            "{marked}"
        );

        // Marking twice (a proxy tunnel inside) leaves one mark.
        let twice = mark(marked);
        let ureq::Error::Io(io) = &twice else {
            panic!("{twice:?}")
        };
        let inner = io.get_ref().unwrap().downcast_ref::<NotSent>().unwrap();
        assert!(!before_sending(&inner.0));

        let unmarked = unmark(twice);
        let ureq::Error::Io(io) = &unmarked else {
            panic!("{unmarked:?}")
        };
        assert!(!before_sending(io));
        assert_eq!(io.kind(), ErrorKind::ConnectionReset);
    }

    #[test]
    fn other_errors_pass_unchanged() {
        assert!(matches!(
            mark(ureq::Error::Timeout(ureq::Timeout::SendBody)),
            ureq::Error::Timeout(ureq::Timeout::SendBody)
        ));
        assert!(matches!(
            unmark(ureq::Error::ConnectionFailed),
            ureq::Error::ConnectionFailed
        ));
        let plain = unmark(ureq::Error::Io(ErrorKind::ConnectionReset.into()));
        assert!(matches!(&plain, ureq::Error::Io(io) if !before_sending(io)));
    }
}
