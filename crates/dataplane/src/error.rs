//! The one error type of the dataplane.

/// Why an apply failed. The message says what was being done; the source says why.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The plan cannot be realized as given (a port on an unknown network, ...).
    #[error("invalid plan: {0}")]
    Plan(String),
    /// A netlink request failed.
    #[error("netlink: {op}")]
    Netlink {
        /// What was asked, e.g. "create bridge brqX".
        op: String,
        /// The kernel's answer.
        #[source]
        source: rtnetlink::Error,
    },
    /// An external tool (nft, tc, bridge, ip, dnsmasq) failed.
    #[error("{command} failed: {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Its standard error (trimmed).
        stderr: String,
    },
    /// A system call or file operation failed.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A tool's JSON output could not be read.
    #[error("unexpected output of {what}")]
    Parse {
        /// The command whose output it was.
        what: String,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }

    pub(crate) fn netlink(op: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> Error {
        let op = op.into();
        move |source| Error::Netlink { op, source }
    }
}
