//! Running tshark over one capture and reading its `-T json -e FIELD` output.
//!
//! One tshark run per capture asks for every spec's fields at once, with a filter that
//! ORs the specs' filters: tshark's start-up (loading every dissector) costs more than
//! the dissection of a small capture.
//!
//! Nothing here touches the network: tshark reads the file, with name resolution off
//! (`-n`).

use std::path::Path;
use std::process::Command;

use super::ConformanceError;
pub use crate::protocols::conformance::Frame;
use crate::protocols::conformance::Spec;

/// `tshark --version`'s first line, or why tshark cannot be run.
pub fn version(tshark: &Path) -> Result<String, ConformanceError> {
    let out = Command::new(tshark)
        .arg("--version")
        .output()
        .map_err(|source| ConformanceError::TsharkMissing {
            tshark: tshark.display().to_string(),
            source,
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.lines().next().unwrap_or("").trim().to_string())
}

/// A port preference with the ports otscout found its protocol on (the defaults first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortPrefValue {
    pub name: &'static str,
    pub ports: Vec<u16>,
}

impl PortPrefValue {
    /// `mbtcp.tcp.port:502,5020`, the argument of `-o`.
    pub fn arg(&self) -> String {
        let ports: Vec<String> = self.ports.iter().map(u16::to_string).collect();
        format!("{}:{}", self.name, ports.join(","))
    }
}

/// The arguments of one run (without the `tshark` itself): kept apart so the table can
/// show what was run.
pub fn args(capture: &Path, specs: &[&Spec], ports: &[PortPrefValue]) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "-n".into(),
        "-r".into(),
        capture.display().to_string(),
        // Reassembly on, whatever the user's preferences say: the identities compared are
        // often split across segments; each spec adds its dissector's own preferences.
        "-o".into(),
        "tcp.desegment_tcp_streams:TRUE".into(),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for pref in specs.iter().flat_map(|s| s.prefs) {
        if seen.insert(*pref) {
            a.push("-o".into());
            a.push((*pref).into());
        }
    }
    for h in specs.iter().flat_map(|s| s.heuristics) {
        if seen.insert(*h) {
            a.push("--enable-heuristic".into());
            a.push((*h).into());
        }
    }
    for p in ports {
        a.push("-o".into());
        a.push(p.arg());
    }
    let filter: Vec<String> = specs
        .iter()
        .filter(|s| s.tree.is_empty())
        .map(|s| format!("({})", s.filter))
        .collect();
    a.push("-Y".into());
    a.push(filter.join(" || "));
    a.push("-T".into());
    a.push("json".into());
    for f in ["frame.number", "ip.src", "ipv6.src"].into_iter().chain(
        specs
            .iter()
            .filter(|s| s.tree.is_empty())
            .flat_map(|s| s.fields.iter().copied()),
    ) {
        a.push("-e".into());
        a.push(f.into());
    }
    a
}

/// The arguments of the second run, for the specs that read tshark's whole protocol tree
/// ([`Spec::tree`]): `None` when there are none. Some dissectors print a value only in a
/// tree label (`vendor-name: ISO 10646 UCS-2 'JCI'`), never as a field `-e` can name.
pub fn tree_args(capture: &Path, specs: &[&Spec]) -> Option<Vec<String>> {
    let tree: Vec<&&Spec> = specs.iter().filter(|s| !s.tree.is_empty()).collect();
    if tree.is_empty() {
        return None;
    }
    let filter: Vec<String> = tree.iter().map(|s| format!("({})", s.filter)).collect();
    let mut layers = vec!["frame", "ip", "ipv6"];
    for l in tree.iter().flat_map(|s| s.tree) {
        if !layers.contains(l) {
            layers.push(l);
        }
    }
    Some(vec![
        "-n".into(),
        "-r".into(),
        capture.display().to_string(),
        "-o".into(),
        "tcp.desegment_tcp_streams:TRUE".into(),
        "-Y".into(),
        filter.join(" || "),
        "-T".into(),
        "json".into(),
        "-J".into(),
        layers.join(" "),
    ])
}

