//! OPC UA over the three real captures of captures/INDEX.md: the passive analyzer's
//! identities, channels and operations with the exact values INDEX.md gives, and tshark's
//! OPC UA dissector as the oracle (service ids, application URIs, endpoint URLs and the
//! certificate, frame by frame).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use otscout::passive::capture::{read_frames, sniff};
use otscout::passive::packet::{self, Body, L4};
use otscout::protocols::opcua::identity::{self, Flag, OpcuaIdentity};
use otscout::protocols::opcua::passive::{Connection, Dir, Event};
use otscout::wire::opcua as w;

use crate::support;

type Key = (IpAddr, u16, IpAddr, u16);
/// One connection's segments in order: direction, frame number, payload.
type Segments = Vec<(Dir, u64, Vec<u8>)>;

/// Every TCP connection of a capture, in first-seen order, each as its segments in order
/// (retransmitted bytes dropped by sequence number) with the direction: the side that
/// sends the Hello is the client.
fn connections(dir: &Path, file: &str) -> Vec<(Key, Segments)> {
    let data = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("read {file}: {e}"));
    let fmt = sniff(&data).unwrap_or_else(|| panic!("{file}: not a capture"));
    let mut order: Vec<Key> = Vec::new();
    let mut segs: BTreeMap<Key, Vec<(Key, u64, Vec<u8>)>> = BTreeMap::new();
    let mut next: BTreeMap<Key, u32> = BTreeMap::new();
    read_frames(&data[..], fmt, |f| {
        let Some(p) = packet::decode(f.linktype, f.data) else {
            return;
        };
        let Body::Ip(ip) = p.body else { return };
        let L4::Tcp(t) = ip.l4 else { return };
        let fwd = (ip.src, t.sport, ip.dst, t.dport);
        let canon = if (ip.src, t.sport) < (ip.dst, t.dport) {
            fwd
        } else {
            (ip.dst, t.dport, ip.src, t.sport)
        };
        if t.payload.is_empty() {
            return;
        }
        // Drop bytes already seen (retransmissions).
        let end = t.seq.wrapping_add(t.payload.len() as u32);
        if let Some(n) = next.get(&fwd) {
            if end.wrapping_sub(*n) as i32 <= 0 {
                return;
            }
        }
        next.insert(fwd, end);
        if !segs.contains_key(&canon) {
            order.push(canon);
        }
        segs.entry(canon)
            .or_default()
            .push((fwd, f.number, t.payload.to_vec()));
    })
    .unwrap_or_else(|e| panic!("{file}: {e}"));
    order
        .into_iter()
        .map(|k| {
            let s = segs.remove(&k).unwrap();
            let client = s
                .iter()
                .find(|(_, _, b)| b.starts_with(b"HEL"))
                .map(|(f, _, _)| (f.0, f.1))
                .unwrap_or((k.0, k.1));
            let server = s
                .iter()
                .find(|(f, _, _)| (f.0, f.1) != client)
                .map(|(f, _, _)| *f)
                .map(|f| (f.0, f.1, client.0, client.1))
                .unwrap_or((k.2, k.3, k.0, k.1));
            let dirs = s
                .into_iter()
                .map(|(f, n, b)| {
                    let d = if (f.0, f.1) == client {
                        Dir::ToServer
                    } else {
                        Dir::ToClient
                    };
                    (d, n, b)
                })
                .collect();
            (server, dirs)
        })
        .collect()
}

/// Runs the analyzer over every connection; events per connection.
fn analyze(dir: &Path, file: &str) -> Vec<(Key, Vec<Event>)> {
    connections(dir, file)
        .into_iter()
        .map(|(k, segs)| {
            let mut c = Connection::new();
            let mut ev = Vec::new();
            for (d, _, b) in segs {
                ev.extend(c.on_bytes(d, &b));
            }
            (k, ev)
        })
        .collect()
}

fn identities(ev: &[Event]) -> Vec<(&'static str, &OpcuaIdentity)> {
    ev.iter()
        .filter_map(|e| match e {
            Event::Identity { identity, via, .. } => Some((*via, identity.as_ref())),
            _ => None,
        })
        .collect()
}

fn no_malformed(ev: &[Event]) {
    for e in ev {
        assert!(!matches!(e, Event::Malformed { .. }), "{e:?}");
    }
}

fn modes_policies(id: &OpcuaIdentity) -> Vec<(String, String, u8)> {
    id.endpoints
        .iter()
        .map(|e| {
            (
                e.security_mode.clone(),
                e.security_policy.clone(),
                e.security_level,
            )
        })
        .collect()
}

fn mp(v: &[(&str, &str, u8)]) -> Vec<(String, String, u8)> {
    v.iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), *c))
        .collect()
}

