//! What an OPC UA server says about itself, as otscout records it: the application
//! (GetEndpoints), its endpoints with their security, the server certificate (parsed with
//! `x509-parser`), the optional BuildInfo read, and the findings they raise.
//!
//! Plain functions over the codec's types; the identity types and their findings live in
//! `inventory`; the identity as asset fields is [`IdentityFacts`], below.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::inventory::merge::AssetField;
use crate::inventory::{Facts, IdentityFacts, normalize};
pub use crate::inventory::{
    OpcuaBuildInfo as BuildInfo, OpcuaCertificate as Certificate, OpcuaEndpoint as Endpoint,
    OpcuaFinding as Flag, OpcuaIdentity,
};
use crate::wire::opcua::{
    self as w, ApplicationDescription, DataValue, EndpointDescription, LocalizedText, Value,
};

/// The policy's short name: the fragment after `#` of a standard policy URI.
pub fn policy_name(uri: Option<&str>) -> String {
    match uri {
        None => "(null)".into(),
        Some(u) => u.strip_prefix(w::POLICY_PREFIX).unwrap_or(u).to_string(),
    }
}

fn text(t: &LocalizedText) -> Option<String> {
    t.text.clone()
}

fn endpoint(e: &EndpointDescription) -> Endpoint {
    Endpoint {
        url: e.endpoint_url.clone(),
        security_mode: w::security_mode_name(e.security_mode).to_string(),
        security_policy: policy_name(e.security_policy_uri.as_deref()),
        user_tokens: e
            .user_identity_tokens
            .iter()
            .map(|t| w::user_token_type_name(t.token_type).to_string())
            .collect(),
        anonymous_policy_id: e
            .user_identity_tokens
            .iter()
            .find(|t| t.token_type == 0)
            .map(|t| t.policy_id.clone().unwrap_or_default()),
        security_level: e.security_level,
    }
}

/// Folds a later part of one application's identity into an earlier one: fields still
/// missing are filled, endpoints not yet listed are added in their order (a Zeek
/// description log gives one endpoint a row; a capture's repeated GetEndpoints answer adds
/// nothing it did not already list).
pub fn fold_part(into: &mut OpcuaIdentity, part: OpcuaIdentity) {
    fn take<T>(a: &mut Option<T>, b: Option<T>) {
        if a.is_none() {
            *a = b;
        }
    }
    take(&mut into.application_uri, part.application_uri);
    take(&mut into.product_uri, part.product_uri);
    take(&mut into.application_name, part.application_name);
    take(&mut into.certificate, part.certificate);
    take(&mut into.build_info, part.build_info);
    if into.application_type == "unknown" || into.application_type.is_empty() {
        into.application_type = part.application_type;
    }
    for url in part.discovery_urls {
        if !into.discovery_urls.contains(&url) {
            into.discovery_urls.push(url);
        }
    }
    for e in part.endpoints {
        if !into.endpoints.contains(&e) {
            into.endpoints.push(e);
        }
    }
}

/// Why a certificate could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("opc ua server certificate ({len} bytes) is not an x.509 certificate: {reason}")]
pub struct CertificateError {
    pub len: usize,
    pub reason: String,
}

/// Parses a DER certificate (a server may send a chain: the first certificate is its own).
pub fn certificate(der: &[u8]) -> Result<Certificate, CertificateError> {
    let (rest, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| CertificateError {
        len: der.len(),
        reason: e.to_string(),
    })?;
    let own = &der[..der.len() - rest.len()];
    let time = |t: &x509_parser::time::ASN1Time| {
        DateTime::<Utc>::from_timestamp(t.timestamp(), 0).unwrap_or_default()
    };
    let subject = cert.subject().to_string();
    let issuer = cert.issuer().to_string();
    Ok(Certificate {
        self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
        subject,
        issuer,
        // DER keeps a leading 0x00 on a serial whose high bit is set; it is sign, not value.
        serial: hex::encode(match cert.raw_serial() {
            [0, rest @ ..] if !rest.is_empty() => rest,
            s => s,
        }),
        not_before: time(&cert.validity().not_before),
        not_after: time(&cert.validity().not_after),
        sha256: hex::encode(Sha256::digest(own)),
        der_len: own.len(),
    })
}

/// An identity from a GetEndpoints answer (and the application a FindServers answer
/// describes, when the endpoints are empty). The certificate that does not parse is left
/// out and its error returned beside the identity.
pub fn from_endpoints(
    endpoints: &[EndpointDescription],
    app: Option<&ApplicationDescription>,
) -> (OpcuaIdentity, Option<CertificateError>) {
    let app = endpoints.first().map(|e| &e.server).or(app);
    let mut id = OpcuaIdentity {
        application_type: "unknown".into(),
        ..OpcuaIdentity::default()
    };
    if let Some(a) = app {
        id.application_uri = a.application_uri.clone();
        id.product_uri = a.product_uri.clone();
        id.application_name = text(&a.application_name);
        id.application_type = w::application_type_name(a.application_type).into();
        id.discovery_urls = a
            .discovery_urls
            .iter()
            .flatten()
            .flatten()
            .cloned()
            .collect();
    }
    id.endpoints = endpoints.iter().map(endpoint).collect();
    let mut err = None;
    if let Some(der) = endpoints
        .iter()
        .find_map(|e| e.server_certificate.as_deref().filter(|d| !d.is_empty()))
    {
        match certificate(der) {
            Ok(c) => id.certificate = Some(c),
            Err(e) => err = Some(e),
        }
    }
    (id, err)
}

