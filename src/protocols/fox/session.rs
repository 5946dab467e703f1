//! The Fox probe session: the minimal hello over TCP 1911 and the station's hello back,
//! as a sans-IO state machine. Nothing is sent after the hello: the station's login
//! challenge that follows is never answered; the driver closes with FIN.
//!
//! Local [`Step`] and [`Outcome`] types, mapped to the session contract as in
//! [`crate::protocols::fins::session`]. [`FoxTlsSession`] is not used by the scan (TLS
//! Fox is never opened; see SAFETY.md).
//!
//! # Outcomes
//! | what happened | outcome |
//! |---|---|
//! | the station's hello naming anything | [`Outcome::Identified`] |
//! | a hello naming nothing | [`Outcome::NoIdentity`] |
//! | another Fox message first (a `fatal` field, a refusal) | [`Outcome::Negative`] |
//! | nothing before the response timeout | [`Outcome::NoAnswer`] `Timeout` |
//! | refused / reset / closed first | [`Outcome::NoAnswer`] |
//! | bytes that are not Fox | [`Outcome::Suspicious`] |

use std::time::{Duration, Instant};

use super::identity::{FoxIdentity, to_identity};
use super::safe::Safe;
use crate::inventory::NoAnswerKind;
use crate::probe::ConnectionLoss;
use crate::wire::fox::{self, Message};

/// What the session wants done next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Send(Safe),
    Wait,
    Done,
}

/// One thing the session learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Identified(Box<FoxIdentity>),
    NoIdentity,
    Negative(String),
    NoAnswer(NoAnswerKind),
    Suspicious(String),
}

/// An outcome with the bytes behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub outcome: Outcome,
    pub raw: Option<Vec<u8>>,
    pub request: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoxSessionConfig {
    pub port: u16,
    pub response_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Await { deadline: Instant },
    Done,
}

/// The Fox session (see the module docs).
#[derive(Debug)]
pub struct FoxSession {
    cfg: FoxSessionConfig,
    state: State,
    buf: Vec<u8>,
    findings: Vec<Finding>,
}

impl FoxSession {
    pub fn new(cfg: FoxSessionConfig) -> Self {
        FoxSession {
            cfg,
            state: State::Idle,
            buf: Vec::new(),
            findings: Vec::new(),
        }
    }

    pub fn port(&self) -> u16 {
        self.cfg.port
    }

    fn finish(&mut self, outcome: Outcome, raw: Option<&[u8]>) -> Step {
        self.findings.push(Finding {
            outcome,
            raw: raw.map(<[u8]>::to_vec),
            request: Safe::MinimalHello.kind(),
        });
        self.state = State::Done;
        self.buf.clear();
        Step::Done
    }

    pub fn on_connected(&mut self, now: Instant) -> Step {
        match self.state {
            State::Idle => {
                self.state = State::Await {
                    deadline: now + self.cfg.response_timeout,
                };
                Step::Send(Safe::MinimalHello)
            }
            State::Await { .. } => Step::Wait,
            State::Done => Step::Done,
        }
    }

    pub fn on_bytes(&mut self, _now: Instant, bytes: &[u8]) -> Step {
        if self.state == State::Done {
            return Step::Done;
        }
        self.buf.extend_from_slice(bytes);
        let n = match fox::frame_len(&self.buf) {
            Ok(None) => return Step::Wait,
            Ok(Some(n)) => n,
            Err(e) => {
                let raw = std::mem::take(&mut self.buf);
                let keep = &raw[..raw.len().min(512)];
                return self.finish(
                    Outcome::Suspicious(format!("not a fox message: {e}")),
                    Some(keep),
                );
            }
        };
        // `Some(n)` only when n bytes are held, n at most MAX_MESSAGE_LEN.
        let raw: Vec<u8> = self.buf.drain(..n).collect();
        let m = match Message::decode_exact(&raw) {
            Ok(m) => m,
            Err(e) => {
                return self.finish(
                    Outcome::Suspicious(format!("undecodable fox message: {e}")),
                    Some(&raw),
                );
            }
        };
        if m.is_station_hello() {
            return match to_identity(&m) {
                Some(id) => self.finish(Outcome::Identified(Box::new(id)), Some(&raw)),
                None => self.finish(Outcome::NoIdentity, Some(&raw)),
            };
        }
        let h = &m.header;
        let mut answer = format!(
            "fox {} {} {} {} {}",
            h.kind, h.number, h.reply_to, h.channel, h.command
        );
        if let Some(f) = m.str("fatal") {
            answer.push_str(&format!(": {f}"));
        }
        self.finish(Outcome::Negative(answer), Some(&raw))
    }