#[test]
fn capture_open62541_get_endpoints_and_an_encrypted_channel() {
    let Some(dir) = support::captures_dir("capture_open62541_get_endpoints") else {
        return;
    };
    let conns = analyze(&dir, "open62541_client-server_encrypted.pcap");
    assert_eq!(conns.len(), 2);
    let (server, ev) = &conns[0];
    assert_eq!(server.1, 4840);
    no_malformed(ev);
    assert!(ev.contains(&Event::Hello {
        endpoint_url: Some("opc.tcp://localhost:4840".into())
    }));
    assert!(ev.contains(&Event::Channel {
        policy: "None".into(),
        encrypted: false
    }));
    let ids = identities(ev);
    assert_eq!(ids.len(), 1);
    let (via, id) = ids[0];
    assert_eq!(via, "get_endpoints");
    assert_eq!(
        id.application_uri.as_deref(),
        Some("urn:open62541.server.application")
    );
    assert_eq!(id.product_uri.as_deref(), Some("http://open62541.org"));
    assert_eq!(
        id.application_name.as_deref(),
        Some("open62541-based OPC UA Application")
    );
    assert_eq!(id.application_type, "server");
    assert!(id.discovery_urls.is_empty(), "DiscoveryUrls are null");
    assert!(
        id.endpoints
            .iter()
            .all(|e| e.url.as_deref() == Some("opc.tcp://localhost:4840"))
    );
    assert_eq!(
        modes_policies(id),
        mp(&[
            ("none", "None", 1),
            ("sign", "Basic128Rsa15", 2),
            ("sign_and_encrypt", "Basic128Rsa15", 3),
            ("sign", "Basic256", 2),
            ("sign_and_encrypt", "Basic256", 3),
            ("sign", "Basic256Sha256", 2),
            ("sign_and_encrypt", "Basic256Sha256", 3),
        ])
    );
    let c = id.certificate.as_ref().expect("certificate");
    assert_eq!(c.der_len, 997);
    // SHA-1 of these 997 bytes is INDEX.md's 02ef7d93ab6cbb3a6f9c202307188ddf171ec991.
    assert_eq!(
        c.sha256,
        "bb1d72ebf9275b1d4bf76f0cd9db4eb7627ca9203963f346cdc1b0983f0571f9"
    );
    assert_eq!(c.subject, "C=DE, O=open62541, CN=open62541Server@localhost");
    assert_eq!(c.issuer, c.subject);
    assert!(c.self_signed);
    assert_eq!(c.serial, "c16484f0a42b5f03");
    assert_eq!(c.not_before.to_rfc3339(), "2020-01-20T18:52:11+00:00");
    assert_eq!(c.not_after.to_rfc3339(), "2021-01-19T18:52:11+00:00");
    let flags = identity::flags(id, "2026-01-01T00:00:00Z".parse().unwrap());
    assert!(flags.contains(&Flag::SecurityModeNone {
        endpoint: "opc.tcp://localhost:4840".into()
    }));
    assert!(flags.contains(&Flag::CertificateExpired {
        not_after: c.not_after
    }));
    assert!(
        flags
            .iter()
            .any(|f| matches!(f, Flag::CertificateSelfSigned { .. }))
    );
    assert!(
        flags.iter().any(
            |f| matches!(f, Flag::DeprecatedPolicy { policy, .. } if policy == "Basic128Rsa15")
        )
    );

    // The second connection runs under Basic128Rsa15: a service with its policy, opaque,
    // no identity and no error.
    let (_, ev) = &conns[1];
    no_malformed(ev);
    assert!(ev.contains(&Event::Channel {
        policy: "Basic128Rsa15".into(),
        encrypted: true
    }));
    assert!(identities(ev).is_empty());
    assert!(!ev.iter().any(|e| matches!(e, Event::Request { .. })));
}

#[test]
fn capture_open62541_discovery_server() {
    let Some(dir) = support::captures_dir("capture_open62541_discovery_server") else {
        return;
    };
    let conns = analyze(&dir, "open62541_discover_getendpoints_discover_urls.pcap");
    let all: Vec<&Event> = conns.iter().flat_map(|(_, e)| e).collect();
    for (_, ev) in &conns {
        no_malformed(ev);
    }
    // RegisterServer2 describes the registering server: a request, never an identity.
    let reg = all
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Request {
                    service: "register_server2"
                }
            )
        })
        .count();
    assert_eq!(reg, 2, "frames 14 and 200");
    assert!(all.iter().any(|e| matches!(
        e,
        Event::Request {
            service: "find_servers_on_network"
        }
    )));
    // FindServers (57/59): two applications, never the answering server's identity.
    let found: Vec<&Vec<OpcuaIdentity>> = all
        .iter()
        .filter_map(|e| match e {
            Event::Discovered { servers } => Some(servers),
            _ => None,
        })
        .collect();
    assert_eq!(found.len(), 1);
    let s = found[0];
    assert_eq!(s.len(), 2);
    assert_eq!(
        s[0].application_uri.as_deref(),
        Some("urn:open62541.example.local_discovery_server")
    );
    assert_eq!(s[0].application_type, "discovery_server");
    assert_eq!(s[0].discovery_urls, ["opc.tcp://Maui-16714:4840/"]);
    assert_eq!(
        s[1].application_uri.as_deref(),
        Some("urn:open62541.example.server_register")
    );
    assert_eq!(s[1].application_type, "server");
    assert_eq!(
        s[1].discovery_urls,
        ["opc.tcp://Maui-16714:51944/", "opc.tcp://Maui-16714:51944/"]
    );
    for a in s {
        assert_eq!(a.product_uri.as_deref(), Some("http://open62541.org"));
        assert_eq!(
            a.application_name.as_deref(),
            Some("open62541-based OPC UA Application")
        );
    }
    // GetEndpoints (83/85) on 192.168.224.105:4840: the only identity in the file.
    let ids: Vec<(&Key, &OpcuaIdentity)> = conns
        .iter()
        .flat_map(|(k, e)| identities(e).into_iter().map(move |(_, i)| (k, i)))
        .collect();
    assert_eq!(ids.len(), 1);
    let (k, id) = ids[0];
    assert_eq!(
        (k.0.to_string(), k.1),
        ("192.168.224.105".to_string(), 4840)
    );
    assert_eq!(id.endpoints.len(), 1);
    assert_eq!(
        id.endpoints[0].url.as_deref(),
        Some("opc.tcp://Maui-16714:4840/")
    );
    assert_eq!(
        id.application_uri.as_deref(),
        Some("urn:open62541.server.application")
    );
    assert_eq!(id.discovery_urls, ["my_open", "my_62541", "my_opc ua"]);
    assert_eq!(id.certificate, None);
    assert_eq!(modes_policies(id), mp(&[("none", "None", 1)]));
    assert_eq!(id.endpoints[0].user_tokens, ["anonymous", "user_name"]);
}

