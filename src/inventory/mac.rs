//! Assets known only by MAC: stations seen on layer 2 alone (a PROFINET DCP device, a
//! BACnet/Ethernet device), and how merge joins them to the assets at IP addresses.
//!
//! An observation about such a station has the unspecified address 0.0.0.0 and the path
//! `mac:<mac>` ([`super::MAC_PATH_PREFIX`]). Merge folds its facts:
//! 1. into every IP asset that the **same capture** shows holding that MAC on the local
//!    link: the IP's ARP sender MAC ([`MacBasis::Arp`]), or the Ethernet source of its IP
//!    packets when their TTL shows no router was crossed and no other IP shares the MAC
//!    ([`MacBasis::EthernetLocal`]). A device with two such addresses (the switch of
//!    `ChangeIPUsingDCP.pcap`, whose ARPs show its old and its new address) gives its
//!    facts to both;
//! 2. never on an address quoted inside the layer-2 payload (the IP suite of a DCP
//!    Identify response, kept as the `dcp.ip` attribute): a Set may have changed it since,
//!    and a payload can say anything. A routed Ethernet source (a router's MAC), a MAC
//!    reported inside an identity, a declared one, or a MAC seen in another capture never
//!    joins either;
//! 3. with no such evidence, into an asset of its own: `ip` 0.0.0.0, keyed and sorted by
//!    its `mac` field, after the assets at addresses.
//!
//! Pure, like the rest of merge: the same observations give the same assets.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::merge::Asset;
use super::{Fact, MacBasis, Observation, Provenance, UNSPECIFIED_IP};

/// The capture file an observation came from, for the same-capture rule.
fn capture_of(p: &Provenance) -> Option<&str> {
    match p {
        Provenance::Pcap { file, .. } => Some(file),
        _ => None,
    }
}

/// Splits `observations` into those about IP addresses (layer-2 facts joined to the
/// addresses that hold their MAC, by the rules of the module docs, included) and those
/// about stations known only by MAC (left for [`station_key`]-keyed assets).
pub fn join(observations: &[Observation]) -> (Cow<'_, [Observation]>, Vec<&Observation>) {
    if !observations.iter().any(|o| o.link_station().is_some()) {
        return (Cow::Borrowed(observations), Vec::new());
    }
    // (capture, mac) -> the addresses local-link evidence in that capture puts there
    let mut local: BTreeMap<(&str, String), BTreeSet<IpAddr>> = BTreeMap::new();
    for o in observations {
        let Fact::Mac { mac, basis } = &o.fact else {
            continue;
        };
        if o.ip == UNSPECIFIED_IP || !matches!(basis, MacBasis::Arp | MacBasis::EthernetLocal) {
            continue;
        }
        if let Some(file) = capture_of(&o.provenance) {
            local
                .entry((file, mac.to_ascii_lowercase()))
                .or_default()
                .insert(o.ip);
        }
    }
    let mut at_ips = Vec::with_capacity(observations.len());
    let mut alone = Vec::new();
    for o in observations {
        let Some((mac, behind)) = o.link_station() else {
            at_ips.push(o.clone());
            continue;
        };
        let ips =
            capture_of(&o.provenance).and_then(|file| local.get(&(file, mac.to_ascii_lowercase())));
        match ips {
            Some(ips) => at_ips.extend(ips.iter().map(|ip| Observation {
                ip: *ip,
                path: behind.map(str::to_owned),
                ..o.clone()
            })),
            None => alone.push(o),
        }
    }
    (Cow::Owned(at_ips), alone)
}

/// The key of a MAC-only asset: its MAC and the path of what is behind it.
pub fn station_key(o: &Observation) -> Option<(String, Option<String>)> {
    o.link_station()
        .map(|(mac, behind)| (mac.to_ascii_lowercase(), behind.map(str::to_owned)))
}

/// The MAC a MAC-only station's observations are about, as the [`Fact::Mac`] merge folds
/// into its asset (a layer-2 frame is never routed: its MAC is local).
pub fn station_mac_fact(mac: &str, first: &Observation) -> Observation {
    Observation {
        ip: UNSPECIFIED_IP,
        fact: Fact::Mac {
            mac: mac.to_owned(),
            basis: MacBasis::EthernetLocal,
        },
        provenance: first.provenance.clone(),
        seen: first.seen,
        raw_hex: None,
        path: None,
    }
}

impl Asset {
    /// True for an asset known only by MAC (see the module docs).
    pub fn mac_only(&self) -> bool {
        self.ip == UNSPECIFIED_IP && self.mac.is_some()
    }

    /// What names the asset in a view: its address, or `mac <mac>` for a MAC-only one.
    pub fn label(&self) -> String {
        match &self.mac {
            Some(m) if self.mac_only() => format!("mac {}", m.value),
            _ => self.ip.to_string(),
        }
    }

    /// The MAC of a MAC-only asset (its key beside the unspecified address).
    pub fn mac_key(&self) -> Option<&str> {
        self.mac
            .as_ref()
            .filter(|_| self.mac_only())
            .map(|m| m.value.as_str())
    }
}

impl super::merge::Operation {
    /// Who performed it, for a view: the address, or `mac <mac>` for a layer-2 actor.
    pub fn actor_label(&self) -> String {
        match &self.actor_mac {
            Some(m) => format!("mac {m}"),
            None => self.actor.to_string(),
        }
    }
}

/// The assets of stations known only by MAC, sorted by MAC, each with what is behind it
/// as its sub-assets.
pub(super) fn station_assets(stations: &[&Observation], site: Option<&String>) -> Vec<Asset> {
    use super::merge::{Builder, build_asset, fold, path_order};
    let mut builders: BTreeMap<(String, Option<String>), Builder> = BTreeMap::new();
    for o in stations {
        let Some((mac, behind)) = station_key(o) else {
            continue;
        };
        // The station's own asset, its MAC folded in first (a station only ever named
        // as a Set's target has no identity giving it).
        builders.entry((mac.clone(), None)).or_insert_with(|| {
            let mut b = Builder::default();
            fold(&mut b, &station_mac_fact(&mac, o));
            b
        });
        fold(builders.entry((mac, behind)).or_default(), o);
    }
    let mut assets: Vec<Asset> = Vec::new();
    for ((mac, behind), b) in builders {
        let mut a = build_asset(UNSPECIFIED_IP, b);
        a.site = site.cloned();
        match behind {
            None => assets.push(a),
            Some(path) => {
                a.path = Some(path);
                // The station was built first: (mac, None) sorts before (mac, Some(_)).
                if let Some(parent) = assets
                    .last_mut()
                    .filter(|p| p.mac_key() == Some(mac.as_str()))
                {
                    parent.sub_assets.push(a);
                }
            }
        }
    }
    for a in &mut assets {
        a.sub_assets
            .sort_by_cached_key(|x| path_order(x.path.as_deref()));
    }
    assets
}