/// BuildInfo from the Read answer to [`super::safe::BUILD_INFO_NODES`] (in that order);
/// `None` when no value came back.
pub fn build_info(results: &[DataValue]) -> Option<BuildInfo> {
    let s = |i: usize| match results.get(i).and_then(|r| r.value.as_ref()) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::LocalizedText(t)) => t.text.clone(),
        _ => None,
    };
    let b = BuildInfo {
        product_uri: s(0),
        manufacturer_name: s(1),
        product_name: s(2),
        software_version: s(3),
        build_number: s(4),
        build_date: match results.get(5).and_then(|r| r.value.as_ref()) {
            Some(Value::DateTime(t)) if *t > 0 => date_time(*t),
            _ => None,
        },
    };
    (b != BuildInfo::default()).then_some(b)
}

/// An OPC UA DateTime (100 ns ticks since 1601-01-01 UTC) as UTC.
pub fn date_time(ticks: i64) -> Option<DateTime<Utc>> {
    // 11644473600 s between 1601-01-01 and 1970-01-01.
    let secs = ticks.div_euclid(10_000_000) - 11_644_473_600;
    let nanos = (ticks.rem_euclid(10_000_000) * 100) as u32;
    DateTime::<Utc>::from_timestamp(secs, nanos)
}

/// The findings of an identity at `now` (certificate validity depends on it).
pub fn flags(id: &OpcuaIdentity, now: DateTime<Utc>) -> Vec<Flag> {
    id.findings(now)
}

/// The endpoint the opt-in BuildInfo read may use: SecurityMode None, policy None, with an
/// Anonymous token. `None` when the server offers no such endpoint (then no session).
pub fn anonymous_unsecured(id: &OpcuaIdentity) -> Option<&Endpoint> {
    id.endpoints.iter().find(|e| {
        e.security_mode == "none" && e.security_policy == "None" && e.anonymous_policy_id.is_some()
    })
}

/// An OPC UA server: BuildInfo (opt-in) names the manufacturer, product and software
/// version; otherwise the application name is the product. The application URI, the
/// endpoints' security and the findings (at the time the identity was seen) are kept as
/// `opcua.*` attributes.
impl IdentityFacts for OpcuaIdentity {
    fn facts(&self, seen: Option<DateTime<Utc>>, b: &mut Facts) {
        let id = self;
        let s = |what: &str| format!("opc ua {what}");
        let bi = id.build_info.as_ref();
        if let Some(m) = bi.and_then(|b| b.manufacturer_name.as_deref()) {
            b.field(
                AssetField::Manufacturer,
                &normalize::vendor_name(m),
                s("build info manufacturer name"),
            );
        }
        match bi.and_then(|b| b.product_name.as_deref()) {
            Some(p) => {
                b.field(AssetField::ProductName, p, s("build info product name"));
                b.field(AssetField::Model, p, s("build info product name"));
            }
            None => {
                if let Some(n) = &id.application_name {
                    b.field(AssetField::ProductName, n, s("application name"));
                }
            }
        }
        if let Some(v) = bi.and_then(|b| b.software_version.as_deref()) {
            b.field(
                AssetField::Firmware,
                &normalize::firmware(v),
                s("build info software version"),
            );
        }
        let dt = if id.application_type == "discovery_server" {
            "OPC UA discovery server"
        } else {
            "OPC UA server"
        };
        b.field(AssetField::DeviceType, dt, s("application type"));
        if let Some(u) = &id.application_uri {
            b.attribute("opcua.application_uri", u, s("application uri"));
        }
        if let Some(u) = &id.product_uri {
            b.attribute("opcua.product_uri", u, s("product uri"));
        }
        let eps: Vec<String> = id
            .endpoints
            .iter()
            .map(|e| {
                format!(
                    "{}/{} [{}]",
                    e.security_mode,
                    e.security_policy,
                    e.user_tokens.join(",")
                )
            })
            .collect();
        if !eps.is_empty() {
            b.attribute("opcua.endpoints", &eps.join("; "), s("get endpoints"));
        }
        if let Some(c) = &id.certificate {
            b.attribute(
                "opcua.certificate.subject",
                &c.subject,
                s("server certificate"),
            );
            b.attribute(
                "opcua.certificate.sha256",
                &c.sha256,
                s("server certificate"),
            );
            b.attribute(
                "opcua.certificate.not_after",
                &c.not_after.to_rfc3339(),
                s("server certificate"),
            );
        }
        // Findings at the time the identity was seen (a certificate valid then may have
        // expired since; the report's date says which).
        if let Some(at) = seen {
            for f in id.findings(at) {
                let (name, detail) = match &f {
                    Flag::SecurityModeNone { endpoint } => ("security_mode_none", endpoint.clone()),
                    Flag::AnonymousOnUnsecured { endpoint } => {
                        ("anonymous_on_unsecured", endpoint.clone())
                    }
                    Flag::DeprecatedPolicy { endpoint, policy } => {
                        ("deprecated_policy", format!("{policy} at {endpoint}"))
                    }
                    Flag::CertificateExpired { not_after } => {
                        ("certificate_expired", not_after.to_rfc3339())
                    }
                    Flag::CertificateNotYetValid { not_before } => {
                        ("certificate_not_yet_valid", not_before.to_rfc3339())
                    }
                    Flag::CertificateSelfSigned { subject } => {
                        ("certificate_self_signed", subject.clone())
                    }
                };
                b.attribute(
                    &format!("opcua.finding.{name}"),
                    &detail,
                    s("security finding"),
                );
            }
        }
    }

