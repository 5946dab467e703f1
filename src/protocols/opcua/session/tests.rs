//! The session in memory with fake time, against answers built here byte by byte (the
//! shapes of the captures' answers: open62541 frames 7, 11 and 15).

use super::*;
use crate::wire::opcua::{
    ApplicationDescription, LocalizedText, NodeId, write_bytes, write_string,
};

const T: Duration = Duration::from_secs(2);
const W: Duration = Duration::from_millis(500);

fn cfg(find_servers: bool, build_info: bool) -> Config {
    Config {
        endpoint_url: safe::url("opc.tcp://127.0.0.1:4840").unwrap(),
        find_servers,
        build_info,
        reply_timeout: T,
        close_wait: W,
    }
}

/// open62541_client-server_encrypted.pcap frame 7.
fn ack() -> Vec<u8> {
    let mut v = b"ACKF".to_vec();
    v.extend_from_slice(&28u32.to_le_bytes());
    for x in [0u32, 65535, 65535, 0, 0] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v
}

fn resp_header(out: &mut Vec<u8>, handle: u32, status: u32) {
    out.extend_from_slice(&0i64.to_le_bytes());
    out.extend_from_slice(&handle.to_le_bytes());
    out.extend_from_slice(&status.to_le_bytes());
    out.push(0); // no diagnostics
    out.extend_from_slice(&(-1i32).to_le_bytes()); // null string table
    out.extend_from_slice(&[0, 0, 0]); // no additional header
}

fn frame(mt: MessageType, chunk: ChunkType, request_id: u32, body: &[u8]) -> Vec<u8> {
    let mut f = w::secure_frame(mt, 5, 9, request_id, request_id, body);
    if let Frame::Chunk(c) = &mut f {
        c.chunk = chunk;
    }
    let mut out = Vec::new();
    f.encode(&mut out);
    out
}

fn opn_resp(request_id: u32) -> Vec<u8> {
    let mut b = Vec::new();
    NodeId::ns0(w::id::OPEN_SECURE_CHANNEL_RESPONSE).encode(&mut b);
    resp_header(&mut b, request_id, 0);
    for x in [0u32, 5, 9] {
        b.extend_from_slice(&x.to_le_bytes());
    }
    b.extend_from_slice(&0i64.to_le_bytes());
    b.extend_from_slice(&600_000u32.to_le_bytes());
    write_bytes(&mut b, None);
    frame(MessageType::Open, ChunkType::Final, request_id, &b)
}

fn app() -> ApplicationDescription {
    ApplicationDescription {
        application_uri: Some("urn:open62541.server.application".into()),
        product_uri: None,
        application_name: LocalizedText {
            locale: Some("en".into()),
            text: Some("open62541-based OPC UA Application".into()),
        },
        application_type: 0,
        ..Default::default()
    }
}

fn endpoint(out: &mut Vec<u8>, mode: u32, policy: &str, tokens: &[(&str, u32)]) {
    write_string(out, Some("opc.tcp://localhost:4840"));
    app().encode(out);
    write_bytes(out, None);
    out.extend_from_slice(&mode.to_le_bytes());
    write_string(
        out,
        Some(&format!(
            "http://opcfoundation.org/UA/SecurityPolicy#{policy}"
        )),
    );
    out.extend_from_slice(&(tokens.len() as u32).to_le_bytes());
    for (id, t) in tokens {
        write_string(out, Some(id));
        out.extend_from_slice(&t.to_le_bytes());
        write_string(out, None);
        write_string(out, None);
        write_string(out, None);
    }
    write_string(
        out,
        Some("http://opcfoundation.org/UA-Profile/Transport/uatcp-uasc-uabinary"),
    );
    out.push(1);
}

fn gep_body(request_id: u32, anonymous_none: bool) -> Vec<u8> {
    let mut b = Vec::new();
    NodeId::ns0(w::id::GET_ENDPOINTS_RESPONSE).encode(&mut b);
    resp_header(&mut b, request_id, 0);
    b.extend_from_slice(&2u32.to_le_bytes());
    if anonymous_none {
        endpoint(
            &mut b,
            1,
            "None",
            &[("open62541-anonymous-policy", 0), ("user", 1)],
        );
    } else {
        endpoint(&mut b, 1, "None", &[("user", 1)]);
    }
    endpoint(
        &mut b,
        3,
        "Basic256Sha256",
        &[("open62541-anonymous-policy", 0)],
    );
    b
}