/// What one tshark run gave.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub frames: Vec<Frame>,
    /// What tshark said about the file while still reading it (a capture cut short).
    pub warnings: Vec<String>,
}

/// Runs tshark and reads its frames.
///
/// A capture cut short in the middle of a packet (a capture stopped abruptly) makes
/// tshark exit 2 after it printed every whole frame; otscout imports such a file with a
/// warning, so the frames are compared and tshark's complaint is kept as a warning.
pub fn run(tshark: &Path, args: &[String]) -> Result<Run, ConformanceError> {
    run_with(tshark, args, parse)
}

/// [`run`] reading the whole tree ([`parse_tree`]).
pub fn run_tree(tshark: &Path, args: &[String]) -> Result<Run, ConformanceError> {
    run_with(tshark, args, parse_tree)
}

fn run_with(
    tshark: &Path,
    args: &[String],
    parse: fn(&[u8]) -> Result<Vec<Frame>, ConformanceError>,
) -> Result<Run, ConformanceError> {
    let out = Command::new(tshark).args(args).output().map_err(|source| {
        ConformanceError::TsharkMissing {
            tshark: tshark.display().to_string(),
            source,
        }
    })?;
    let err = String::from_utf8_lossy(&out.stderr);
    let err: Vec<&str> = err
        .lines()
        .filter(|l| !l.contains("Running as user") && !l.trim().is_empty())
        .collect();
    if out.status.success() {
        return Ok(Run {
            frames: parse(&out.stdout)?,
            warnings: Vec::new(),
        });
    }
    let cut_short = !err.is_empty() && err.iter().all(|l| l.contains("cut short"));
    match parse(&out.stdout) {
        Ok(frames) if cut_short => Ok(Run {
            frames,
            warnings: err.iter().map(|l| l.to_string()).collect(),
        }),
        _ => Err(ConformanceError::TsharkFailed {
            status: out.status.to_string(),
            stderr: err.join(" / "),
        }),
    }
}

/// tshark's `-T json -e` output: `[{"_source": {"layers": {"field": ["value", ..]}}}]`.
pub fn parse(json: &[u8]) -> Result<Vec<Frame>, ConformanceError> {
    if json.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let packets: Vec<serde_json::Value> =
        serde_json::from_slice(json).map_err(|e| ConformanceError::TsharkOutput {
            reason: e.to_string(),
        })?;
    let mut frames = Vec::with_capacity(packets.len());
    for p in packets {
        let Some(layers) = p.pointer("/_source/layers").and_then(|l| l.as_object()) else {
            return Err(ConformanceError::TsharkOutput {
                reason: "a packet without _source.layers".into(),
            });
        };
        let mut f = Frame::default();
        for (k, v) in layers {
            let values: Vec<String> = match v {
                serde_json::Value::Array(a) => a
                    .iter()
                    .map(|x| {
                        x.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| x.to_string())
                    })
                    .collect(),
                serde_json::Value::String(s) => vec![s.clone()],
                other => vec![other.to_string()],
            };
            f.layers.insert(k.clone(), values);
        }
        f.number = f
            .get("frame.number")
            .first()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| ConformanceError::TsharkOutput {
                reason: "a packet without frame.number".into(),
            })?;
        f.src = f
            .get("ip.src")
            .first()
            .or_else(|| f.get("ipv6.src").first())
            .and_then(|a| a.parse().ok());
        frames.push(f);
    }
    Ok(frames)
}

/// One node of tshark's `-T json` tree, in order and with repeated keys kept (a
/// `serde_json::Value` map keeps one value per key, and a BACnet ack repeats
/// `ObjectIdentifier: ...` labels).
#[derive(Debug)]
enum Node {
    Leaf(String),
    List(Vec<Node>),
    Obj(Vec<(String, Node)>),
}

