//! The counters of one import: a leaf module (it imports nothing of the crate), so the
//! protocol analyzers and Zeek row parsers under `crate::protocols` count into it without
//! depending on `passive` (which re-exports it as `passive::ImportStats`).

use serde::Serialize;

/// Counters from one import.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportStats {
    pub frames: u64,
    pub bytes: u64,
    /// Frames that were neither IP nor ARP (or were cut too short to tell).
    pub not_ip: u64,
    pub arp: u64,
    pub tcp_segments: u64,
    pub udp_datagrams: u64,
    pub flows: u64,
    pub flows_evicted: u64,
    pub flows_at_end: u64,
    pub retransmissions: u64,
    pub gaps: u64,
    /// Times a stream was dropped because its bytes did not frame (mid-stream start, gap).
    pub desyncs: u64,
    /// Protocol messages framed.
    pub pdus: u64,
    /// Protocol messages framed but not decoded (a device's message otscout could not
    /// read: kept as a suspicious observation, never a warning).
    pub undecoded: u64,
    /// The frame numbers of the first [`crate::protocols::analyzer::MAX_UNDECODED_FRAMES`] of them.
    pub undecoded_frames: Vec<u64>,
    pub hosts: u64,
    /// Facts dropped because a memory cap was reached.
    pub capped: u64,
    pub warnings_suppressed: u64,
    /// Zeek: lines read, and lines of logs this importer does not read.
    pub lines: u64,
    pub skipped_lines: u64,
    /// CSV: data rows read.
    pub rows: u64,
    /// IP fragments seen, datagrams reassembled from them, and fragments that could not
    /// be (missing pieces, caps): what those carried was not decoded.
    pub ip_fragments: u64,
    pub ip_reassembled: u64,
    pub ip_fragments_dropped: u64,
    /// Times the global reassembly budget made the engine release a stream, and the
    /// buffered bytes that dropped.
    pub budget_releases: u64,
    pub budget_bytes_dropped: u64,
    /// TCP flows on non-ICS ports whose protocol was found from the payload.
    pub heuristic_flows: u64,
    /// TCP flows on non-ICS ports whose first bytes filled the detector's buffer
    /// (`passive::detect::MAX_PROBE_BYTES` per direction) before it decided: left opaque.
    pub probe_capped: u64,
    /// Observations left out because their address was never seen sending (a broadcast
    /// or group destination, or a host that never answered in the capture).
    pub unproven: u64,
    /// Zeek: field values that did not parse (each left out, never replaced by a default).
    pub bad_values: u64,
}