#[test]
fn capture_ansic_server_on_port_12001_in_five_segments() {
    let Some(dir) = support::captures_dir("capture_ansic_server_on_port_12001") else {
        return;
    };
    let conns = connections(&dir, "opc-ua-ap-method-wireshark-freeze.pcap");
    assert_eq!(conns.len(), 2);
    // The GetEndpoints answer of the first connection: frames 12, 14, 16, 18, 20.
    let pieces: Vec<u64> = conns[0]
        .1
        .iter()
        .filter(|(d, n, _)| *d == Dir::ToClient && (12..=20).contains(n))
        .map(|(_, n, _)| *n)
        .collect();
    assert_eq!(pieces, [12, 14, 16, 18, 20]);
    let joined: Vec<u8> = conns[0]
        .1
        .iter()
        .filter(|(_, n, _)| (12..=20).contains(n))
        .flat_map(|(_, _, b)| b.clone())
        .collect();
    assert_eq!(w::frame_len(&joined), Ok(Some(7008)));

    for (k, ev) in analyze(&dir, "opc-ua-ap-method-wireshark-freeze.pcap") {
        assert_eq!(k.1, 12001);
        no_malformed(&ev);
        let ids = identities(&ev);
        assert_eq!(
            ids.iter().map(|(v, _)| *v).collect::<Vec<_>>(),
            ["get_endpoints", "create_session"],
            "CreateSession repeats the endpoints"
        );
        let id = ids[0].1;
        assert_eq!(ids[1].1, id);
        assert_eq!(
            id.application_uri.as_deref(),
            Some("http://vm-xp-steven/UA StackTest Server (AnsiC/2048)")
        );
        assert_eq!(
            id.product_uri, None,
            "a null ProductUri is not the empty string"
        );
        assert_eq!(
            id.application_name.as_deref(),
            Some("UA StackTest Server (AnsiC/2048)")
        );
        assert_eq!(
            id.discovery_urls,
            ["opc.tcp://vm-xp-steven:12001/StackTestServer/AnsiC/2048"]
        );
        assert_eq!(
            modes_policies(id),
            mp(&[
                ("none", "None", 0),
                ("sign_and_encrypt", "Basic128Rsa15", 0),
                ("sign", "Basic128Rsa15", 0),
                ("sign_and_encrypt", "Basic256", 0),
                ("sign", "Basic256", 0),
            ])
        );
        let c = id.certificate.as_ref().unwrap();
        assert_eq!(c.der_len, 1003);
        // SHA-1 7e6941f6d96198158d3235940fd45193264535fb, as INDEX.md gives.
        assert_eq!(
            c.sha256,
            "78fb995f10e8df76ad11d389c80c4eeb6c704489b7abc525064bde25889e902a"
        );
        assert_eq!(
            c.subject,
            "DC=vm-xp-steven, CN=UA StackTest Server (AnsiC/2048)"
        );
        assert!(c.self_signed);
        assert_eq!(c.not_before.date_naive().to_string(), "2009-08-17");
        assert_eq!(c.not_after.date_naive().to_string(), "2019-08-17");
        // The method call is a control operation; the server's ERR is recorded.
        let ops: Vec<&Event> = ev
            .iter()
            .filter(|e| matches!(e, Event::Operation { .. }))
            .collect();
        assert_eq!(
            ops,
            [&Event::Operation {
                function: "opcua.call".into(),
                kind: otscout::inventory::OperationKind::Control
            }]
        );
        assert!(ev.iter().any(|e| matches!(e, Event::Error { .. })));
    }
}

// --- tshark as the oracle -------------------------------------------------------------

