//! Fox hellos in captured traffic: the station's hello, paired with the client's hello
//! that came before it on the same connection, is the station's identity. The client's
//! hello describes the workstation and is never an identity of the station.
//!
//! Functions over one TCP connection's two reassembled directions; the engine's hook is
//! phase 2 of issue 17.

use super::identity::{FoxIdentity, to_identity};
use crate::wire::fox::{self, Message};

/// Bytes held per direction while waiting for a whole message: one message at most.
pub const MAX_BUFFER: usize = fox::MAX_MESSAGE_LEN;

/// Which side sent the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// The side that opened the connection (the Workbench or scanner).
    Client,
    /// The station.
    Server,
}

/// One Fox connection.
#[derive(Debug, Default)]
pub struct Analyzer {
    client: Vec<u8>,
    server: Vec<u8>,
    client_hello: bool,
    /// Set when a direction stopped being Fox: nothing more is read from it.
    broken: [bool; 2],
}

impl Analyzer {
    pub fn new() -> Self {
        Analyzer::default()
    }

    /// In-order bytes of one direction; returns the station's identity when its hello
    /// completes after the client's.
    pub fn on_bytes(&mut self, dir: Dir, bytes: &[u8]) -> Vec<FoxIdentity> {
        let i = dir as usize;
        if self.broken[i] {
            return Vec::new();
        }
        let buf = match dir {
            Dir::Client => &mut self.client,
            Dir::Server => &mut self.server,
        };
        buf.extend_from_slice(bytes);
        let mut msgs = Vec::new();
        loop {
            match fox::frame_len(buf) {
                Ok(Some(n)) => {
                    // `Some(n)` only when n bytes are held.
                    let raw: Vec<u8> = buf.drain(..n).collect();
                    if let Ok(m) = Message::decode_exact(&raw) {
                        msgs.push(m);
                    }
                }
                Ok(None) if buf.len() <= MAX_BUFFER => break,
                _ => {
                    buf.clear();
                    self.broken[i] = true;
                    break;
                }
            }
        }
        let mut out = Vec::new();
        for m in msgs {
            match dir {
                Dir::Client if m.is_hello() && !m.is_station_hello() => self.client_hello = true,
                Dir::Server if self.client_hello => out.extend(to_identity(&m)),
                _ => {}
            }
        }
        out
    }
}

/// The Fox analyzer as the passive engine runs it (one per TCP flow): the station's
/// hello, after the client's, as the identity of its IP source.
#[derive(Debug, Default)]
pub struct EngineAnalyzer {
    inner: Analyzer,
}

impl crate::protocols::analyzer::Analyzer for EngineAnalyzer {
    fn on_frame(&mut self, frame: &[u8], ctx: &mut crate::protocols::analyzer::Ctx<'_>) {
        use crate::inventory::{Identity, Protocol};
        use crate::protocols::analyzer::Dir as EngineDir;
        let dir = match ctx.dir {
            EngineDir::ToServer => Dir::Client,
            EngineDir::ToClient => Dir::Server,
            EngineDir::Unknown => return,
        };
        let (client, server, at) = (ctx.client, ctx.server, ctx.at);
        ctx.col.peer(client, server, Protocol::Fox, at);
        if let Err(e) = Message::decode_exact(frame) {
            return ctx.undecoded(Protocol::Fox, "fox message", frame, &e);
        }
        for id in self.inner.on_bytes(dir, frame) {
            let key = format!(
                "fox:{}",
                id.station_name
                    .as_deref()
                    .or(id.host_id.as_deref())
                    .unwrap_or("station")
            );
            let src = ctx.src;
            ctx.col
                .identity(src, key, Identity::Fox(Box::new(id)), frame, at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATION: &[u8] = b"fox a 0 -1 fox hello\n{\nfox.version=s:1.0\nid=i:2\n\
app.name=s:Station\napp.version=s:3.5.41.1\nstation.name=s:Legion_HQ_V4\nbrandId=s:vykon\n};;\n";
    /// `fox_info.pcap` frame 4's first lines: the Workbench's hello.
    const WORKBENCH: &[u8] = b"fox a 1 -1 fox hello\n{\nfox.version=s:1.0\nid=i:1\n\
hostName=s:xpvm-0omdc01xmy\napp.name=s:Workbench\napp.version=s:3.7.44\n};;\n";

    #[test]
    fn the_station_hello_after_the_clients_is_the_identity() {
        let mut a = Analyzer::new();
        assert!(a.on_bytes(Dir::Client, WORKBENCH).is_empty());
        let (x, y) = STATION.split_at(30);
        assert!(a.on_bytes(Dir::Server, x).is_empty());
        let ids = a.on_bytes(Dir::Server, y);
        assert_eq!(ids.len(), 1);
        assert_eq!(ids[0].app_name.as_deref(), Some("Station"));
    }

    #[test]
    fn the_workbench_hello_is_never_the_stations_identity() {
        let mut a = Analyzer::new();
        // The client's hello arriving on the server side (a mislabelled flow) names no one.
        assert!(a.on_bytes(Dir::Server, WORKBENCH).is_empty());
        // A station hello without a client hello before it is unpaired.
        let mut a = Analyzer::new();
        assert!(a.on_bytes(Dir::Server, STATION).is_empty());
    }

    #[test]
    fn a_direction_that_is_not_fox_is_dropped() {
        let mut a = Analyzer::new();
        a.on_bytes(Dir::Client, WORKBENCH);
        assert!(a.on_bytes(Dir::Server, b"HTTP/1.1 200 OK\r\n").is_empty());
        assert!(a.on_bytes(Dir::Server, STATION).is_empty());
    }
}
