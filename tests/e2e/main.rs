//! The end-to-end tests: the real programs (`tobirad`, `tobira`, `tobira-central`, `pam_tobira.so` under
//! `pamtester`) on simulated devices and real stores on disk, as one test binary with one module per area
//! and one helper module. `tests/README.md` maps each scenario to its test.

mod common;

mod admin;
mod cards;
mod central;
mod console;
mod crash;
mod faults;
mod grant_ids;
mod hostile;
mod local_times;
mod multinode;
mod newsite;
mod node;
mod pam;
mod profiles;
mod r30x_images;
mod readme;
mod regulations;
mod restore;
mod service;
mod sim_palms;
mod strangers;
mod thresholds;
mod trust;
mod upgrade;
