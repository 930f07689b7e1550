//! Greyscale images from sensors and files, the first step of the image pipeline (issue 3): decoding,
//! resolution normalisation, foreground segmentation and the ridge orientation field. Pure functions over
//! plain pixel buffers; the extraction of minutiae builds on these.

mod enhance;
mod extract;
use tobira_sample::gray;
mod orientation;
pub(crate) mod region;
mod segment;
pub(crate) mod window;

pub use enhance::{Analysis, Enhanced, Field, analyse, analyse_with, enhance, enhance_with, filter};
pub use extract::{MIN_PERIOD, PORE_FILL, Trial, extract_minutiae, extract_minutiae_with, median_period, quality};
pub use gray::{GrayImage, ImageError, TARGET_DPI};
pub use orientation::{OrientationField, orientation_field};
pub use segment::{Mask, segment};