    /// BuildInfo's manufacturer (canonical) and product name.
    fn rule_names(&self, out: &mut Vec<String>) {
        let bi = self.build_info.as_ref();
        if let Some(m) = bi.and_then(|b| b.manufacturer_name.as_deref()) {
            out.push(normalize::vendor_name(m));
        }
        out.extend(bi.and_then(|b| b.product_name.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_times_convert_from_1601_ticks() {
        // 2020-01-20T20:32:... open62541 capture's OPN timestamp 0x01d5cfd1640e171c.
        let t = date_time(0x01d5_cfd1_640e_171c).unwrap();
        assert_eq!(t.format("%Y-%m-%d").to_string(), "2020-01-20");
        assert_eq!(date_time(0).unwrap().format("%Y").to_string(), "1601");
    }

    fn ep(mode: u32, policy: &str, tokens: &[u32]) -> EndpointDescription {
        EndpointDescription {
            endpoint_url: Some("opc.tcp://h:4840".into()),
            security_mode: mode,
            security_policy_uri: Some(format!("{}{policy}", w::POLICY_PREFIX)),
            user_identity_tokens: tokens
                .iter()
                .map(|t| w::UserTokenPolicy {
                    policy_id: Some(format!("p{t}")),
                    token_type: *t,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn flags_name_unsecured_anonymous_and_deprecated_endpoints() {
        let (id, err) = from_endpoints(
            &[
                ep(1, "None", &[0, 1]),
                ep(3, "Basic256", &[1]),
                ep(3, "Basic256Sha256", &[0]),
            ],
            None,
        );
        assert_eq!(err, None);
        let f = flags(&id, Utc::now());
        assert_eq!(
            f,
            [
                Flag::SecurityModeNone {
                    endpoint: "opc.tcp://h:4840".into()
                },
                Flag::AnonymousOnUnsecured {
                    endpoint: "opc.tcp://h:4840".into()
                },
                Flag::DeprecatedPolicy {
                    endpoint: "opc.tcp://h:4840".into(),
                    policy: "Basic256".into()
                },
            ]
        );
        assert_eq!(
            anonymous_unsecured(&id).and_then(|e| e.anonymous_policy_id.clone()),
            Some("p0".into())
        );
        // A secured-only server offers no endpoint for the session.
        let (id, _) = from_endpoints(&[ep(3, "Basic256Sha256", &[0])], None);
        assert_eq!(anonymous_unsecured(&id), None);
        assert!(flags(&id, Utc::now()).is_empty());
    }

    #[test]
    fn a_broken_certificate_is_an_error_beside_the_identity() {
        let mut e = ep(1, "None", &[0]);
        e.server_certificate = Some(vec![0x30, 0x03, 1, 2, 3]);
        let (id, err) = from_endpoints(&[e], None);
        assert_eq!(id.certificate, None);
        assert_eq!(id.endpoints.len(), 1);
        assert!(err.unwrap().to_string().contains("5 bytes"));
    }

    #[test]
    fn build_info_reads_values_in_node_order() {
        let v = |s: &str| DataValue {
            value: Some(Value::String(Some(s.into()))),
            status: None,
        };
        let b = build_info(&[
            v("urn:p"),
            v("Acme"),
            v("Gateway"),
            v("1.2.3"),
            v("42"),
            DataValue {
                value: None,
                status: Some(0x8034_0000),
            },
        ])
        .unwrap();
        assert_eq!(b.manufacturer_name.as_deref(), Some("Acme"));
        assert_eq!(b.software_version.as_deref(), Some("1.2.3"));
        assert_eq!(b.build_date, None);
        assert_eq!(build_info(&[]), None);
    }
}
