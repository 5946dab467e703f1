//! Observations, their provenance, and the merge into assets.

pub mod advisory;
pub mod identity_fields;
pub mod mac;
pub mod merge;
pub mod normalize;
pub mod observation;
pub mod oui;
pub mod scan;
pub mod tables;
pub mod unanswered;

pub use merge::{Input, Inventory, merge};
pub use observation::*;