    pub fn on_timeout(&mut self, now: Instant) -> Step {
        match self.state {
            State::Await { deadline } if now >= deadline => {
                self.finish(Outcome::NoAnswer(NoAnswerKind::Timeout), None)
            }
            State::Done => Step::Done,
            _ => Step::Wait,
        }
    }

    pub fn on_connection_lost(&mut self, _now: Instant, why: ConnectionLoss) -> Step {
        if self.state == State::Done {
            return Step::Done;
        }
        let kind = match why {
            ConnectionLoss::Refused => NoAnswerKind::Refused,
            ConnectionLoss::ConnectTimeout => NoAnswerKind::Timeout,
            ConnectionLoss::Reset => NoAnswerKind::Reset,
            ConnectionLoss::Closed => NoAnswerKind::NotThisProtocol,
        };
        self.finish(Outcome::NoAnswer(kind), None)
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Await { deadline } => Some(deadline),
            _ => None,
        }
    }

    pub fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.findings)
    }
}

/// Fox over TLS (port 4911): the connection is the finding. Nothing is sent: no TLS
/// ClientHello, no Fox; the driver closes with FIN as soon as the connection is up.
#[derive(Debug)]
pub struct FoxTlsSession {
    port: u16,
    outcome: Option<Outcome>,
}

/// What [`FoxTlsSession`] records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsOutcome {
    /// The port accepted a TCP connection: a TLS Fox service is (probably) there.
    Service {
        port: u16,
    },
    NoAnswer(NoAnswerKind),
}

impl FoxTlsSession {
    pub fn new(port: u16) -> Self {
        FoxTlsSession {
            port,
            outcome: None,
        }
    }

    /// Connected: done at once, with the service recorded.
    pub fn on_connected(&mut self, _now: Instant) -> Step {
        Step::Done
    }

    pub fn on_connection_lost(&mut self, _now: Instant, why: ConnectionLoss) -> Step {
        let kind = match why {
            ConnectionLoss::Refused => NoAnswerKind::Refused,
            ConnectionLoss::ConnectTimeout => NoAnswerKind::Timeout,
            ConnectionLoss::Reset => NoAnswerKind::Reset,
            ConnectionLoss::Closed => NoAnswerKind::NotThisProtocol,
        };
        self.outcome = Some(Outcome::NoAnswer(kind));
        Step::Done
    }

    /// The finding: the service when the connection came up, else why not.
    pub fn outcome(&self) -> TlsOutcome {
        match &self.outcome {
            Some(Outcome::NoAnswer(k)) => TlsOutcome::NoAnswer(*k),
            _ => TlsOutcome::Service { port: self.port },
        }
    }
}

/// Builds the session from the profile's `[fox]` section and response timeout.
impl FoxSessionConfig {
    pub fn from_profile(p: &crate::profile::Profile, port: u16) -> Self {
        FoxSessionConfig {
            port,
            response_timeout: Duration::from_millis(p.pacing.response_timeout_ms),
        }
    }
}

fn step(s: Step) -> crate::protocols::session::Step {
    use crate::protocols::session::Step as S;
    match s {
        Step::Send(r) => S::Send(crate::safety::SafeRequest::Fox(r)),
        Step::Wait => S::Wait,
        Step::Done => S::Done,
    }
}

impl crate::protocols::session::Session for FoxSession {
    fn protocol(&self) -> crate::inventory::Protocol {
        crate::inventory::Protocol::Fox
    }

    fn on_connected(&mut self, now: Instant) -> crate::protocols::session::Step {
        step(FoxSession::on_connected(self, now))
    }

    fn on_bytes(&mut self, now: Instant, bytes: &[u8]) -> crate::protocols::session::Step {
        step(FoxSession::on_bytes(self, now, bytes))
    }

    fn on_timeout(&mut self, now: Instant) -> crate::protocols::session::Step {
        step(FoxSession::on_timeout(self, now))
    }

    fn on_connection_lost(
        &mut self,
        now: Instant,
        why: ConnectionLoss,
    ) -> crate::protocols::session::Step {
        step(FoxSession::on_connection_lost(self, now, why))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        FoxSession::poll_timeout(self)
    }

