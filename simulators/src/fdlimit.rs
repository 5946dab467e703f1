//! File descriptors for a big plant.
//!
//! Every device binds its own loopback address, so every device costs one listening
//! socket per TCP protocol it serves, plus one UDP socket when it serves EtherNet/IP over
//! UDP: a generated plant averages 4/3 sockets a device (a third of its devices are
//! EtherNet/IP ones), 66,667 for 50,000 devices. Each accepted connection costs one more
//! while it is open. [`ensure`] checks the process's `RLIMIT_NOFILE` before anything is
//! bound, raises the soft limit up to the hard one when the plant needs it, and otherwise
//! refuses with the limit the plant needs, rather than failing halfway through binding
//! with "too many open files".
//!
//! It never raises the hard limit: that is the operator's call (`ulimit -Hn`, systemd's
//! `LimitNOFILE=`), and the error says by how much, or how many processes
//! (`otscout-sim run --shard K/N`) share the plant within the limit there is.
//!
//! Measured (`otscout-sim generate --devices 50000` over four /16s): 50,000 TCP listeners
//! and 16,714 UDP sockets, so 66,714 sockets and a limit of 68,826 with the headroom. A
//! machine whose hard limit is 20,000 serves it as four shards.

use crate::plant::Plant;

/// The most descriptors kept free beyond a plant's own sockets: the connections a scan
/// holds open at once (otscout's hard cap is 1,024 hosts in flight, one connection each,
/// and a bench runs the scanner in the same process as the plant, so both ends count),
/// plus [`RUNTIME_FDS`]. A plant of fewer devices keeps two a device instead
/// ([`Sockets::headroom`]).
pub const HEADROOM: u64 = 2 * MAX_HOSTS_IN_FLIGHT + RUNTIME_FDS;

/// otscout's hard cap on hosts in flight (`profile::caps`), one connection each.
const MAX_HOSTS_IN_FLIGHT: u64 = 1024;

/// The runtime's own descriptors (epoll, eventfd, the standard streams), the ledger and
/// pcap files.
pub const RUNTIME_FDS: u64 = 64;

/// The sockets a plant binds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sockets {
    /// Devices in the plant.
    pub devices: u64,
    /// One TCP listener per device and TCP protocol (Modbus, EtherNet/IP, S7).
    pub tcp_listeners: u64,
    /// One UDP socket per EtherNet/IP device that serves UDP.
    pub udp_sockets: u64,
}

impl Sockets {
    /// Counts what `plant` will bind.
    pub fn of(plant: &Plant) -> Sockets {
        let mut s = Sockets {
            devices: plant.devices.len() as u64,
            ..Sockets::default()
        };
        for d in &plant.devices {
            s.tcp_listeners += u64::from(d.modbus.is_some())
                + u64::from(d.enip.is_some())
                + u64::from(d.s7.is_some());
            s.udp_sockets +=
                u64::from(d.enip.as_ref().is_some_and(|e| e.udp)) + u64::from(d.bacnet.is_some());
        }
        s
    }

    /// Sockets bound for the whole plant life.
    pub fn total(&self) -> u64 {
        self.tcp_listeners + self.udp_sockets
    }

    /// Descriptors kept free for connections: both ends of one connection per device, for
    /// at most 1,024 devices at once, plus [`RUNTIME_FDS`] (so a demo plant of a dozen
    /// devices needs about a hundred, not [`HEADROOM`]).
    pub fn headroom(&self) -> u64 {
        2 * self.devices.min(MAX_HOSTS_IN_FLIGHT) + RUNTIME_FDS
    }

    /// The `RLIMIT_NOFILE` soft limit the plant needs: its sockets plus
    /// [`Sockets::headroom`].
    pub fn fds_needed(&self) -> u64 {
        self.total().saturating_add(self.headroom())
    }
}

/// The file-descriptor limit as the plant found and left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// What the plant needs ([`Sockets::fds_needed`]).
    pub needed: u64,
    /// The soft limit before the plant started.
    pub soft_before: u64,
    /// The soft limit now.
    pub soft: u64,
    /// The hard limit (never changed here).
    pub hard: u64,
}

impl FdLimit {
    /// Whether the soft limit was raised.
    pub fn raised(&self) -> bool {
        self.soft > self.soft_before
    }
}

/// What to do about the limit, decided from the numbers alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// The soft limit already suffices.
    Keep,
    /// Raise the soft limit to the hard one.
    RaiseSoftTo(u64),
    /// The hard limit is below what is needed.
    Refuse,
}

/// The plan for `needed` descriptors under a `soft`/`hard` limit.
pub fn plan(needed: u64, soft: u64, hard: u64) -> Plan {
    if soft >= needed {
        Plan::Keep
    } else if hard >= needed {
        // The whole hard limit, as servers do: connections beyond the estimate still fit.
        Plan::RaiseSoftTo(hard)
    } else {
        Plan::Refuse
    }
}