fn gep_resp(request_id: u32, anonymous_none: bool) -> Vec<u8> {
    frame(
        MessageType::Message,
        ChunkType::Final,
        request_id,
        &gep_body(request_id, anonymous_none),
    )
}

fn simple(type_id: u32, request_id: u32, status: u32, tail: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    NodeId::ns0(type_id).encode(&mut b);
    resp_header(&mut b, request_id, status);
    b.extend_from_slice(tail);
    frame(MessageType::Message, ChunkType::Final, request_id, &b)
}

fn kinds(steps: &[Step]) -> Vec<&'static str> {
    steps
        .iter()
        .map(|s| match s {
            Step::Send(r) => r.kind(),
            Step::Wait => "wait",
            Step::Done => "done",
        })
        .collect()
}

/// Every request the session sends passes the guard and has the ids the answers use.
fn guarded(s: Step) -> Step {
    if let Step::Send(r) = &s {
        let mut b = Vec::new();
        r.encode(&mut b);
        assert_eq!(safe::check(&b).as_ref(), Ok(r), "{}", r.kind());
    }
    s
}

#[test]
fn sessionless_by_default_hello_open_get_endpoints_close() {
    let t0 = Instant::now();
    let mut s = OpcuaSession::new(cfg(false, false));
    let mut steps = vec![guarded(s.on_connected(t0))];
    steps.push(guarded(s.on_bytes(t0, &ack())));
    steps.push(guarded(s.on_bytes(t0, &opn_resp(1))));
    let Step::Send(Safe::GetEndpoints { ch, .. }) = steps[2] else {
        panic!("{steps:?}")
    };
    assert_eq!((ch.channel_id, ch.token_id, ch.request_id), (5, 9, 2));
    steps.push(guarded(s.on_bytes(t0, &gep_resp(2, true))));
    assert_eq!(
        kinds(&steps),
        [
            "opcua.hello",
            "opcua.open_secure_channel",
            "opcua.get_endpoints",
            "opcua.close_secure_channel"
        ]
    );
    // After the close nothing is awaited but the server's close, briefly; its absence is
    // no finding.
    assert_eq!(s.poll_timeout(), Some(t0 + W));
    assert_eq!(s.on_bytes(t0, b"late"), Step::Wait);
    assert_eq!(s.on_timeout(t0 + W), Step::Done);
    assert!(s.notes().is_empty(), "{:?}", s.notes());
    let id = s.identity().unwrap();
    assert_eq!(
        id.application_uri.as_deref(),
        Some("urn:open62541.server.application")
    );
    assert_eq!(id.product_uri, None);
    assert_eq!(id.endpoints.len(), 2);
    assert_eq!(id.endpoints[1].security_policy, "Basic256Sha256");
    assert!(s.notes().is_empty(), "{:?}", s.notes());
}

#[test]
fn an_answer_cut_at_every_offset_gives_the_same_identity() {
    let t0 = Instant::now();
    let whole = {
        let mut s = OpcuaSession::new(cfg(false, false));
        s.on_connected(t0);
        s.on_bytes(t0, &ack());
        s.on_bytes(t0, &opn_resp(1));
        s.on_bytes(t0, &gep_resp(2, true));
        s.identity().cloned().unwrap()
    };
    let g = gep_resp(2, true);
    for cut in 1..g.len() {
        let mut s = OpcuaSession::new(cfg(false, false));
        s.on_connected(t0);
        s.on_bytes(t0, &ack());
        s.on_bytes(t0, &opn_resp(1));
        assert_eq!(s.on_bytes(t0, &g[..cut]), Step::Wait);
        assert!(matches!(
            s.on_bytes(t0, &g[cut..]),
            Step::Send(Safe::CloseSecureChannel { .. })
        ));
        assert_eq!(s.identity(), Some(&whole), "cut at {cut}");
    }
}

