//! Device errors, precise enough to name the fault (STYLE §5, after rustls's `PeerMisbehaved`).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Misbehaviour {
    BadChecksum,
    BadLength,
    UnexpectedFrame,
    Garbled,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    #[error("device {device} is offline: check its cable and power; its door stays locked")]
    Offline { device: String },
    /// A capture window closed with nobody at the reader (a palm bridge's `timeout`): not a fault.
    #[error("device {device} did not answer in time")]
    Timeout { device: String },
    /// The device itself did not answer a command within its reply timeout (silent, unpowered, wrong line
    /// rate): a fault, audited once per episode, unlike [`DeviceError::Timeout`], which means nobody came.
    #[error("device {device} does not answer: check its cable, power and line rate; its door stays locked")]
    NoAnswer { device: String },
    #[error("device {device} is busy")]
    Busy { device: String },
    #[error("device {device} sent a bad frame ({fault:?}); counted and ignored")]
    DeviceMisbehaved { device: String, fault: Misbehaviour },
    #[error("I/O error on device {device}: {source}")]
    Io { device: String, source: std::io::Error },
    #[error("the device driver has stopped")]
    Closed,
}
