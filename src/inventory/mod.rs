//! Observations, their provenance, and the merge into assets.

pub mod observation;
pub mod scan;

pub use observation::*;
