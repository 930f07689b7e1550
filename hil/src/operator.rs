//! Who performs the physical steps: a person at the bench, prompted on the terminal, or the simulators,
//! driven by script. The scenarios call the same methods either way, so the simulated run in CI exercises
//! exactly the code a hardware run uses.

use std::io::{BufRead, Write};

/// A physical step the scenario needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    PlaceFinger { reader: String, finger: u8, person: String },
    LiftFinger { reader: String },
    PresentPalm { reader: String, person: String },
    OpenDoor { controller: String },
    CloseDoor { controller: String },
    PressExit { controller: String },
}

impl Step {
    pub fn prompt(&self) -> String {
        match self {
            Step::PlaceFinger { reader, finger, person } => {
                format!("Place finger {finger} of person {person} on reader {reader}")
            }
            Step::LiftFinger { reader } => format!("Lift the finger from reader {reader}"),
            Step::PresentPalm { reader, person } => format!("Hold the right palm of person {person} over {reader}"),
            Step::OpenDoor { controller } => format!("Open the door wired to {controller} (contact input 0)"),
            Step::CloseDoor { controller } => format!("Close the door wired to {controller}"),
            Step::PressExit { controller } => format!("Press the exit button wired to {controller} (input 1)"),
        }
    }
}

pub trait Operator: Send + Sync {
    /// Performs (or asks a person to perform) `step`.
    fn act(&self, step: &Step);
    /// Asks whether something observable happened (the strike clicked); `None` when nobody can tell.
    fn confirm(&self, question: &str, controller: &str) -> Option<bool>;
}

/// A person at the bench.
pub struct Human;

impl Operator for Human {
    fn act(&self, step: &Step) {
        print!(">>> {} — then press Enter ", step.prompt());
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
    }

    fn confirm(&self, question: &str, _controller: &str) -> Option<bool> {
        print!(">>> {question} [y/n] ");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        Some(line.trim().eq_ignore_ascii_case("y"))
    }
}