    fn take_findings(&mut self) -> Vec<crate::protocols::session::Finding> {
        use crate::inventory::{Fact, Identity, Protocol};
        let port = self.cfg.port;
        FoxSession::take_findings(self)
            .into_iter()
            .map(|f| {
                let fact = match f.outcome {
                    Outcome::Identified(id) => Fact::Identity {
                        identity: Identity::Fox(id),
                    },
                    Outcome::NoIdentity => Fact::NoIdentity {
                        protocol: Protocol::Fox,
                        port,
                        answer: "station hello naming nothing".into(),
                    },
                    Outcome::Negative(answer) => Fact::Negative {
                        protocol: Protocol::Fox,
                        port,
                        answer,
                    },
                    Outcome::NoAnswer(outcome) => Fact::NoAnswer {
                        protocol: Protocol::Fox,
                        port,
                        outcome,
                    },
                    Outcome::Suspicious(reason) => Fact::Suspicious {
                        protocol: Protocol::Fox,
                        port,
                        reason,
                    },
                };
                crate::protocols::session::Finding {
                    fact,
                    raw: f.raw,
                    request: f.request,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `fox_info.pcap` frame 6 then the start of frame 9 (the challenge that follows).
    const STATION: &[u8] = b"fox a 0 -1 fox hello\n{\n\
fox.version=s:1.0\nid=i:2\nhostName=s:192.168.2.15\nhostAddress=s:192.168.2.15\n\
app.name=s:Station\napp.version=s:3.5.41.1\nvm.name=s:J9\nvm.version=s:2.3\n\
os.name=s:QNX\nos.version=s:6.3.2\nstation.name=s:Legion_HQ_V4\nlang=s:en\n\
timeZone=s:Australia/Perth;28800000;0;null;null\nhostId=s:Qnx-NPM6-0000-1490-C30C\n\
vmUuid=s:11e4d864-cd0e-664a-0000-00000000b83b\nbrandId=s:vykon\n\
sysInfo=o:bog 61[<bog version=\"1.0\">\n<p m=\"b=baja\" t=\"b:Facets\" v=\"\"/>\n</bog>\n]\n};;\n\
fox a 1 -1 fox challenge\n{\n";

    fn cfg() -> FoxSessionConfig {
        FoxSessionConfig {
            port: 1911,
            response_timeout: Duration::from_secs(3),
        }
    }

    #[test]
    fn the_station_hello_in_any_chunking_identifies_the_jace() {
        for chunk in [1, 7, 100, STATION.len()] {
            let t0 = Instant::now();
            let mut s = FoxSession::new(cfg());
            assert_eq!(s.on_connected(t0), Step::Send(Safe::MinimalHello));
            let mut last = Step::Wait;
            for c in STATION.chunks(chunk) {
                last = s.on_bytes(t0, c);
                if last == Step::Done {
                    break;
                }
            }
            assert_eq!(last, Step::Done, "chunk {chunk}");
            let f = s.take_findings();
            let Outcome::Identified(id) = &f[0].outcome else {
                panic!("{f:?}")
            };
            assert_eq!(id.station_name.as_deref(), Some("Legion_HQ_V4"));
            assert_eq!(f[0].raw.as_ref().unwrap().len(), 469);
            // Nothing more is sent: the challenge is never answered.
            assert_eq!(s.on_bytes(t0, b"x"), Step::Done);
        }
    }

    #[test]
    fn tls_fox_is_a_service_and_nothing_is_sent() {
        let t0 = Instant::now();
        let mut s = FoxTlsSession::new(4911);
        assert_eq!(s.on_connected(t0), Step::Done);
        assert_eq!(s.outcome(), TlsOutcome::Service { port: 4911 });
        let mut s = FoxTlsSession::new(4911);
        assert_eq!(
            s.on_connection_lost(t0, ConnectionLoss::Refused),
            Step::Done
        );
        assert_eq!(s.outcome(), TlsOutcome::NoAnswer(NoAnswerKind::Refused));
    }

    #[test]
    fn refusals_silence_and_foreign_bytes() {
        let t0 = Instant::now();
        let mut s = FoxSession::new(cfg());
        s.on_connected(t0);
        assert_eq!(
            s.on_bytes(t0, b"fox a 0 -1 fox close\n{\nfatal=s:unsupported\n};;\n"),
            Step::Done
        );
        assert_eq!(
            s.take_findings()[0].outcome,
            Outcome::Negative("fox a 0 -1 fox close: unsupported".into())
        );
        let mut s = FoxSession::new(cfg());
        s.on_connected(t0);
        assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(3)));
        assert_eq!(s.on_timeout(t0 + Duration::from_secs(3)), Step::Done);
        assert_eq!(
            s.take_findings()[0].outcome,
            Outcome::NoAnswer(NoAnswerKind::Timeout)
        );
        let mut s = FoxSession::new(cfg());
        s.on_connected(t0);
        assert_eq!(s.on_bytes(t0, b"SSH-2.0-OpenSSH\r\n"), Step::Done);
        assert!(matches!(
            s.take_findings()[0].outcome,
            Outcome::Suspicious(_)
        ));
        let mut s = FoxSession::new(cfg());
        s.on_connected(t0);
        assert_eq!(s.on_connection_lost(t0, ConnectionLoss::Closed), Step::Done);
        assert_eq!(
            s.take_findings()[0].outcome,
            Outcome::NoAnswer(NoAnswerKind::NotThisProtocol)
        );
    }
}
