//! The flows (DESIGN "The flows"): identification, the actor's proof, the door, the terminal login and
//! enrollment — each in the order identify, decide, make the audit durable, act. They build on `node`, and
//! on `central` only to queue registry changes for the centre.

pub mod actor;
pub mod doors;
pub mod enroll;
pub mod enroll_palm;
pub mod identify;
pub mod login;
pub mod progress;
pub mod prompts;
