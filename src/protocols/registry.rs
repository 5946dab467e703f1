//! The protocol registry: one trait a protocol folder implements, and the ordered list
//! of them.
//!
//! Code outside `src/protocols/` asks the registry instead of matching protocol names:
//! which ports a protocol listens on, how its frames are cut, which session probes it,
//! what its dry-run plan is, how its passive analyzer reads a capture. Adding a protocol
//! is its folder, one line in [`REGISTRY`], one [`crate::safety::SafeRequest`] variant,
//! one serialized [`crate::inventory::Identity`] variant and one SAFETY.md section (see
//! docs/architecture.md, "How to add a protocol").

use crate::inventory::Protocol;
use crate::profile::Profile;
use crate::protocols::settings::Kind;

use super::{enip, modbus, s7};

/// Everything otscout knows how to do with one protocol.
///
/// The methods come in two groups: the active side (profile settings, endpoint, session,
/// dry-run plan) and the passive side (ports, framing, detector, analyzer). A protocol
/// that is passive only answers the active methods with "not probed".
pub trait ProtocolSpec: Sync + std::fmt::Debug {
    /// The serialized protocol this folder speaks for (the value in observations and
    /// reports; a folder may also own related values, e.g. ENIP's CIP and CIP I/O).
    fn protocol(&self) -> Protocol;

    /// The protocol's name in the CLI, profiles and docs (`modbus`, `enip`, `s7`).
    fn name(&self) -> &'static str;

    // ---- active side (scan) ----

    /// The keys of its profile section and their types (the section is named
    /// [`ProtocolSpec::name`]).
    fn settings_schema(&self) -> &'static [(&'static str, Kind)];

    /// Whether the profile probes this protocol at all.
    fn enabled(&self, profile: &Profile) -> bool;

    // ---- passive side (import) ----
}

/// Every protocol otscout speaks, in probe order: ENIP first (one cheap request that
/// usually names the vendor), Modbus, then S7 last, so vendor rules learned from the
/// others can spare the most fragile stacks.
pub static REGISTRY: &[&dyn ProtocolSpec] = &[&enip::Enip, &modbus::Modbus, &s7::S7];

/// The registered protocol that owns a serialized protocol value, if any.
pub fn spec_for(p: Protocol) -> Option<&'static dyn ProtocolSpec> {
    REGISTRY.iter().copied().find(|s| s.protocol() == p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_protocols_are_unique() {
        for (i, a) in REGISTRY.iter().enumerate() {
            for b in &REGISTRY[i + 1..] {
                assert_ne!(a.name(), b.name());
                assert_ne!(a.protocol(), b.protocol());
            }
        }
    }

    #[test]
    fn every_registered_protocol_is_found_by_its_value() {
        for s in REGISTRY {
            assert_eq!(spec_for(s.protocol()).map(|f| f.name()), Some(s.name()));
        }
    }
}
