//! Error rates of palm comparisons: the crate's one evaluator ([`crate::eval`], the definitions of
//! `shared/tools/eval_scores.py`) over the palm matcher's `f32` scores.

pub use crate::eval::Rates;

/// The evaluator's figures; all zero when either list is empty.
pub fn rates(genuine: &[f32], impostor: &[f32]) -> Rates {
    let g: Vec<f64> = genuine.iter().map(|s| f64::from(*s)).collect();
    let i: Vec<f64> = impostor.iter().map(|s| f64::from(*s)).collect();
    crate::eval::rates(&g, &i).unwrap_or_default()
}