/// tshark's fields for every OPC UA frame: frame number, service type id, application
/// URIs, endpoint URLs and server certificates (comma-joined lists), tab-separated.
fn tshark_rows(dir: &Path, file: &str) -> Option<Vec<Vec<String>>> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(dir.join(file))
        .args(["-d", "tcp.port==12001,opcua", "-Y", "opcua", "-T", "fields"])
        .args(["-e", "frame.number", "-e", "opcua.servicenodeid.numeric"])
        .args(["-e", "opcua.ApplicationUri", "-e", "opcua.EndpointUrl"])
        .args(["-e", "opcua.ServerCertificate"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split('\t').map(str::to_string).collect())
            .collect(),
    )
}

#[test]
fn tshark_oracle_agrees_on_services_uris_and_certificates() {
    const TEST: &str = "opcua tshark oracle";
    let Some(dir) = support::captures_dir(TEST) else {
        return;
    };
    for file in [
        "open62541_client-server_encrypted.pcap",
        "open62541_discover_getendpoints_discover_urls.pcap",
        "opc-ua-ap-method-wireshark-freeze.pcap",
    ] {
        let Some(rows) = tshark_rows(&dir, file) else {
            assert!(
                std::env::var("OTSCOUT_REQUIRE_TOOLS").as_deref() != Ok("1"),
                "{TEST}: OTSCOUT_REQUIRE_TOOLS=1 but tshark does not run"
            );
            eprintln!("skipped {TEST}: tshark does not run");
            return;
        };
        // Requests: tshark's service ids that name a request, as service names.
        let mut theirs: BTreeMap<&str, usize> = BTreeMap::new();
        let mut their_ids = Vec::new();
        for r in &rows {
            if let Some(Ok(id)) = r.get(1).filter(|s| !s.is_empty()).map(|s| s.parse::<u32>()) {
                let (name, _) = w::service_of(id);
                if name != "unknown" {
                    *theirs.entry(name).or_default() += 1;
                }
            }
            let apps = r.get(2).map(String::as_str).unwrap_or("");
            let urls = r.get(3).map(String::as_str).unwrap_or("");
            let cert = r.get(4).map(String::as_str).unwrap_or("");
            if r.get(1).map(String::as_str) == Some("431") {
                their_ids.push((apps.to_string(), urls.to_string(), cert.to_string()));
            }
        }
        let conns = analyze(&dir, file);
        let mut ours: BTreeMap<&str, usize> = BTreeMap::new();
        let mut our_ids = Vec::new();
        for (_, ev) in &conns {
            for e in ev {
                match e {
                    Event::Request { service } => *ours.entry(service).or_default() += 1,
                    Event::Identity {
                        identity,
                        via: "get_endpoints",
                        ..
                    } => {
                        let apps: Vec<String> = identity
                            .endpoints
                            .iter()
                            .map(|_| identity.application_uri.clone().unwrap_or_default())
                            .collect();
                        let urls: Vec<String> = identity
                            .endpoints
                            .iter()
                            .map(|e| e.url.clone().unwrap_or_default())
                            .collect();
                        our_ids.push((
                            apps,
                            urls,
                            identity.certificate.as_ref().map(|c| c.sha256.clone()),
                        ));
                    }
                    _ => {}
                }
            }
        }
        assert_eq!(ours, theirs, "{file}: requests per service");
        assert_eq!(
            our_ids.len(),
            their_ids.len(),
            "{file}: GetEndpoints answers"
        );
        for ((apps, urls, cert), (t_apps, t_urls, t_cert)) in our_ids.iter().zip(&their_ids) {
            // tshark lists ApplicationUri once per endpoint, and also the discovery URLs
            // among EndpointUrl in some versions: ours must be a prefix-preserving subset.
            assert_eq!(&apps.join(","), t_apps, "{file}");
            for u in urls {
                assert!(t_urls.contains(u.as_str()), "{file}: {u} not in {t_urls}");
            }
            // tshark shows the certificate of every endpoint; they are all the server's.
            // A null certificate is `<MISSING>` to tshark.
            let first = t_cert.split(',').next().unwrap_or("");
            let t_sha = (!first.is_empty() && first != "<MISSING>").then(|| {
                use sha2::Digest;
                hex::encode(sha2::Sha256::digest(hex::decode(first).unwrap()))
            });
            assert_eq!(cert, &t_sha, "{file}: certificate");
        }
    }
}

