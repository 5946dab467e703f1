//! Vendor tables, embedded at build time from `data/` (each file names its sources).

pub mod bacnet;
pub mod odva;
pub mod profinet;
pub mod siemens;