impl<'de> serde::Deserialize<'de> for Node {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("tshark's json")
            }
            fn visit_str<E>(self, v: &str) -> Result<Node, E> {
                Ok(Node::Leaf(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
                Ok(Node::Leaf(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
                Ok(Node::Leaf(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
                Ok(Node::Leaf(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
                Ok(Node::Leaf(v.to_string()))
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Leaf(String::new()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
                let mut v = Vec::new();
                while let Some(n) = a.next_element()? {
                    v.push(n);
                }
                Ok(Node::List(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
                let mut v = Vec::new();
                while let Some((k, n)) = a.next_entry()? {
                    v.push((k, n));
                }
                Ok(Node::Obj(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// The pseudo-field under which [`parse_tree`] lists a frame's tree labels (`name: value`
/// keys whose value is a subtree), in tree order.
pub const LABEL: &str = "_label";

/// tshark's `-T json` (whole tree) output: every leaf field in tree order under its name,
/// and every subtree's label under [`LABEL`]; the frames are marked [`Frame::tree`].
pub fn parse_tree(json: &[u8]) -> Result<Vec<Frame>, ConformanceError> {
    if json.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let bad = |reason: String| ConformanceError::TsharkOutput { reason };
    let Node::List(packets) =
        serde_json::from_slice::<Node>(json).map_err(|e| bad(e.to_string()))?
    else {
        return Err(bad("not a list of packets".into()));
    };
    fn walk(n: &Node, f: &mut Frame) {
        match n {
            Node::Leaf(_) => {}
            Node::List(v) => v.iter().for_each(|c| walk(c, f)),
            Node::Obj(v) => {
                for (k, c) in v {
                    match c {
                        Node::Leaf(s) => f.layers.entry(k.clone()).or_default().push(s.clone()),
                        Node::List(items) => {
                            for i in items {
                                match i {
                                    Node::Leaf(s) => {
                                        f.layers.entry(k.clone()).or_default().push(s.clone())
                                    }
                                    other => walk(other, f),
                                }
                            }
                        }
                        Node::Obj(_) => {
                            if k.contains(": ") {
                                f.layers.entry(LABEL.into()).or_default().push(k.clone());
                            }
                            walk(c, f);
                        }
                    }
                }
            }
        }
    }
    let mut frames = Vec::with_capacity(packets.len());
    for p in &packets {
        let mut f = Frame {
            tree: true,
            ..Frame::default()
        };
        walk(p, &mut f);
        f.number = f
            .get("frame.number")
            .first()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| bad("a packet without frame.number".into()))?;
        f.src = f
            .get("ip.src")
            .first()
            .or_else(|| f.get("ipv6.src").first())
            .and_then(|a| a.parse().ok());
        frames.push(f);
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_json_tshark_prints_and_an_empty_run() {
        let json = br#"[{"_index":"packets","_source":{"layers":{
            "frame.number":["7"],"ip.src":["10.1.1.164"],"enip.lir.name":["1756-ENBT/A"]}}}]"#;
        let f = parse(json).unwrap();
        assert_eq!(f[0].number, 7);
        assert_eq!(f[0].src, Some("10.1.1.164".parse().unwrap()));
        assert_eq!(f[0].get("enip.lir.name"), ["1756-ENBT/A"]);
        assert!(parse(b"\n").unwrap().is_empty());
        assert!(parse(b"[{}]").is_err());
    }

    #[test]
    fn the_tree_keeps_repeated_labels_in_order() {
        let json = br#"[{"_source":{"layers":{"frame":{"frame.number":"4"},
            "ip":{"ip.src":"10.1.1.165"},
            "bacapp":{"ObjectIdentifier: device, 4194303":{"bacapp.instance_number":"4194303"},
            "Property Identifier: object-identifier (75)":{"bacapp.property_identifier":"75"},
            "ObjectIdentifier: device, 500":{"bacapp.instance_number":"500"}}}}}]"#;
        let f = &parse_tree(json).unwrap()[0];
        assert!(f.tree);
        assert_eq!(f.number, 4);
        assert_eq!(f.get("bacapp.instance_number"), ["4194303", "500"]);
        assert_eq!(
            f.get(LABEL),
            [
                "ObjectIdentifier: device, 4194303",
                "Property Identifier: object-identifier (75)",
                "ObjectIdentifier: device, 500"
            ]
        );
    }
}