// --- the probe session on loopback -----------------------------------------------------

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use otscout::protocols::opcua::safe;
use otscout::protocols::opcua::session::{Config, OpcuaSession, Step};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A minimal driver for the sans-IO session (the registry's driver takes over in phase 2):
/// one connection, every frame through the guard, FIN at the end.
async fn drive(
    addr: SocketAddr,
    find_servers: bool,
    build_info: bool,
) -> (OpcuaSession, Vec<&'static str>) {
    let cfg = Config {
        endpoint_url: safe::url(&format!("opc.tcp://{addr}")).unwrap(),
        find_servers,
        build_info,
        reply_timeout: Duration::from_secs(10),
        close_wait: Duration::from_secs(2),
    };
    let mut s = OpcuaSession::new(cfg);
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut sent = Vec::new();
    let mut step = s.on_connected(Instant::now());
    let mut buf = vec![0u8; 65536];
    loop {
        match step {
            Step::Send(r) => {
                let mut b = Vec::new();
                r.encode(&mut b);
                assert_eq!(safe::check(&b), Ok(r), "the guard accepts {}", r.kind());
                stream.write_all(&b).await.expect("write");
                sent.push(r.kind());
                step = Step::Wait;
            }
            Step::Done => break,
            Step::Wait => {
                let deadline = s.poll_timeout().expect("waiting for something");
                let wait = deadline.saturating_duration_since(Instant::now());
                step = match tokio::time::timeout(wait, stream.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => s.on_connection_lost(),
                    Ok(Ok(n)) => s.on_bytes(Instant::now(), &buf[..n]),
                    Err(_) => s.on_timeout(Instant::now()),
                };
            }
        }
    }
    let _ = stream.shutdown().await;
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut Vec::new())).await;
    (s, sent)
}

#[tokio::test]
async fn session_reads_the_simulator_gateway_exactly() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/simulators/plants/opcua.toml");
    let mut plant = otscout_sim::Plant::load(path).expect("opcua.toml loads");
    plant.devices[0].address = "127.93.0.40".parse().unwrap();
    let running = otscout_sim::start(
        plant,
        otscout_sim::StartOptions {
            ports: otscout_sim::PortOverride::Ephemeral,
            ledger_sink: None,
        },
    )
    .await
    .unwrap();
    let addr = running.device("opcua-gateway").unwrap().opcua.unwrap();

    let (s, sent) = drive(addr, false, false).await;
    assert_eq!(
        sent,
        [
            "opcua.hello",
            "opcua.open_secure_channel",
            "opcua.get_endpoints",
            "opcua.close_secure_channel"
        ]
    );
    let id = s.identity().expect("identity").clone();
    assert!(s.notes().is_empty(), "{:?}", s.notes());
    assert_eq!(
        id.application_uri.as_deref(),
        Some("urn:peerlab:opcua:gateway")
    );
    assert_eq!(
        id.product_uri.as_deref(),
        Some("http://peerlab.invalid/opcua-gateway")
    );
    assert_eq!(
        id.application_name.as_deref(),
        Some("PeerLab OPC UA Gateway")
    );
    assert_eq!(id.build_info, None, "sessionless by default");
    assert_eq!(
        modes_policies(&id),
        mp(&[
            ("none", "None", 0),
            ("sign", "Basic256", 1),
            ("sign_and_encrypt", "Basic256Sha256", 3)
        ])
    );
    let c = id.certificate.as_ref().unwrap();
    assert_eq!(
        c.sha256,
        "17f596955a18e42ddcc0c33b1525c0c74879d6a24847379e09835e5238718f8e"
    );
    assert_eq!(c.subject, "C=DE, O=PeerLab Automation GmbH, CN=plb-ua-gw");
    let flags = identity::flags(&id, "2030-01-01T00:00:00Z".parse().unwrap());
    let url = format!("opc.tcp://{addr}");
    assert_eq!(
        flags,
        [
            Flag::SecurityModeNone {
                endpoint: url.clone()
            },
            Flag::AnonymousOnUnsecured {
                endpoint: url.clone()
            },
            Flag::DeprecatedPolicy {
                endpoint: url,
                policy: "Basic256".into()
            },
            Flag::CertificateSelfSigned {
                subject: c.subject.clone()
            },
        ]
    );

    // The opt-in BuildInfo read, and FindServers.
    let (s, sent) = drive(addr, true, true).await;
    assert_eq!(
        sent,
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
    let b = s
        .identity()
        .unwrap()
        .build_info
        .clone()
        .expect("build info");
    assert_eq!(
        b.manufacturer_name.as_deref(),
        Some("PeerLab Automation GmbH")
    );
    assert_eq!(b.product_name.as_deref(), Some("PLB-UA-GW"));
    assert_eq!(b.software_version.as_deref(), Some("2.4.1"));
    assert_eq!(b.build_number.as_deref(), Some("1187"));
    assert_eq!(
        b.product_uri.as_deref(),
        Some("http://peerlab.invalid/opcua-gateway")
    );
    assert_eq!(s.servers().len(), 1);

    // The device saw only the identity set, one connection at a time.
    let ledger = running.ledger();
    assert_eq!(
        otscout_sim::ledger::max_concurrent_connections(&ledger, "opcua-gateway"),
        1
    );
    for e in &ledger {
        if let otscout_sim::EventKind::Request {
            function, identity, ..
        } = &e.kind
        {
            assert!(identity, "{function} is outside the identity set");
        }
    }
    running.shutdown().await;
}

// --- asyncua (third-party) -------------------------------------------------------------

