//! Observations, their provenance, and the merge into assets.

pub mod advisory;
pub mod identity_facts;
pub mod mac;
pub mod merge;
pub mod normalize;
pub mod observation;
pub mod oui;
pub mod scan;
pub mod tables;
pub mod unanswered;

pub use identity_facts::{Behind, Facts, IdentityFact, IdentityFacts};
pub use merge::{Input, Inventory, merge};
pub use observation::*;