/// Why the plant cannot have the descriptors it needs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FdLimitError {
    #[error(
        "the plant needs {needed} open files ({sockets} sockets for {devices} devices, plus \
         {headroom} for connections) but the limit is {soft} (hard limit {hard}): raise the \
         hard limit to at least {needed} (`ulimit -Hn {needed}` with CAP_SYS_RESOURCE, or \
         LimitNOFILE={needed} in a systemd unit), or split the plant over {shards} processes \
         (`otscout-sim run --shard 1/{shards}` ... `--shard {shards}/{shards}`)",
        shards = shards_for(*sockets, *hard)
    )]
    TooLow {
        needed: u64,
        sockets: u64,
        devices: u64,
        headroom: u64,
        soft: u64,
        hard: u64,
    },
    #[error("cannot read the open-files limit (RLIMIT_NOFILE): {0}")]
    Read(std::io::Error),
    #[error("cannot raise the open-files soft limit from {soft} to {to}: {source}")]
    Raise {
        soft: u64,
        to: u64,
        source: std::io::Error,
    },
}

/// How many processes, each under a `hard` open-files limit, serve `sockets` sockets
/// (each keeping [`HEADROOM`] free); at least 2 (one did not do).
pub fn shards_for(sockets: u64, hard: u64) -> u64 {
    let per = hard.saturating_sub(HEADROOM).max(1);
    sockets.div_ceil(per).max(2)
}

/// Makes sure the process may open what `sockets` need (see the module docs).
pub fn ensure(sockets: &Sockets) -> Result<FdLimit, FdLimitError> {
    let needed = sockets.fds_needed();
    let (soft, hard) = rlimit::Resource::NOFILE.get().map_err(FdLimitError::Read)?;
    let mut limit = FdLimit {
        needed,
        soft_before: soft,
        soft,
        hard,
    };
    match plan(needed, soft, hard) {
        Plan::Keep => Ok(limit),
        Plan::RaiseSoftTo(to) => {
            rlimit::Resource::NOFILE
                .set(to, hard)
                .map_err(|source| FdLimitError::Raise { soft, to, source })?;
            limit.soft = to;
            Ok(limit)
        }
        Plan::Refuse => Err(FdLimitError::TooLow {
            needed,
            sockets: sockets.total(),
            devices: sockets.devices,
            headroom: sockets.headroom(),
            soft,
            hard,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_goes_to_the_hard_one_only_when_needed() {
        assert_eq!(plan(1_000, 1_024, 4_096), Plan::Keep);
        assert_eq!(plan(2_000, 1_024, 4_096), Plan::RaiseSoftTo(4_096));
        assert_eq!(plan(4_096, 1_024, 4_096), Plan::RaiseSoftTo(4_096));
        assert_eq!(plan(4_097, 1_024, 4_096), Plan::Refuse);
        assert_eq!(plan(70_000, 20_000, u64::MAX), Plan::RaiseSoftTo(u64::MAX));
    }

    #[test]
    fn a_generated_plant_counts_its_sockets() {
        let p = crate::generate::generate(600, "127.98.0.0/16", 3).expect("generate");
        let s = Sockets::of(&p);
        let enip = p.devices.iter().filter(|d| d.enip.is_some()).count() as u64;
        assert_eq!(s.devices, 600);
        // Every generated device serves one TCP protocol; the EtherNet/IP ones also UDP.
        assert_eq!(s.tcp_listeners, 600);
        assert_eq!(s.udp_sockets, enip);
        assert_eq!(s.fds_needed(), 600 + enip + 2 * 600 + RUNTIME_FDS);
        // Past the hosts-in-flight cap the headroom stops growing.
        let big = Sockets {
            devices: 50_000,
            tcp_listeners: 50_000,
            udp_sockets: 16_714,
        };
        assert_eq!(big.fds_needed(), 66_714 + HEADROOM);
        // The demo plant's dozen devices need about a hundred, within a 1,024 limit.
        let demo = crate::Plant::load(concat!(env!("CARGO_MANIFEST_DIR"), "/plants/demo.toml"))
            .expect("the demo plant");
        assert!(Sockets::of(&demo).fds_needed() < 1024);
    }

    #[test]
    fn shards_fit_the_hard_limit() {
        assert_eq!(shards_for(66_714, 20_000), 4);
        assert_eq!(shards_for(17_888, 20_000), 2);
        assert_eq!(shards_for(17_889, 20_000), 2);
        assert_eq!(shards_for(35_777, 20_000), 3);
        assert_eq!(shards_for(10, 100), 10);
        // Each of the four parts of the measured 50,000-device plant fits 20,000.
        assert!(66_714u64.div_ceil(4) + HEADROOM <= 20_000);
    }

    #[test]
    fn the_refusal_names_the_limit_to_set() {
        let e = FdLimitError::TooLow {
            needed: 68_779,
            sockets: 66_667,
            devices: 50_000,
            headroom: HEADROOM,
            soft: 1_024,
            hard: 20_000,
        }
        .to_string();
        assert!(e.contains("needs 68779 open files"), "{e}");
        assert!(e.contains("66667 sockets for 50000 devices"), "{e}");
        assert!(e.contains("ulimit -Hn 68779"), "{e}");
        assert!(e.contains("hard limit 20000"), "{e}");
        // 66,667 sockets, 17,888 a process: four processes.
        assert!(e.contains("over 4 processes"), "{e}");
        assert!(e.contains("--shard 4/4"), "{e}");
    }
}