fn python() -> String {
    std::env::var("OTSCOUT_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Whether python imports asyncua; otherwise the test says it skipped (or fails under
/// `OTSCOUT_REQUIRE_TOOLS=1`, as CI sets).
fn have_asyncua(test: &str) -> bool {
    let ok = Command::new(python())
        .args(["-c", "import asyncua"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("OTSCOUT_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "{test}: OTSCOUT_REQUIRE_TOOLS=1 but {} cannot import asyncua",
            python()
        );
        eprintln!(
            "skipped {test}: {} cannot import asyncua (pip install asyncua==2.1.0)",
            python()
        );
    }
    ok
}

fn scripts() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

fn free_port(ip: std::net::Ipv4Addr) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .expect("bind port 0 on loopback")
        .local_addr()
        .unwrap()
        .port()
}

/// The asyncua server on `ip`, until [`stop`] closes its stdin.
fn asyncua_server(ip: std::net::Ipv4Addr) -> (std::process::Child, SocketAddr) {
    use std::io::BufRead;
    let port = free_port(ip);
    let mut child = Command::new(python())
        .arg(scripts().join("asyncua_server.py"))
        .args(["--host", &ip.to_string(), "--port", &port.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start asyncua_server.py");
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(out).read_line(&mut line);
        let _ = tx.send(line);
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(l) if l.starts_with("ready ") => {}
        other => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("asyncua_server.py did not get ready: {other:?}");
        }
    }
    (child, SocketAddr::from((ip, port)))
}

fn stop(mut child: std::process::Child) {
    drop(child.stdin.take());
    for _ in 0..100 {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn asyncua_server_is_identified_exactly() {
    const TEST: &str = "asyncua server identity";
    if !have_asyncua(TEST) {
        return;
    }
    let (child, addr) = asyncua_server("127.41.0.20".parse().unwrap());
    let (s, sent) = drive(addr, false, true).await;
    stop(child);
    assert_eq!(sent.len(), 8, "{sent:?}");
    assert!(s.notes().is_empty(), "{:?}", s.notes());
    let id = s.identity().expect("identity");
    assert_eq!(
        id.application_uri.as_deref(),
        Some("urn:peerlab:asyncua:test")
    );
    assert_eq!(
        id.product_uri.as_deref(),
        Some("http://peerlab.invalid/asyncua")
    );
    assert_eq!(
        id.application_name.as_deref(),
        Some("PeerLab asyncua Test Server")
    );
    // asyncua 2.1.0 calls its server ClientAndServer.
    assert_eq!(id.application_type, "client_and_server");
    assert_eq!(modes_policies(id), mp(&[("none", "None", 0)]));
    assert_eq!(id.endpoints[0].user_tokens, ["anonymous", "user_name"]);
    assert_eq!(id.certificate, None);
    let b = id.build_info.as_ref().expect("build info");
    assert_eq!(
        b.manufacturer_name.as_deref(),
        Some("PeerLab Automation GmbH")
    );
    assert_eq!(b.product_name.as_deref(), Some("PLB-UA-PY"));
    assert_eq!(b.software_version.as_deref(), Some("2.1.0-lab"));
    assert_eq!(b.build_number.as_deref(), Some("42"));
}

/// asyncua's own client reads the simulator's endpoints as it reads the asyncua server's:
/// the simulator is given the asyncua server's identity (asyncua says ClientAndServer), and
/// both answers must agree on every field but the address.
#[tokio::test]
async fn asyncua_client_reads_the_simulator_as_the_asyncua_server() {
    const TEST: &str = "asyncua client differential";
    if !have_asyncua(TEST) {
        return;
    }
    let read = |url: String| {
        let out = Command::new(python())
            .arg(scripts().join("asyncua_endpoints.py"))
            .arg(&url)
            .output()
            .expect("run asyncua_endpoints.py");
        assert!(
            out.status.success(),
            "asyncua client on {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for e in v.as_array_mut().unwrap() {
            e.as_object_mut().unwrap().remove("endpoint_url");
        }
        v
    };
    let (child, addr) = asyncua_server("127.41.0.21".parse().unwrap());
    let url = format!("opc.tcp://{addr}/");
    let theirs = tokio::task::spawn_blocking(move || read(url))
        .await
        .unwrap();
    stop(child);

    let plant = otscout_sim::Plant::from_toml_str(
        r#"
        [[device]]
        name = "ua"
        address = "127.41.0.22"
        [device.opcua]
        port = 0
        application_uri = "urn:peerlab:asyncua:test"
        product_uri = "http://peerlab.invalid/asyncua"
        application_name = "PeerLab asyncua Test Server"
        application_type = 2
        endpoints = [{ mode = "none", policy = "None", tokens = ["anonymous", "user_name"] }]
        build_info = { manufacturer_name = "PeerLab Automation GmbH", product_name = "PLB-UA-PY", software_version = "2.1.0-lab", build_number = "42" }
        "#,
    )
    .unwrap();
    let running = otscout_sim::start(
        plant,
        otscout_sim::StartOptions {
            ports: otscout_sim::PortOverride::Ephemeral,
            ledger_sink: None,
        },
    )
    .await
    .unwrap();
    let url = format!(
        "opc.tcp://{}/",
        running.device("ua").unwrap().opcua.unwrap()
    );
    let ours = tokio::task::spawn_blocking(move || read(url))
        .await
        .unwrap();
    running.shutdown().await;
    assert_eq!(ours, theirs);
}

/// The analyzer's events never depend on how TCP cut the stream: every capture
/// connection, each segment re-cut into pieces of 1, 3, 7, 100 or 1448 bytes, gives the
/// same events as the segments as captured.
#[test]
fn passive_events_do_not_depend_on_segmentation() {
    let Some(dir) = support::captures_dir("opcua passive segmentation") else {
        return;
    };
    for file in [
        "open62541_client-server_encrypted.pcap",
        "open62541_discover_getendpoints_discover_urls.pcap",
        "opc-ua-ap-method-wireshark-freeze.pcap",
    ] {
        for (k, segs) in connections(&dir, file) {
            let run = |piece: usize| {
                let mut c = Connection::new();
                let mut ev = Vec::new();
                for (d, _, b) in &segs {
                    for p in b.chunks(piece) {
                        ev.extend(c.on_bytes(*d, p));
                    }
                }
                ev
            };
            let whole = run(usize::MAX);
            assert!(!whole.is_empty(), "{file} {k:?}");
            for piece in [1, 3, 7, 100, 1448] {
                assert_eq!(run(piece), whole, "{file} {k:?} in pieces of {piece}");
            }
        }
    }
}

// --- end to end: `otscout scan` and `otscout passive` -----------------------------------

/// Runs `otscout scan` with OPC UA alone enabled on `port` (lab pacing, no vendor rules)
/// and returns its result.
fn otscout_scan(
    dir: &Path,
    target: std::net::Ipv4Addr,
    port: u16,
    sets: &[&str],
) -> serde_json::Value {
    let profile = dir.join("opcua.toml");
    std::fs::write(
        &profile,
        "extends = \"lab\"\nname = \"opcua-test\"\nvendor_rules = []\n",
    )
    .unwrap();
    let out = dir.join("scan.json");
    let port_set = format!("opcua.port={port}");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_otscout"));
    cmd.arg("scan")
        .arg(target.to_string())
        .arg("--profile")
        .arg(&profile)
        .arg("-o")
        .arg(&out)
        .args(["-q", "--operator", "opcua-test"]);
    for s in [
        "modbus.enabled=false",
        "enip.enabled=false",
        "s7.enabled=false",
        "opcua.enabled=true",
        &port_set,
    ]
    .iter()
    .chain(sets)
    {
        cmd.args(["--set", s]);
    }
    let o = cmd.output().expect("otscout runs");
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "otscout scan: {}: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap()
}

fn opcua_identities(result: &serde_json::Value) -> Vec<&serde_json::Value> {
    result["observations"]
        .as_array()
        .expect("observations")
        .iter()
        .filter(|o| o["fact"]["type"] == "identity" && o["fact"]["identity"]["protocol"] == "opcua")
        .map(|o| &o["fact"]["identity"])
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otscout_scan_identifies_the_simulator_gateway() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/simulators/plants/opcua.toml");
    let mut plant = otscout_sim::Plant::load(path).expect("opcua.toml loads");
    let ip: std::net::Ipv4Addr = "127.94.0.40".parse().unwrap();
    plant.devices[0].address = ip;
    let running = otscout_sim::start(
        plant,
        otscout_sim::StartOptions {
            ports: otscout_sim::PortOverride::Ephemeral,
            ledger_sink: None,
        },
    )
    .await
    .unwrap();
    let port = running
        .device("opcua-gateway")
        .unwrap()
        .opcua
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let result = tokio::task::spawn_blocking(move || {
        otscout_scan(
            &d,
            ip,
            port,
            &["opcua.build_info=true", "opcua.find_servers=true"],
        )
    })
    .await
    .unwrap();
    let ids = opcua_identities(&result);
    assert_eq!(ids.len(), 1, "{result:#}");
    let id = ids[0];
    assert_eq!(id["application_uri"], "urn:peerlab:opcua:gateway");
    assert_eq!(id["product_uri"], "http://peerlab.invalid/opcua-gateway");
    assert_eq!(id["application_name"], "PeerLab OPC UA Gateway");
    assert_eq!(id["application_type"], "server");
    assert_eq!(id["endpoints"].as_array().unwrap().len(), 3);
    assert_eq!(id["endpoints"][1]["security_policy"], "Basic256");
    assert_eq!(
        id["certificate"]["sha256"],
        "17f596955a18e42ddcc0c33b1525c0c74879d6a24847379e09835e5238718f8e"
    );
    assert_eq!(
        id["build_info"]["manufacturer_name"],
        "PeerLab Automation GmbH"
    );
    assert_eq!(id["build_info"]["software_version"], "2.4.1");
    // One connection, closed before the next; only the identity set reached the device.
    let ledger = running.ledger();
    assert_eq!(
        otscout_sim::ledger::max_concurrent_connections(&ledger, "opcua-gateway"),
        1
    );
    let asked: Vec<String> = ledger
        .iter()
        .filter_map(|e| match &e.kind {
            otscout_sim::EventKind::Request {
                function, identity, ..
            } => {
                assert!(identity, "{function} outside the identity set");
                Some(function.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        asked,
        [
            "hello",
            "open_secure_channel",
            "get_endpoints",
            "find_servers",
            "create_session",
            "activate_session",
            "read",
            "close_session",
            "close_secure_channel"
        ]
    );
    assert!(
        otscout_sim::ledger::client_resets(&ledger).is_empty(),
        "closed with FIN"
    );
    running.shutdown().await;
}

#[test]
fn otscout_scan_identifies_the_asyncua_server() {
    const TEST: &str = "asyncua server via otscout scan";
    if !have_asyncua(TEST) {
        return;
    }
    let ip: std::net::Ipv4Addr = "127.41.0.23".parse().unwrap();
    let (child, addr) = asyncua_server(ip);
    let dir = tempfile::tempdir().unwrap();
    let result = otscout_scan(dir.path(), ip, addr.port(), &["opcua.build_info=true"]);
    stop(child);
    let ids = opcua_identities(&result);
    assert_eq!(ids.len(), 1, "{result:#}");
    let id = ids[0];
    assert_eq!(id["application_uri"], "urn:peerlab:asyncua:test");
    assert_eq!(id["product_uri"], "http://peerlab.invalid/asyncua");
    assert_eq!(id["application_name"], "PeerLab asyncua Test Server");
    assert_eq!(id["endpoints"][0]["security_mode"], "none");
    assert_eq!(
        id["build_info"]["manufacturer_name"],
        "PeerLab Automation GmbH"
    );
    assert_eq!(id["build_info"]["product_name"], "PLB-UA-PY");
    assert_eq!(id["build_info"]["software_version"], "2.1.0-lab");
    assert_eq!(id["build_info"]["build_number"], "42");
}

#[test]
fn otscout_passive_reads_the_captures_identities_and_the_method_call() {
    let Some(dir) = support::captures_dir("otscout passive over the opc ua captures") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("passive.json");
    let o = Command::new(env!("CARGO_BIN_EXE_otscout"))
        .arg("passive")
        .arg(dir.join("opc-ua-ap-method-wireshark-freeze.pcap"))
        .arg(dir.join("open62541_client-server_encrypted.pcap"))
        .arg(dir.join("open62541_discover_getendpoints_discover_urls.pcap"))
        .arg("-o")
        .arg(&out)
        .arg("-q")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let mut ids: Vec<(String, String)> = r["observations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["fact"]["type"] == "identity")
        .map(|o| {
            (
                o["ip"].as_str().unwrap().to_string(),
                o["fact"]["identity"]["application_uri"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids,
        [
            (
                "192.168.224.105".into(),
                "urn:open62541.server.application".into()
            ),
            (
                "192.168.41.212".into(),
                "http://vm-xp-steven/UA StackTest Server (AnsiC/2048)".into()
            ),
            ("::1".into(), "urn:open62541.server.application".into()),
        ]
    );
    // The AnsiC server listens on 12001: the engine finds OPC UA from the payload (its
    // first bytes are buffered until the detector decides, so the result does not depend
    // on how TCP cut them) and reads the method calls as operations.
    let ops: Vec<String> = r["observations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["fact"]["type"] == "operation")
        .map(|o| format!("{} {}", o["ip"], o["fact"]["function"]))
        .collect();
    assert_eq!(ops, ["\"192.168.41.212\" \"opcua.call\""]);
}

// --- golden messages for the registry-wide framing test (tests/it/framing.rs) ----------

/// open62541_client-server_encrypted.pcap frame 5: the open62541 client's Hello.
pub const HEL: &str = "48454c46 38000000 00000000 ffff0000 ffff0000 00000000 00000000 18000000 6f70632e7463703a2f2f6c6f63616c686f73743a34383430";
/// Same capture, frame 7: the server's Acknowledge.
pub const ACK: &str = "41434b46 1c000000 00000000 ffff0000 ffff0000 00000000 00000000";
/// Same capture, frame 9: OpenSecureChannel request, policy None.
pub const OPN_REQ: &str = "4f504e46 84000000 00000000 2f000000 687474703a2f2f6f7063666f756e646174696f6e2e6f72672f55412f5365637572697479506f6c696379234e6f6e65 ffffffff ffffffff 01000000 01000000 0100be01 0000 1c170e64d1cfd501 00000000 00000000 ffffffff 00000000 000000 00000000 00000000 01000000 ffffffff c0270900";
/// Same capture, frame 13: GetEndpoints.
pub const GEP_REQ: &str = "4d534746 5d000000 01000000 01000000 02000000 02000000 0100ac01 0000 ec230e64d1cfd501 01000000 00000000 ffffffff 10270000 000000 18000000 6f70632e7463703a2f2f6c6f63616c686f73743a34383430 ffffffff ffffffff";
/// Same capture, frame 17: CloseSecureChannel.
pub const CLO: &str = "434c4f46 39000000 01000000 01000000 03000000 03000000 0100c401 0000 4c320e64d1cfd501 01000000 00000000 ffffffff 10270000 000000";
/// opc-ua-ap-method-wireshark-freeze.pcap frame 43: the AnsiC server's ERR.
pub const ERR: &str = "45525246 10000000 00000280 ffffffff";
