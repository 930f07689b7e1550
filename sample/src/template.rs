//! The minutiae template.

use std::fmt;

/// ISO/IEC 19794-2 minutia types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MinutiaKind {
    Ending,
    Bifurcation,
    Other,
}

/// One minutia. `angle` is in ISO/IEC 19794-2 units of 360/256 degrees, measured counter-clockwise from
/// the x axis; `quality` is 0–100 (0 = not reported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Minutia {
    pub x: u16,
    pub y: u16,
    pub angle: u8,
    pub kind: MinutiaKind,
    pub quality: u8,
}

impl Minutia {
    pub fn radians(&self) -> f32 {
        f32::from(self.angle) * (std::f32::consts::TAU / 256.0)
    }
}

/// A finger's minutiae with the capture geometry they refer to.
#[derive(Clone, PartialEq, Eq)]
pub struct MinutiaeTemplate {
    pub width: u16,
    pub height: u16,
    pub resolution_dpi: u16,
    pub minutiae: Vec<Minutia>,
}

/// Never prints the minutiae: a template is biometric data (THREATS.md, no `Debug` that prints templates).
impl fmt::Debug for MinutiaeTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MinutiaeTemplate({}x{} @{} dpi, {} minutiae)",
            self.width,
            self.height,
            self.resolution_dpi,
            self.minutiae.len()
        )
    }
}

impl MinutiaeTemplate {
    /// Mean reported quality, or a count-based estimate when the capture reported none.
    pub fn quality(&self) -> u8 {
        let reported: Vec<u32> = self.minutiae.iter().filter(|m| m.quality > 0).map(|m| u32::from(m.quality)).collect();
        if reported.is_empty() {
            (self.minutiae.len().min(50) * 2) as u8
        } else {
            (reported.iter().sum::<u32>() / reported.len() as u32) as u8
        }
    }
}
