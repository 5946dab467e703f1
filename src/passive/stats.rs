//! The counters of one import, kept in [`crate::facts::stats`] (below both `passive` and
//! `protocols`) and re-exported here under their old path.

pub use crate::facts::stats::ImportStats;
