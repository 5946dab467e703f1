//! The `[opcua]` profile section: defaults, validation, the session it configures and the
//! dry-run plan (every request with its byte length).
//!
//! # OT safety
//! Conservative defaults: off unless a profile enables it, sessionless (no FindServers, no
//! BuildInfo session). `build_info = true` is the only way otscout creates an OPC UA
//! session, and then only anonymously on an unsecured endpoint (see SAFETY.md).

use std::net::SocketAddr;
use std::time::Duration;

use super::safe::{self, AuthToken, Channel, Safe, SafeError};
use super::session::Config;
use crate::protocols::settings::{Invalid, Kind, range_u64};
use crate::wire::opcua::NodeId;

/// The IANA port of OPC UA binary (opc.tcp).
pub const DEFAULT_PORT: u16 = 4840;
/// How long to wait for the server to close after CloseSecureChannel.
pub const CLOSE_WAIT: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpcuaSettings {
    pub enabled: bool,
    #[serde(default = "default_port")]
    pub port: u16,
    /// Also send FindServers (a discovery server lists the servers it knows).
    #[serde(default)]
    pub find_servers: bool,
    /// Opt-in: read BuildInfo (manufacturer, product, software version, build number)
    /// through an anonymous session, only on an endpoint with SecurityMode None that
    /// offers an Anonymous token.
    #[serde(default)]
    pub build_info: bool,
}

fn default_port() -> u16 {
    DEFAULT_PORT
}

impl Default for OpcuaSettings {
    fn default() -> Self {
        OpcuaSettings {
            enabled: false,
            port: DEFAULT_PORT,
            find_servers: false,
            build_info: false,
        }
    }
}

/// The keys of the section and their types (the profile loader checks them).
pub const SCHEMA: &[(&str, Kind)] = &[
    ("enabled", Kind::Bool),
    ("port", Kind::UInt(65_535)),
    ("find_servers", Kind::Bool),
    ("build_info", Kind::Bool),
];

/// Why an `[opcua]` section is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    #[error("opcua.port must be 1 to 65535, got 0")]
    PortZero,
}

/// One request of the dry-run plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// [`Safe::kind`].
    pub kind: &'static str,
    /// Its length in bytes (for session requests: with the longest server token otscout
    /// echoes, so at most this).
    pub bytes: usize,
    /// Sent only when the server answers in a way that allows it.
    pub conditional: Option<&'static str>,
}

impl OpcuaSettings {
    pub fn check(&self) -> Result<(), SettingsError> {
        if self.port == 0 {
            return Err(SettingsError::PortZero);
        }
        Ok(())
    }

    /// Checks every key's range; the error names the key and the value.
    pub fn validate(&self) -> Result<(), Invalid> {
        range_u64("opcua.port", self.port.into(), 1, 65_535)
    }

    /// The URL otscout asks for at `addr`.
    pub fn endpoint_url(addr: SocketAddr) -> Result<safe::Url, SafeError> {
        safe::url(&format!("opc.tcp://{addr}"))
    }

    /// The session's configuration for one endpoint.
    pub fn session_config(
        &self,
        addr: SocketAddr,
        reply_timeout: Duration,
    ) -> Result<Config, SafeError> {
        Ok(Config {
            endpoint_url: Self::endpoint_url(addr)?,
            find_servers: self.find_servers,
            build_info: self.build_info,
            reply_timeout,
            close_wait: CLOSE_WAIT,
        })
    }

    /// Every request the session can send to `addr`, in order, with its length.
    pub fn plan(&self, addr: SocketAddr) -> Result<Vec<Planned>, SafeError> {
        let cond = self
            .build_info
            .then_some("only on an endpoint with security mode none offering an anonymous token");
        Ok(self
            .plan_requests(addr)?
            .into_iter()
            .map(|s| Planned {
                kind: s.kind(),
                bytes: s.encoded_len(),
                conditional: matches!(
                    s,
                    Safe::CreateSession { .. }
                        | Safe::ActivateSession { .. }
                        | Safe::ReadBuildInfo { .. }
                        | Safe::CloseSession { .. }
                )
                .then_some(cond)
                .flatten(),
            })
            .collect())
    }

    /// The requests themselves (session requests with the longest token otscout echoes).
    pub fn plan_requests(&self, addr: SocketAddr) -> Result<Vec<Safe>, SafeError> {
        let endpoint_url = Self::endpoint_url(addr)?;
        let ch = Channel {
            channel_id: 1,
            token_id: 1,
            sequence_number: 1,
            request_id: 1,
            request_handle: 1,
        };
        // The longest token and policy id otscout echoes: the session requests are at most
        // this long.
        let token = AuthToken::from_node_id(&NodeId::Opaque {
            ns: 0xFFFF,
            value: Some(vec![0; safe::MAX_TOKEN]),
        })?;
        let policy_id = safe::policy_id(&"a".repeat(safe::MAX_POLICY_ID))?;
        let mut v = vec![
            (Safe::Hello { endpoint_url }, None),
            (
                Safe::OpenSecureChannel {
                    sequence_number: 1,
                    request_id: 1,
                    request_handle: 1,
                },
                None,
            ),
            (Safe::GetEndpoints { ch, endpoint_url }, None),
        ];
        if self.find_servers {
            v.push((Safe::FindServers { ch, endpoint_url }, None));
        }
        if self.build_info {
            let cond =
                Some("only on an endpoint with security mode none offering an anonymous token");
            v.push((Safe::CreateSession { ch, endpoint_url }, cond));
            v.push((
                Safe::ActivateSession {
                    ch,
                    token,
                    policy_id,
                },
                cond,
            ));
            v.push((Safe::ReadBuildInfo { ch, token }, cond));
            v.push((Safe::CloseSession { ch, token }, cond));
        }
        v.push((Safe::CloseSecureChannel { ch }, None));
        Ok(v.into_iter().map(|(s, _)| s).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_off_and_sessionless() {
        let s: OpcuaSettings = toml::from_str("enabled = true").unwrap();
        assert_eq!(
            s,
            OpcuaSettings {
                enabled: true,
                ..OpcuaSettings::default()
            }
        );
        assert!(!OpcuaSettings::default().enabled);
        assert!(toml::from_str::<OpcuaSettings>("enabled = true\nwrite = true").is_err());
        let zero = OpcuaSettings {
            port: 0,
            ..OpcuaSettings::default()
        };
        assert_eq!(
            zero.check().unwrap_err().to_string(),
            "opcua.port must be 1 to 65535, got 0"
        );
        assert!(zero.validate().is_err());
    }

    #[test]
    fn the_plan_lists_every_request_with_its_length() {
        let addr: SocketAddr = "127.0.0.1:4840".parse().unwrap();
        let p = OpcuaSettings {
            enabled: true,
            ..Default::default()
        }
        .plan(addr)
        .unwrap();
        let kl: Vec<(&str, usize)> = p.iter().map(|r| (r.kind, r.bytes)).collect();
        assert_eq!(
            kl,
            [
                ("opcua.hello", 56),
                ("opcua.open_secure_channel", 132),
                ("opcua.get_endpoints", 93),
                ("opcua.close_secure_channel", 57)
            ]
        );
        let all = OpcuaSettings {
            enabled: true,
            find_servers: true,
            build_info: true,
            ..Default::default()
        }
        .plan(addr)
        .unwrap();
        assert_eq!(all.len(), 9);
        assert!(all[4..8].iter().all(|r| r.conditional.is_some()));
        // With the longest token and policy id the session requests are at most this long.
        assert_eq!(all[5].bytes, 99 + 32 + 40);
    }
}