#[test]
fn a_message_in_two_chunks_is_reassembled() {
    let t0 = Instant::now();
    let mut s = OpcuaSession::new(cfg(false, false));
    s.on_connected(t0);
    s.on_bytes(t0, &ack());
    s.on_bytes(t0, &opn_resp(1));
    let body = gep_body(2, true);
    let (a, b) = body.split_at(100);
    assert_eq!(
        s.on_bytes(
            t0,
            &frame(MessageType::Message, ChunkType::Intermediate, 2, a)
        ),
        Step::Wait
    );
    assert!(matches!(
        s.on_bytes(t0, &frame(MessageType::Message, ChunkType::Final, 2, b)),
        Step::Send(Safe::CloseSecureChannel { .. })
    ));
    assert_eq!(s.identity().unwrap().endpoints.len(), 2);
}

#[test]
fn build_info_only_when_asked_and_only_anonymously_on_an_unsecured_endpoint() {
    let t0 = Instant::now();
    let mut s = OpcuaSession::new(cfg(true, true));
    let mut steps = vec![guarded(s.on_connected(t0))];
    steps.push(guarded(s.on_bytes(t0, &ack())));
    steps.push(guarded(s.on_bytes(t0, &opn_resp(1))));
    steps.push(guarded(s.on_bytes(t0, &gep_resp(2, true))));
    // FindServers: one application.
    let mut tail = 1u32.to_le_bytes().to_vec();
    app().encode(&mut tail);
    steps.push(guarded(
        s.on_bytes(t0, &simple(w::id::FIND_SERVERS_RESPONSE, 3, 0, &tail)),
    ));
    let Step::Send(Safe::CreateSession { .. }) = steps[4] else {
        panic!("{steps:?}")
    };
    // CreateSession: session id, an opaque authentication token, timeout, no nonce,
    // no certificate, no endpoints.
    let mut tail = Vec::new();
    NodeId::Numeric { ns: 1, id: 77 }.encode(&mut tail);
    NodeId::Opaque {
        ns: 1,
        value: Some(vec![0xab; 32]),
    }
    .encode(&mut tail);
    tail.extend_from_slice(&30_000f64.to_bits().to_le_bytes());
    write_bytes(&mut tail, None);
    write_bytes(&mut tail, None);
    tail.extend_from_slice(&0u32.to_le_bytes());
    steps.push(guarded(s.on_bytes(
        t0,
        &simple(w::id::CREATE_SESSION_RESPONSE, 4, 0, &tail),
    )));
    let Step::Send(Safe::ActivateSession {
        policy_id, token, ..
    }) = steps[5]
    else {
        panic!("{steps:?}")
    };
    assert_eq!(policy_id.as_str(), "open62541-anonymous-policy");
    steps.push(guarded(s.on_bytes(
        t0,
        &simple(w::id::ACTIVATE_SESSION_RESPONSE, 5, 0, &[]),
    )));
    let Step::Send(Safe::ReadBuildInfo { token: t2, .. }) = steps[6] else {
        panic!("{steps:?}")
    };
    assert_eq!(t2, token, "the server's token is echoed");
    let mut tail = 6u32.to_le_bytes().to_vec();
    for v in ["urn:acme:gw", "Acme", "Gateway 9", "2.4.1", "1187"] {
        tail.push(1);
        tail.push(12);
        write_string(&mut tail, Some(v));
    }
    tail.extend_from_slice(&[1, 13]);
    tail.extend_from_slice(&0x01d5_cfd1_640e_171ci64.to_le_bytes());
    tail.extend_from_slice(&(-1i32).to_le_bytes());
    steps.push(guarded(
        s.on_bytes(t0, &simple(w::id::READ_RESPONSE, 6, 0, &tail)),
    ));
    steps.push(guarded(
        s.on_bytes(t0, &simple(w::id::CLOSE_SESSION_RESPONSE, 7, 0, &[])),
    ));
    assert_eq!(
        kinds(&steps),
        [
            "opcua.hello",
            "opcua.open_secure_channel",
            "opcua.get_endpoints",
            "opcua.find_servers",
            "opcua.create_session",
            "opcua.activate_session",
            "opcua.read_build_info",
            "opcua.close_session",
            "opcua.close_secure_channel"
        ]
    );
    let b = s.identity().unwrap().build_info.clone().unwrap();
    assert_eq!(b.manufacturer_name.as_deref(), Some("Acme"));
    assert_eq!(b.software_version.as_deref(), Some("2.4.1"));
    assert_eq!(b.build_number.as_deref(), Some("1187"));
    assert!(b.build_date.is_some());
    assert_eq!(s.servers().len(), 1);
}

