//! The node's state and what it is made of: the options it was started with, its clock, the matcher's
//! memory (`daemon`), the live registry and state decisions use (`live`), the one way an event is recorded
//! (`recorder`), the audit trust anchor it verifies against, and the small state the
//! tasks above share through it (alarms on their way, shipping progress). Nothing here imports a flow, a
//! handler, a socket or the centre's tasks: they all build on this.

pub mod clock;
pub mod daemon;
pub mod door_states;
pub mod heartbeat;
pub mod live;
pub mod metrics;
pub mod occupancy;
pub mod options;
pub mod raised;
pub mod recorder;
pub mod shipping;
pub mod trust;
