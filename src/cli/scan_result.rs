//! The scan result document, built by the library ([`crate::probe::result`]); re-exported
//! here for the callers that named it under `cli`.

pub use crate::probe::result::{
    HostOutcome, ProbeRecord, SkippedTarget, document, document_per_address,
};