#[test]
fn no_session_without_an_anonymous_unsecured_endpoint() {
    let t0 = Instant::now();
    let mut s = OpcuaSession::new(cfg(false, true));
    s.on_connected(t0);
    s.on_bytes(t0, &ack());
    s.on_bytes(t0, &opn_resp(1));
    assert!(matches!(
        s.on_bytes(t0, &gep_resp(2, false)),
        Step::Send(Safe::CloseSecureChannel { .. })
    ));
    assert!(matches!(s.notes(), [Note::SessionSkipped(r)] if r.contains("anonymous")));
}

#[test]
fn an_unanswered_request_ends_the_session_and_nothing_more_is_sent() {
    let t0 = Instant::now();
    let mut s = OpcuaSession::new(cfg(false, false));
    s.on_connected(t0);
    assert_eq!(s.poll_timeout(), Some(t0 + T));
    assert_eq!(s.on_timeout(t0 + T / 2), Step::Wait);
    assert_eq!(s.on_timeout(t0 + T), Step::Done);
    assert_eq!(
        s.notes(),
        [Note::Timeout {
            waiting_for: "opcua.acknowledge"
        }]
    );
    // A late answer changes nothing.
    assert_eq!(s.on_bytes(t0 + T * 2, &ack()), Step::Done);
}

#[test]
fn err_fault_foreign_bytes_and_stray_answers_are_findings() {
    let t0 = Instant::now();
    // ERR instead of ACK (the AnsiC server's frame 43 shape).
    let mut s = OpcuaSession::new(cfg(false, false));
    s.on_connected(t0);
    let err = [
        b"ERRF".as_slice(),
        &16u32.to_le_bytes(),
        &0x8002_0000u32.to_le_bytes(),
        &[0xff; 4],
    ]
    .concat();
    assert_eq!(s.on_bytes(t0, &err), Step::Done);
    assert!(matches!(
        s.notes(),
        [Note::Error {
            status: 0x8002_0000,
            reason: None,
            ..
        }]
    ));

    // A ServiceFault to GetEndpoints: recorded, then the channel is closed.
    let mut s = OpcuaSession::new(cfg(false, false));
    s.on_connected(t0);
    s.on_bytes(t0, &ack());
    s.on_bytes(t0, &opn_resp(1));
    assert!(matches!(
        s.on_bytes(t0, &simple(w::id::SERVICE_FAULT, 2, 0x8007_0000, &[])),
        Step::Send(Safe::CloseSecureChannel { .. })
    ));
    assert!(matches!(
        s.notes(),
        [Note::Fault {
            status: 0x8007_0000,
            ..
        }]
    ));

    // A Modbus answer on the port; an answer to another request id.
    let mut s = OpcuaSession::new(cfg(false, false));
    s.on_connected(t0);
    assert_eq!(s.on_bytes(t0, &[0, 1, 0, 0, 0, 3, 1, 0x83, 1]), Step::Done);
    assert!(matches!(s.notes(), [Note::Malformed { .. }]));
    let mut s = OpcuaSession::new(cfg(false, false));
    s.on_connected(t0);
    s.on_bytes(t0, &ack());
    s.on_bytes(t0, &opn_resp(1));
    assert_eq!(s.on_bytes(t0, &gep_resp(7, true)), Step::Done);
    assert!(matches!(s.notes(), [Note::Malformed { reason, .. }] if reason.contains("request 7")));

    // The connection lost while waiting.
    let mut s = OpcuaSession::new(cfg(false, false));
    s.on_connected(t0);
    assert_eq!(s.on_connection_lost(), Step::Done);
    assert_eq!(
        s.notes(),
        [Note::Closed {
            waiting_for: "opcua.acknowledge"
        }]
    );
}
