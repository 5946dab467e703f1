//! The conformance spec of OPC UA GetEndpoints / CreateSession (OPC 10000-4, 5.4.4 and
//! 5.6.2): tshark's `opcua.*` fields against otscout's OPC UA identity (see
//! [`crate::protocols::conformance`]).

use crate::inventory::{Identity, Protocol};
use crate::protocols::conformance::{Frame, Part, PortPref, Spec, put};

/// The specs of this folder.
pub static SPECS: &[Spec] = &[Spec {
    name: "opcua",
    // GetEndpoints and CreateSession answers carry the server's application description
    // in every endpoint.
    filter: "opcua.servicenodeid.numeric == 431 || opcua.servicenodeid.numeric == 464",
    fields: &["opcua.ApplicationUri", "opcua.ProductUri"],
    tshark: opcua_tshark,
    otscout: opcua_otscout,
    protocols: &[Protocol::Opcua],
    tcp: Some(PortPref {
        name: "opcua.tcp.port",
        default: &[4840],
    }),
    udp: None,
    prefs: &[],
    heuristics: &[],
    tree: &[],
}];

/// The application of the first endpoint (tshark lists one per endpoint, all the same
/// server's); a null ProductUri is an empty field to tshark and absent to otscout.
fn opcua_tshark(f: &Frame) -> Vec<Part> {
    let mut p = Part::default();
    let first = |field: &str| {
        f.get(field)
            .first()
            .map(|s| s.to_string())
            .filter(|s| !s.is_empty())
    };
    put(&mut p, "application_uri", first("opcua.ApplicationUri"));
    put(&mut p, "product_uri", first("opcua.ProductUri"));
    if p.fields.is_empty() {
        return Vec::new();
    }
    vec![p]
}

fn opcua_otscout(id: &Identity) -> Option<Part> {
    let Identity::Opcua(u) = id else {
        return None;
    };
    let mut p = Part::default();
    put(&mut p, "application_uri", u.application_uri.clone());
    put(
        &mut p,
        "product_uri",
        u.product_uri.clone().filter(|s| !s.is_empty()),
    );
    Some(p)
}
