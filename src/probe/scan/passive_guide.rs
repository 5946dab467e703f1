//! What passive data tells the scan about each host (`otscout scan --from-passive`), and
//! the per-host profile it gives.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::inventory::Identity;
use crate::profile::Profile;

/// What passive data tells the scan about each host (`otscout scan --from-passive`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PassiveGuide {
    /// Identities already known: vendor rules apply from the first probe (a passively
    /// identified Rockwell device is not sent S7).
    pub identities: HashMap<IpAddr, Vec<Identity>>,
    /// Modbus unit ids seen in traffic: tried first, and allowed even when the profile's
    /// `allow_other_unit_ids` is false (the device is known to answer to them).
    pub modbus_units: HashMap<IpAddr, Vec<u8>>,
    /// S7 TSAPs seen in traffic: tried first, when the profile's TSAP rules allow them.
    pub s7_tsaps: HashMap<IpAddr, Vec<u16>>,
    /// Hosts not to probe at all, with the reason (`--skip-identified`).
    pub skip: HashMap<IpAddr, String>,
}

/// The most unit ids one host is tried with ([`crate::protocols::modbus::settings::MAX_UNIT_IDS`]).
pub use crate::protocols::modbus::settings::MAX_UNIT_IDS;
/// The most TSAPs one host is tried with (the profile's own limit).
const MAX_TSAPS: usize = 8;

/// One host's profile under passive guidance, and what the caps left out.
#[derive(Debug, Clone, PartialEq)]
pub struct HostProfile {
    pub profile: Profile,
    /// Shown in the plan and kept on the host in the result (a cap that left unit ids
    /// out).
    pub notes: Vec<String>,
}

impl PassiveGuide {
    /// The profile for one host: its observed unit ids and TSAPs first, then the
    /// profile's own, within the caps ([`crate::protocols::modbus::session::unit_plan`] for unit ids, which
    /// the dry run's plan uses too). A TSAP the profile's rules would refuse (a
    /// connection type other than PG/OP/S7-basic, or 0x0101 unless allowed) is not used
    /// even when observed.
    pub fn profile_for(&self, ip: IpAddr, profile: &Profile) -> Option<HostProfile> {
        let units = self.modbus_units.get(&ip).filter(|u| !u.is_empty());
        let tsaps: Vec<u16> = self
            .s7_tsaps
            .get(&ip)
            .into_iter()
            .flatten()
            .copied()
            .filter(|t| (1..=3).contains(&(t >> 8)))
            .filter(|t| *t != 0x0101 || profile.s7.allow_tsap_0101)
            .collect();
        if units.is_none() && tsaps.is_empty() {
            return None;
        }
        let mut p = profile.clone();
        let mut notes = Vec::new();
        if let Some(units) = units {
            let plan =
                crate::protocols::modbus::session::unit_plan(units, &profile.modbus.unit_ids);
            notes.extend(plan.note());
            p.modbus.unit_ids = plan.tried;
        }
        if !tsaps.is_empty() {
            p.s7.tsaps = first_then(&tsaps, &profile.s7.tsaps, MAX_TSAPS);
        }
        Some(HostProfile { profile: p, notes })
    }
}

/// `first` then `then`, without duplicates, at most `max` long.
fn first_then<T: Copy + PartialEq>(first: &[T], then: &[T], max: usize) -> Vec<T> {
    let mut v: Vec<T> = Vec::new();
    for x in first.iter().chain(then) {
        if v.len() < max && !v.contains(x) {
            v.push(*x);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passive_guide_puts_observed_first_within_the_rules() {
        let mut profile = crate::profile::builtin("conservative")
            .expect("built-in")
            .profile;
        profile.modbus.unit_ids = vec![255, 0];
        profile.s7.tsaps = vec![0x0102, 0x0200];
        profile.s7.allow_tsap_0101 = false;
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        let other: IpAddr = "10.0.0.10".parse().unwrap();
        let guide = PassiveGuide {
            modbus_units: HashMap::from([(ip, vec![7, 0])]),
            // 0x0101 is not allowed by this profile; 0x0701 is no connection type.
            s7_tsaps: HashMap::from([(ip, vec![0x0101, 0x0701, 0x0300, 0x0200])]),
            ..PassiveGuide::default()
        };
        let p = guide
            .profile_for(ip, &profile)
            .expect("a host profile")
            .profile;
        assert_eq!(p.modbus.unit_ids, [7, 0, 255]);
        assert_eq!(p.s7.tsaps, [0x0300, 0x0200, 0x0102]);
        assert!(guide.profile_for(other, &profile).is_none());
        let many = PassiveGuide {
            modbus_units: HashMap::from([(ip, (1..=40).collect())]),
            ..PassiveGuide::default()
        };
        let host = many.profile_for(ip, &profile).unwrap();
        assert_eq!(host.profile.modbus.unit_ids.len(), MAX_UNIT_IDS);
        // 1..=40 observed, 255 and 0 from the profile: 10 left out, and said so.
        assert_eq!(host.notes.len(), 1, "{:?}", host.notes);
        assert!(
            host.notes[0].contains("10 unit id(s) not tried"),
            "{:?}",
            host.notes
        );
    }
}
