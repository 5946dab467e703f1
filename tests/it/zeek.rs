//! Zeek/ICSNPP logs read through the protocol registry (issue 13): the BACnet and OPC UA
//! logs, a log and a capture of one exchange giving the same identity, and arbitrary
//! lines never panicking the reader.
//!
//! The fixtures under `tests/fixtures/zeek/` are written by hand in ICSNPP's documented
//! format (cisagov/icsnpp-bacnet README "Logging Capabilities"; cisagov/icsnpp-opcua-binary
//! `scripts/types.zeek` and `scripts/get-endpoints-types.zeek`), with made-up devices.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use otscout::inventory::{
    BacnetIdentity, Fact, Identity, OperationKind, Protocol, Provenance, Transport,
};
use otscout::passive::{self, ImportOptions, ImportReport, InputKind};
use proptest::prelude::*;

use crate::support::captures_dir;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/zeek")
        .join(name)
}

fn import_path(path: &Path) -> ImportReport {
    passive::import_path(path, &ImportOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e:#}", path.display()))
}

fn import_text(name: &str, text: &str) -> ImportReport {
    passive::import_bytes(name, text.as_bytes(), &ImportOptions::default())
        .unwrap_or_else(|e| panic!("{name}: {e:#}"))
}

fn identities(r: &ImportReport) -> Vec<(IpAddr, Identity)> {
    r.observations
        .iter()
        .filter_map(|o| match &o.fact {
            Fact::Identity { identity } => Some((o.ip, identity.clone())),
            _ => None,
        })
        .collect()
}

fn operations(r: &ImportReport) -> BTreeSet<(IpAddr, IpAddr, String, OperationKind, u64)> {
    r.observations
        .iter()
        .filter_map(|o| match &o.fact {
            Fact::Operation {
                actor,
                kind,
                function,
                count,
                ..
            } => Some((o.ip, *actor, function.clone(), *kind, *count)),
            _ => None,
        })
        .collect()
}

fn subjects(r: &ImportReport) -> BTreeSet<IpAddr> {
    r.observations.iter().map(|o| o.ip).collect()
}

#[test]
fn zeek_bacnet_discovery_names_devices_and_never_an_echo_or_a_client() {
    let r = import_path(&fixture("bacnet_discovery.log"));
    assert_eq!(r.kind, InputKind::Zeek);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(r.stats.skipped_lines, 0, "{:?}", r.notes);
    let ids = identities(&r);
    let want = |instance, vendor: &str| {
        Identity::Bacnet(BacnetIdentity {
            instance: Some(instance),
            vendor_name: Some(vendor.into()),
            ..BacnetIdentity::default()
        })
    };
    assert_eq!(
        ids,
        vec![
            (ip("192.168.10.21"), want(2101, "Acme Controls")),
            // Sent against the connection's direction: the responder is the device.
            (
                ip("192.168.10.22"),
                want(3001, "Northwind Building Systems")
            ),
        ]
    );
    // The broadcast echo and the client's wildcard I-Am name no device.
    assert!(!subjects(&r).contains(&ip("192.168.10.255")));
    assert!(!ids.iter().any(|(a, _)| *a == ip("192.168.10.50")));
    let first = r
        .observations
        .iter()
        .find(|o| o.ip == ip("192.168.10.21"))
        .unwrap();
    assert!(
        matches!(&first.provenance, Provenance::Zeek { log, line: 10, .. } if log == "bacnet_discovery"),
        "{:?}",
        first.provenance
    );
}

#[test]
fn zeek_bacnet_property_acks_fold_into_the_device_identity() {
    let r = import_path(&fixture("bacnet_property.log"));
    let ids = identities(&r);
    assert_eq!(ids.len(), 1, "{ids:#?}");
    assert_eq!(ids[0].0, ip("192.168.10.21"));
    assert_eq!(
        ids[0].1,
        Identity::Bacnet(BacnetIdentity {
            instance: Some(2101),
            vendor_name: Some("Acme Controls Inc.".into()),
            vendor_id: Some(260),
            model_name: Some("AC-1000".into()),
            firmware_revision: Some("4.2.1".into()),
            application_software_version: Some(String::new()),
            ..BacnetIdentity::default()
        })
    );
    // The write request is bacnet.log's to count; a vendor id that is not a number is
    // reported with its line, never made a number.
    assert!(operations(&r).is_empty());
    assert_eq!(r.stats.bad_values, 1);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("line 19") && w.contains("\"lots\"") && w.contains("row skipped")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn zeek_bacnet_log_gives_writes_and_control_as_the_capture_names_them() {
    let r = import_path(&fixture("bacnet.log"));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let client = ip("192.168.10.50");
    assert_eq!(
        operations(&r),
        BTreeSet::from([
            (
                ip("192.168.10.21"),
                client,
                "bacnet.write_property".to_string(),
                OperationKind::Write,
                1
            ),
            (
                ip("192.168.10.22"),
                client,
                "bacnet.reinitialize_device".to_string(),
                OperationKind::Control,
                1
            ),
        ])
    );
    assert!(identities(&r).is_empty());
    assert!(!subjects(&r).contains(&ip("192.168.10.255")));
}

#[test]
fn zeek_opcua_logs_give_the_application_its_endpoints_and_operations() {
    let server = ip("10.40.0.10");
    let r = import_path(&fixture("opcua-binary-get-endpoints-description.log"));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let ids = identities(&r);
    assert_eq!(ids.len(), 1, "{ids:#?}");
    let (who, Identity::Opcua(id)) = &ids[0] else {
        panic!("{ids:?}")
    };
    assert_eq!(*who, server);
    assert_eq!(
        id.application_uri.as_deref(),
        Some("urn:example:plant:opcua-gateway")
    );
    assert_eq!(id.product_uri.as_deref(), Some("urn:example:gateway"));
    assert_eq!(id.application_name.as_deref(), Some("Plant Gateway"));
    assert_eq!(id.application_type, "server");
    let eps: Vec<(&str, &str, u8)> = id
        .endpoints
        .iter()
        .map(|e| {
            (
                e.security_mode.as_str(),
                e.security_policy.as_str(),
                e.security_level,
            )
        })
        .collect();
    assert_eq!(
        eps,
        [
            ("none", "None", 1),
            ("sign_and_encrypt", "Basic256Sha256", 3)
        ]
    );
    assert_eq!(
        id.endpoints[0].url.as_deref(),
        Some("opc.tcp://10.40.0.10:4840")
    );

    let r = import_path(&fixture("opcua-binary.log"));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert!(r.observations.iter().any(|o| o.ip == server
        && o.fact
            == Fact::Service {
                transport: Transport::Tcp,
                port: 4840,
                protocol: Protocol::Opcua
            }));
    let client = ip("10.40.0.5");
    assert_eq!(
        operations(&r),
        BTreeSet::from([
            (
                server,
                client,
                "opcua.call".to_string(),
                OperationKind::Control,
                1
            ),
            (
                server,
                client,
                "opcua.write".to_string(),
                OperationKind::Write,
                2
            ),
        ])
    );
}

/// A ICSNPP row of `modbus_read_device_identification.log` per object, as the plugin
/// writes them for a Read Device Identification answer.
fn modbus_devid_log(
    client: &str,
    server: &str,
    unit: u8,
    level: u8,
    objects: &[(u8, &str)],
) -> String {
    let mut t = "#separator \\x09\n#path\tmodbus_read_device_identification\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tis_orig\tsource_h\tsource_p\tdestination_h\tdestination_p\ttid\tunit\tfunc\trequest_response\tmei_type\tconformity_level_code\tconformity_level\tdevice_id_code\tobject_id_code\tobject_id\tobject_value\n".to_string();
    for (i, (id, value)) in objects.iter().enumerate() {
        t.push_str(&format!(
            "1700000000.{i}\tC1\t{client}\t40000\t{server}\t502\tF\t{server}\t502\t{client}\t40000\t{i}\t{unit}\tENCAP_INTERFACE_TRANSPORT\tRESPONSE\tREAD-DEVICE-IDENTIFICATION\t{level:#04x}\tRegular\t1\t{id:#04x}\t-\t{value}\n"
        ));
    }
    t
}

/// `otscout passive` of a capture and of the Zeek log of the same exchange give the same
/// identity: the pymodbus server's Read Device Identification answers
/// (pymodbus-client-vs-pymodbus.pcap) and the JCI NAE's ReadProperty acks
/// (bacnet_test.pcap, asked on the wildcard instance: the real one, 500, is the value of
/// `object-identifier`). The log rows carry the values the capture's answers carry.
#[test]
fn zeek_log_and_capture_of_one_exchange_give_the_same_identity() {
    let Some(dir) = captures_dir("zeek_log_and_capture_of_one_exchange_give_the_same_identity")
    else {
        return;
    };
    let pcap = import_path(&dir.join("pymodbus-client-vs-pymodbus.pcap"));
    let from_pcap = identities(&pcap);
    assert_eq!(from_pcap.len(), 1, "{from_pcap:#?}");
    let Identity::Modbus(m) = &from_pcap[0].1 else {
        panic!("{from_pcap:?}")
    };
    let objects: Vec<(u8, &str)> = m.objects.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(objects.len(), 10, "{objects:?}");
    let log = modbus_devid_log(
        "127.0.0.1",
        "127.0.0.2",
        m.unit_id,
        m.conformity_level.unwrap(),
        &objects,
    );
    let zeek = import_text("modbus_read_device_identification.log", &log);
    assert!(zeek.warnings.is_empty(), "{:?}", zeek.warnings);
    assert_eq!(identities(&zeek), from_pcap);

    let pcap = import_path(&dir.join("bacnet_test.pcap"));
    let from_pcap = identities(&pcap);
    assert_eq!(from_pcap.len(), 1, "{from_pcap:#?}");
    let nae = "10.1.1.165";
    let mut log = "#separator \\x09\n#empty_field\t(empty)\n#unset_field\t-\n#path\tbacnet_property\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tis_orig\tsource_h\tsource_p\tdestination_h\tdestination_p\tinvoke_id\tpdu_service\tobject_type\tinstance_number\tproperty\tarray_index\tvalue\n".to_string();
    for (i, (property, value)) in [
        ("object-identifier", "device: 500"),
        ("object-name", "KBRNAE"),
        ("vendor-name", "JCI"),
        ("vendor-identifier", "5"),
        ("model-name", "MS-NAE4510-2"),
        ("firmware-revision", "5.1.0.4400"),
        ("application-software-version", "(empty)"),
        ("description", "(empty)"),
        ("location", "(empty)"),
    ]
    .into_iter()
    .enumerate()
    {
        log.push_str(&format!(
            "1700000000.{i}\tC1\t10.1.1.200\t47808\t{nae}\t47808\tF\t{nae}\t47808\t10.1.1.200\t47808\t{i}\tread-property-ack\tdevice\t4194303\t{property}\t-\t{value}\n"
        ));
    }
    let zeek = import_text("bacnet_property.log", &log);
    assert!(zeek.warnings.is_empty(), "{:?}", zeek.warnings);
    assert_eq!(identities(&zeek), from_pcap);
}

/// A file holding two logs (JSON lines with their own `_path`) folds through one
/// collector: a Modbus write to a server that only a conn.log line of the same file shows
/// answering is kept, one to a server never shown answering is left out and said, and
/// each observation names the log of its own row.
#[test]
fn zeek_operations_need_the_server_shown_answering_anywhere_in_the_file() {
    let text = concat!(
        r#"{"_path":"modbus_detailed","ts":1700000001.0,"uid":"C1","id.orig_h":"10.9.0.5","id.orig_p":50000,"id.resp_h":"10.9.0.10","id.resp_p":502,"unit":1,"func":"WRITE_SINGLE_REGISTER","matched":false}"#,
        "\n",
        r#"{"_path":"conn","ts":1700000002.0,"uid":"C1","id.orig_h":"10.9.0.5","id.orig_p":50000,"id.resp_h":"10.9.0.10","id.resp_p":502,"proto":"tcp","service":"modbus","conn_state":"SF"}"#,
        "\n",
        r#"{"_path":"modbus_detailed","ts":1700000003.0,"uid":"C2","id.orig_h":"10.9.0.5","id.orig_p":50001,"id.resp_h":"10.9.0.11","id.resp_p":502,"unit":1,"func":"WRITE_SINGLE_COIL","matched":false}"#,
        "\n",
    );
    let r = import_text("ics.log", text);
    let ops = operations(&r);
    assert_eq!(
        ops,
        BTreeSet::from([(
            ip("10.9.0.10"),
            ip("10.9.0.5"),
            "modbus.write_single_register".to_string(),
            OperationKind::Write,
            1
        )])
    );
    let op = r
        .observations
        .iter()
        .find(|o| matches!(o.fact, Fact::Operation { .. }))
        .unwrap();
    // Provenance names the log of the row, in a file holding two logs.
    assert!(
        matches!(&op.provenance, Provenance::Zeek { log, line: 1, .. } if log == "modbus_detailed"),
        "{:?}",
        op.provenance
    );
    let service = r
        .observations
        .iter()
        .find(|o| matches!(o.fact, Fact::Service { .. }))
        .unwrap();
    assert!(
        matches!(&service.provenance, Provenance::Zeek { log, line: 2, .. } if log == "conn"),
        "{:?}",
        service.provenance
    );
    assert!(
        r.notes.iter().any(|n| n.contains("1 kinds of operations")),
        "{:?}",
        r.notes
    );
}

/// Header lines the importer knows, and field values of every shape, for the property
/// test below.
fn zeek_line() -> impl Strategy<Value = String> {
    let logs = prop::sample::select(vec![
        "conn",
        "modbus_detailed",
        "modbus_read_device_identification",
        "s7comm",
        "s7comm_known_devices",
        "cotp",
        "s7comm_plus",
        "cip",
        "cip_identity",
        "enip",
        "bacnet",
        "bacnet_discovery",
        "bacnet_property",
        "opcua-binary",
        "opcua-binary-get-endpoints",
        "opcua-binary-get-endpoints-description",
        "dns",
    ]);
    let value = prop_oneof![
        Just("-".to_string()),
        Just("(empty)".to_string()),
        Just("10.0.0.1".to_string()),
        Just("10.0.0.255".to_string()),
        Just("T".to_string()),
        Just("F".to_string()),
        Just("0xffffffffffffffff".to_string()),
        Just("device: 4194303".to_string()),
        Just("4194303".to_string()),
        "[0-9]{1,25}",
        "0x[0-9a-f]{1,12}",
        "[a-z_-]{0,20}",
        ".{0,40}",
    ];
    prop_oneof![
        logs.prop_map(|l| format!("#path\t{l}")),
        Just("#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tis_orig\tsource_h\tproto\tconn_state\tservice\tfunc\tunit\tuint\tobject_id\tobject_value\tmatched\trosctr_code\tfunction_code\tdirection\tcip_service_code\tclass_id\trevision\tvendor_id\tdevice_type_id\tproduct_code\tdevice_status\tserial_number\tproduct_name\tpdu_service\tobject_type\tinstance_number\tproperty\tvalue\tvendor\tmsg_type\tidentifier\tapplication_uri\tsecurity_policy_uri\tmessage_security_mode\tsecurity_level\tapplication_type".to_string()),
        Just("#separator \\x2c".to_string()),
        Just("#separator \\x09".to_string()),
        prop::collection::vec(value, 0..48).prop_map(|v| v.join("\t")),
        ".{0,200}".prop_map(|s| format!("{{\"_path\":\"cip_identity\",{s}")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Arbitrary lines, in any order, under any header: the reader reports, never panics.
    #[test]
    fn zeek_arbitrary_lines_never_panic(lines in prop::collection::vec(zeek_line(), 0..40)) {
        let text = lines.join("\n");
        let _ = passive::import_bytes("x.log", text.as_bytes(), &ImportOptions {
            kind: Some(InputKind::Zeek),
            ..ImportOptions::default()
        });
    }
}
