//! Device drivers for tobira: the two traits the daemon drives ([`Reader`], [`DoorController`]) and the
//! simulated devices behind them ([`sim`]). Real protocols (R30x UART, OSDP through libosdp, U.are.U USB,
//! the palm-reader bridge) slot in behind the same traits: each is a pure codec plus a transport plus a
//! driver implementing one trait.

mod error;
pub mod line;
pub mod osdp;
pub mod palm_bridge;
pub mod pty;
pub mod r30x;
pub mod serial;
pub mod sim;
pub mod uru4000;

pub use error::{DeviceError, Misbehaviour};
pub use tobira_sample::Sample;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Boxed future so the traits stay dyn-compatible (`Arc<dyn Reader>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modality {
    Finger,
    Palm,
}

/// What a reader or door shows the person (LEDs, buzzer, display).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feedback {
    Idle,
    /// A prompt such as "Place your right index finger".
    Prompt(String),
    Granted,
    Denied,
    Alarm,
    LockedOut,
}

pub trait Reader: Send + Sync {
    fn id(&self) -> &str;
    fn modality(&self) -> Modality;
    /// Waits for the next presentation. Cancel-safe: dropping the future loses no sample.
    fn next_sample(&self) -> BoxFuture<'_, Result<Sample, DeviceError>>;
    fn feedback(&self, fb: Feedback) -> BoxFuture<'_, Result<(), DeviceError>>;
    /// Whether the device answers now, where the driver knows it (its last exchange with the device
    /// succeeded); `None` where it cannot tell. The daemon closes a fault episode on `Some(true)` without
    /// waiting for somebody to present a finger, so the recovery is audited when it happens.
    fn healthy(&self) -> Option<bool> {
        None
    }
    /// The serial line rate the device answers at now, for readers on a serial line (an R30x module after
    /// the driver raised it); `None` elsewhere or while it is not connected.
    fn line_rate(&self) -> Option<u32> {
        None
    }
}

/// Inputs a door controller reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DoorInput {
    ContactOpened,
    ContactClosed,
    /// Request-to-exit button.
    Rex,
    Tamper,
    PowerLost,
    Offline,
    Online,
    /// The session with the device is not secured (OSDP install mode): an alarm in itself.
    SecureChannelDown,
    /// A card was read: the claim of a `card+biometric` door (issue 16 §2), never a credential by itself.
    /// `data` holds the first `bits` bits, most significant first (OSDP osdp_RAW).
    CardRead {
        bits: u16,
        data: CardData,
    },
    /// Keys pressed on the reader's keypad (OSDP osdp_KEYPAD: ASCII digits, `*` 0x7F, `#` 0x0D).
    KeyPress {
        keys: CardData,
    },
}

/// A card's or a keypad's bytes. They name a person, so `Debug` never prints them: a `tracing` line or a
/// panic message holds the length only.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct CardData(pub Vec<u8>);

impl std::fmt::Debug for CardData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CardData(<{} bytes>)", self.0.len())
    }
}

pub trait DoorController: Send + Sync {
    fn id(&self) -> &str;
    /// Energises the strike for `pulse`; the device times the pulse itself, so a daemon crash never leaves
    /// a door open. `Ok` means the controller *acknowledged* the command (OSDP: the device reported its
    /// strike output on after osdp_OUT; the simulator: its relay took the command), nothing less: the
    /// daemon records an entry only then. The caller bounds the wait.
    fn pulse(&self, pulse: Duration) -> BoxFuture<'_, Result<(), DeviceError>>;
    fn relock(&self) -> BoxFuture<'_, Result<(), DeviceError>>;
    fn feedback(&self, fb: Feedback) -> BoxFuture<'_, Result<(), DeviceError>>;
    /// Next input event. Cancel-safe.
    fn next_input(&self) -> BoxFuture<'_, Result<DoorInput, DeviceError>>;
    /// Whether the controller has been heard from within its poll budget (OSDP: libosdp has it online);
    /// `None` where the driver cannot tell. Asked before every grant, so a controller that fell silent is
    /// offline *before* the next decision, not seconds after it.
    fn healthy(&self) -> Option<bool> {
        None
    }
    /// The serial line rate the device answers at now, for readers on a serial line (an R30x module after
    /// the driver raised it); `None` elsewhere or while it is not connected.
    fn line_rate(&self) -> Option<u32> {
        None
    }
}
