//! The events a scan emits for its watchers (the CLI's progress bar or log lines).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::inventory::Protocol;
use crate::probe::report::{HostState, ProbeOutcome, ScanStatus};
use crate::probe::stop::StopReason;

/// What the scan tells its watchers. The CLI turns these into a progress bar or log lines.
#[derive(Debug, Clone, PartialEq)]
pub enum ScanEvent {
    Started {
        scan_id: String,
        /// Hosts to probe in this run (after resume), when the target list knows it.
        total_hosts: Option<u64>,
        /// Hosts already done in the journal being resumed.
        resumed_hosts: u64,
        /// The shortest time the pacing allows for the whole run, if known.
        planned: Option<Duration>,
    },
    HostStarted {
        ip: IpAddr,
    },
    /// One request left the process.
    Request {
        ip: IpAddr,
        kind: &'static str,
    },
    ProbeFinished {
        ip: IpAddr,
        protocol: Protocol,
        outcome: ProbeOutcome,
    },
    HostFinished {
        ip: IpAddr,
        state: HostState,
        identified: bool,
        errored: bool,
    },
    /// A target was skipped before anything was sent (excluded, or not a unicast address).
    Skipped {
        ip: IpAddr,
        reason: String,
    },
    Stopping {
        reason: StopReason,
    },
    /// The hosts are done, but devices still hold connections open after our FIN (see
    /// [`LeftAlone::HeldOpen`](crate::probe::report::LeftAlone::HeldOpen)): the scan keeps draining them for at most `up_to` before it
    /// returns.
    Draining {
        connections: usize,
        up_to: Duration,
    },
    Finished {
        status: ScanStatus,
    },
}

/// Receives events; called from the scan's tasks, so keep it quick.
pub type EventSink = Arc<dyn Fn(&ScanEvent) + Send + Sync>;

/// An event sink that drops everything.
pub fn no_events() -> EventSink {
    Arc::new(|_| {})
}
