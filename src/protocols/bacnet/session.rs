//! The BACnet/IP probe of one device as a sans-IO state machine (UDP unicast to 47808).
//!
//! It never touches a socket or a clock: the driver passes `now` and each datagram that
//! arrived from the device, and carries out the [`Step`]s (every [`Step::Send`] goes through
//! [`super::safe::emit`]). One confirmed request is in flight at a time; a reply counts only
//! when its invoke id is the request's (20.1.2.3), and a datagram that answers something
//! else is ignored and kept in [`BacnetSession::anomalies`] (UDP: a late reply to an earlier
//! request is normal, not an attack).
//!
//! # The exchange
//! 1. ReadPropertyMultiple of the nine identity properties of Device 4194303 (the wildcard,
//!    15.5.1.1.1: "the local Device object").
//! 2. If the device answers Error object/unknown-object to the wildcard (bacpypes3 0.0.110
//!    does), one Who-Is without limits, **unicast** to the device; its I-Am gives the
//!    instance, and step 1 is repeated with it. A device that sends no I-Am to us (it
//!    answers Who-Is only by broadcast, which a unicast socket never sees) is reported as
//!    BACnet with that reason.
//! 3. If ReadPropertyMultiple is refused (Reject, Abort, any other Error, or a segmented
//!    answer, which was not accepted), the same properties by ReadProperty, one at a time
//!    (the driver paces each send); an Error for one property (unknown-property for
//!    `location`, say) is a finding and the next property is asked.
//!
//! # Outcomes
//! | what happened | finding |
//! |---|---|
//! | acks with properties | [`Finding::Identity`] |
//! | Error, Reject, Abort | [`Finding::Negative`] (the device spoke BACnet and said no) |
//! | unknown-object to the wildcard, no unicast I-Am | [`Finding::BroadcastOnly`] |
//! | (at most 12 requests in all: RPM, one ReadProperty, Who-Is, nine ReadProperty) | |
//! | no reply before the response timeout | [`Finding::NoAnswer`], then done: nothing more is sent to a device that left a request unanswered |
//! | an undecodable datagram | [`Finding::Suspicious`], then done |

use std::time::{Duration, Instant};

use super::identity::BacnetIdentity;
use super::safe::{Safe, WILDCARD};
use crate::wire::Anomaly;
use crate::wire::bacnet::{
    Apdu, ConfirmedService, Datagram, ERROR_CLASS_OBJECT, ERROR_UNKNOWN_OBJECT, IAm,
    ReadPropertyAck, RpmAck, UnconfirmedService, abort_reason_name, decode_error, error_class_name,
    error_code_name, property, reject_reason_name,
};

/// What one BACnet probe of one device does. Plain data, built by the scan driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// The port the driver talks to (for findings).
    pub port: u16,
    /// How long to wait for each reply.
    pub response_timeout: Duration,
    /// The first request's invoke id; each later request takes the next.
    pub first_invoke_id: u8,
    /// Fall back to ReadProperty when ReadPropertyMultiple is refused.
    pub read_property_fallback: bool,
    /// Send the unicast Who-Is when the wildcard instance is unknown to the device.
    pub who_is_fallback: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            port: crate::wire::bacnet::PORT,
            response_timeout: Duration::from_secs(3),
            first_invoke_id: 1,
            read_property_fallback: true,
            who_is_fallback: true,
        }
    }
}

/// What the session wants the driver to do next (phase 1: the probe's `Step` with the
/// BACnet request in place of a `SafeRequest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Send(Safe),
    Wait,
    Done,
}

/// One thing the session learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    Identity(BacnetIdentity),
    /// The device answered a request with Error, Reject or Abort.
    Negative {
        request: &'static str,
        answer: String,
    },
    /// The device is BACnet, but its identity could not be read, and why.
    BroadcastOnly {
        reason: String,
    },
    NoAnswer {
        request: &'static str,
    },
    /// The port is closed: an ICMP port-unreachable came back to a request.
    Unreachable {
        request: &'static str,
    },
    Suspicious {
        request: &'static str,
        what: String,
        raw: Vec<u8>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct InFlight {
    request: Safe,
    deadline: Instant,
}

/// The BACnet session (see the module docs).
#[derive(Debug)]
pub struct BacnetSession {
    cfg: SessionConfig,
    next_invoke_id: u8,
    /// The instance asked: the wildcard until an I-Am gave the real one.
    instance: u32,
    who_is_sent: bool,
    /// The device refused ReadPropertyMultiple once: after the Who-Is, read one property
    /// at a time at once instead of asking again.
    rpm_refused: bool,
    /// Properties still to read one at a time (in reverse order: popped from the end).
    queue: Vec<u32>,
    in_flight: Option<InFlight>,
    identity: BacnetIdentity,
    /// The datagrams the identity came from (acks and I-Am), for audit.
    identity_raw: Vec<Vec<u8>>,
    findings: Vec<Finding>,
    anomalies: Vec<Anomaly>,
    done: bool,
}

impl BacnetSession {
    pub fn new(cfg: SessionConfig) -> Self {
        BacnetSession {
            next_invoke_id: cfg.first_invoke_id,
            cfg,
            instance: WILDCARD,
            who_is_sent: false,
            rpm_refused: false,
            queue: Vec::new(),
            in_flight: None,
            identity: BacnetIdentity::default(),
            identity_raw: Vec::new(),
            findings: Vec::new(),
            anomalies: Vec::new(),
            done: false,
        }
    }

    /// Odd things seen (ignored datagrams, decoder anomalies), for the driver's log.
    pub fn anomalies(&self) -> &[Anomaly] {
        &self.anomalies
    }

    /// The identity so far.
    pub fn identity_so_far(&self) -> &BacnetIdentity {
        &self.identity
    }

    /// The datagrams the identity was read from (acks, the I-Am), in arrival order.
    pub fn identity_replies(&self) -> &[Vec<u8>] {
        &self.identity_raw
    }

    /// The transport is ready: the first request.
    pub fn on_connected(&mut self, now: Instant) -> Step {
        if self.done {
            return Step::Done;
        }
        let r = Safe::ReadIdentity {
            invoke_id: self.take_invoke_id(),
            instance: self.instance,
        };
        self.send(now, r)
    }

    /// When the session next needs [`BacnetSession::on_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.in_flight.map(|f| f.deadline)
    }

    /// Everything learned so far.
    pub fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.findings)
    }

    fn take_invoke_id(&mut self) -> u8 {
        let id = self.next_invoke_id;
        self.next_invoke_id = self.next_invoke_id.wrapping_add(1);
        id
    }

    fn send(&mut self, now: Instant, request: Safe) -> Step {
        self.in_flight = Some(InFlight {
            request,
            deadline: now + self.cfg.response_timeout,
        });
        Step::Send(request)
    }

    fn finish(&mut self) -> Step {
        self.in_flight = None;
        if !self.identity.is_empty() {
            self.findings.push(Finding::Identity(self.identity.clone()));
        }
        self.done = true;
        Step::Done
    }

    /// The next ReadProperty, or the end.
    fn next_property(&mut self, now: Instant) -> Step {
        match self.queue.pop() {
            Some(property) => {
                let r = Safe::ReadProperty {
                    invoke_id: self.take_invoke_id(),
                    instance: self.instance,
                    property,
                };
                self.send(now, r)
            }
            None => self.finish(),
        }
    }

    /// ReadPropertyMultiple was refused: one property at a time, if allowed.
    fn fall_back(&mut self, now: Instant) -> Step {
        self.rpm_refused = true;
        if !self.cfg.read_property_fallback {
            return self.finish();
        }
        self.queue = property::IDENTITY.iter().rev().copied().collect();
        self.next_property(now)
    }

    fn who_is(&mut self, now: Instant) -> Step {
        self.who_is_sent = true;
        self.send(now, Safe::WhoIs)
    }

    fn wildcard_unknown(&self) -> bool {
        self.instance == WILDCARD && !self.who_is_sent && self.cfg.who_is_fallback
    }

    fn suspicious(&mut self, request: &'static str, what: String, raw: &[u8]) -> Step {
        self.findings.push(Finding::Suspicious {
            request,
            what,
            raw: raw.to_vec(),
        });
        self.finish()
    }

    fn ignore(&mut self, what: String) -> Step {
        self.anomalies.push(Anomaly {
            field: "bacnet.reply",
            what,
        });
        Step::Wait
    }

    /// One datagram from the device (exactly one UDP payload).
    pub fn on_datagram(&mut self, now: Instant, raw: &[u8]) -> Step {
        if self.done {
            return Step::Done;
        }
        let Some(flight) = self.in_flight else {
            return self.ignore(format!("{} unsolicited bytes ignored", raw.len()));
        };
        let kind = flight.request.kind();
        let d = match Datagram::decode(raw) {
            Ok(d) => d,
            Err(e) => return self.suspicious(kind, format!("undecodable {kind} reply: {e}"), raw),
        };
        if let Some(src) = d.npdu.as_ref().and_then(|n| n.source.as_ref()) {
            // otscout never routes (no DNET): a datagram from behind a router (a router's
            // I-Am on behalf of a device of network SNET) is not the device's own answer.
            return self.ignore(format!(
                "datagram from network {} mac {} behind the device ignored",
                src.network,
                hex::encode(&src.mac)
            ));
        }
        let Some(apdu) = d.apdu else {
            return self.ignore(format!(
                "bvlc {} without an apdu ignored",
                d.bvll.function.name()
            ));
        };
        if let Apdu::Unconfirmed { service, data } = &apdu {
            if *service != UnconfirmedService::I_AM {
                return self.ignore(format!("unconfirmed service {} ignored", service.0));
            }
            return match IAm::decode(data) {
                Ok(i) => {
                    if flight.request == Safe::WhoIs {
                        self.identity_raw.push(raw.to_vec());
                    }
                    self.on_i_am(now, flight, &i)
                }
                Err(e) => self.ignore(format!("undecodable i-am ignored: {e}")),
            };
        }
        if flight.request.invoke_id().is_none() || apdu.invoke_id() != flight.request.invoke_id() {
            return self.ignore(format!(
                "reply with invoke id {:?} does not answer {kind} (invoke id {:?})",
                apdu.invoke_id(),
                flight.request.invoke_id()
            ));
        }
        self.in_flight = None;
        let rpm = matches!(flight.request, Safe::ReadIdentity { .. });
        match apdu {
            Apdu::ComplexAck {
                segment: Some(_), ..
            } => {
                // 20.1.2.4: segmented-response-accepted was false; the device segmented
                // anyway. A segment ACK is not on the allowlist: ask one property at a time.
                self.findings.push(Finding::Negative {
                    request: kind,
                    answer: "segmented answer though none was accepted".into(),
                });
                if rpm {
                    self.fall_back(now)
                } else {
                    self.next_property(now)
                }
            }
            Apdu::ComplexAck { service, data, .. }
                if rpm && service == ConfirmedService::READ_PROPERTY_MULTIPLE =>
            {
                match RpmAck::decode(&data) {
                    Ok(ack) => {
                        self.identity_raw.push(raw.to_vec());
                        self.on_rpm_ack(now, kind, &ack)
                    }
                    Err(e) => self.suspicious(kind, format!("bad {kind} ack: {e}"), raw),
                }
            }
            Apdu::ComplexAck { service, data, .. }
                if !rpm && service == ConfirmedService::READ_PROPERTY =>
            {
                match ReadPropertyAck::decode(&data) {
                    Ok(ack) => {
                        self.identity_raw.push(raw.to_vec());
                        let odd = self.identity.apply(ack.property, &ack.values);
                        self.anomalies.extend(odd);
                        self.next_property(now)
                    }
                    Err(e) => self.suspicious(kind, format!("bad {kind} ack: {e}"), raw),
                }
            }
            Apdu::Error { data, .. } => {
                let (class, code) = match decode_error(&data) {
                    Ok(cc) => cc,
                    Err(e) => return self.suspicious(kind, format!("bad error pdu: {e}"), raw),
                };
                self.findings.push(Finding::Negative {
                    request: kind,
                    answer: format!(
                        "error {}/{} ({class}/{code}){}",
                        error_class_name(class),
                        error_code_name(code),
                        property_of(flight.request)
                    ),
                });
                if (class, code) == (ERROR_CLASS_OBJECT, ERROR_UNKNOWN_OBJECT)
                    && self.wildcard_unknown()
                {
                    self.queue.clear();
                    return self.who_is(now);
                }
                if rpm {
                    self.fall_back(now)
                } else {
                    self.next_property(now)
                }
            }
            Apdu::Reject { reason, .. } => {
                self.findings.push(Finding::Negative {
                    request: kind,
                    answer: format!("reject {} ({reason})", reject_reason_name(reason)),
                });
                if rpm {
                    self.fall_back(now)
                } else {
                    self.next_property(now)
                }
            }
            Apdu::Abort { reason, .. } => {
                self.findings.push(Finding::Negative {
                    request: kind,
                    answer: format!("abort {} ({reason})", abort_reason_name(reason)),
                });
                if rpm {
                    self.fall_back(now)
                } else {
                    self.next_property(now)
                }
            }
            other => self.suspicious(
                kind,
                format!("{other:?} does not answer {kind}")
                    .chars()
                    .take(200)
                    .collect(),
                raw,
            ),
        }
    }

    fn on_rpm_ack(&mut self, now: Instant, kind: &'static str, ack: &RpmAck) -> Step {
        let mut unknown_object = 0;
        let mut results = 0;
        for (_, props) in &ack.objects {
            for r in props {
                results += 1;
                match &r.value {
                    Ok(values) => {
                        let odd = self.identity.apply(r.property, values);
                        self.anomalies.extend(odd);
                    }
                    Err((class, code)) => {
                        if (*class, *code) == (ERROR_CLASS_OBJECT, ERROR_UNKNOWN_OBJECT) {
                            unknown_object += 1;
                        }
                        self.findings.push(Finding::Negative {
                            request: kind,
                            answer: format!(
                                "{}: error {}/{} ({class}/{code})",
                                property::name(r.property),
                                error_class_name(*class),
                                error_code_name(*code)
                            ),
                        });
                    }
                }
            }
        }
        // Every property unknown-object: the device does not take the wildcard as itself.
        if results > 0 && unknown_object == results && self.wildcard_unknown() {
            return self.who_is(now);
        }
        self.finish()
    }

    fn on_i_am(&mut self, now: Instant, flight: InFlight, i: &IAm) -> Step {
        if flight.request != Safe::WhoIs {
            // An I-Am we did not ask for (the device announces itself): keep what it says.
            self.identity.apply_i_am(i);
            return self.ignore(format!(
                "unsolicited i-am of device {} kept",
                i.device.instance
            ));
        }
        if !self.identity.apply_i_am(i) {
            return self.ignore("i-am of the wildcard instance 4194303 (a client) ignored".into());
        }
        self.instance = i.device.instance;
        if self.rpm_refused {
            return self.fall_back(now);
        }
        let r = Safe::ReadIdentity {
            invoke_id: self.take_invoke_id(),
            instance: self.instance,
        };
        self.send(now, r)
    }

    /// The driver saw an ICMP port-unreachable for the device (a connected UDP socket's
    /// send or receive failed with connection refused): nothing listens, nothing more goes
    /// out.
    pub fn on_unreachable(&mut self) -> Step {
        if self.done {
            return Step::Done;
        }
        let request = self
            .in_flight
            .map(|f| f.request.kind())
            .unwrap_or("bacnet.read_property_multiple");
        self.findings.push(Finding::Unreachable { request });
        self.finish()
    }

    /// The deadline from [`BacnetSession::poll_timeout`] has passed.
    ///
    /// # OT safety
    /// A request left unanswered ends the session: nothing more goes to that device.
    pub fn on_timeout(&mut self, now: Instant) -> Step {
        if self.done {
            return Step::Done;
        }
        match self.in_flight {
            Some(f) if now >= f.deadline => {
                if f.request == Safe::WhoIs {
                    self.findings.push(Finding::BroadcastOnly {
                        reason: "the device answers the wildcard instance 4194303 with \
                                 unknown-object and sent no i-am to a unicast who-is (it may \
                                 answer who-is by broadcast only); passive data that saw its \
                                 i-am gives the instance"
                            .into(),
                    });
                } else {
                    self.findings.push(Finding::NoAnswer {
                        request: f.request.kind(),
                    });
                }
                self.finish()
            }
            Some(_) => Step::Wait,
            None => Step::Done,
        }
    }
}

fn property_of(r: Safe) -> String {
    match r {
        Safe::ReadProperty { property: p, .. } => format!(" for {}", property::name(p)),
        _ => String::new(),
    }
}

/// Builds the session from the profile's `[bacnet]` section and response timeout.
impl SessionConfig {
    pub fn from_profile(p: &crate::profile::Profile, port: u16) -> Self {
        SessionConfig {
            port,
            response_timeout: Duration::from_millis(p.pacing.response_timeout_ms),
            first_invoke_id: 1,
            read_property_fallback: p.bacnet.read_property_fallback,
            who_is_fallback: p.bacnet.who_is_fallback,
        }
    }
}

fn step(s: Step) -> crate::protocols::session::Step {
    use crate::protocols::session::Step as S;
    match s {
        Step::Send(r) => S::Send(crate::safety::SafeRequest::Bacnet(r)),
        Step::Wait => S::Wait,
        Step::Done => S::Done,
    }
}

impl crate::protocols::session::Session for BacnetSession {
    fn protocol(&self) -> crate::inventory::Protocol {
        crate::inventory::Protocol::Bacnet
    }

    fn on_connected(&mut self, now: Instant) -> crate::protocols::session::Step {
        step(BacnetSession::on_connected(self, now))
    }

    /// One datagram (the driver calls it once per UDP datagram).
    fn on_bytes(&mut self, now: Instant, bytes: &[u8]) -> crate::protocols::session::Step {
        step(self.on_datagram(now, bytes))
    }

    fn on_timeout(&mut self, now: Instant) -> crate::protocols::session::Step {
        step(BacnetSession::on_timeout(self, now))
    }

    fn on_connection_lost(
        &mut self,
        _now: Instant,
        why: crate::protocols::session::ConnectionLoss,
    ) -> crate::protocols::session::Step {
        // UDP: an ICMP port-unreachable (Refused) is the only loss; the port is closed.
        let _ = why;
        step(self.on_unreachable())
    }

    fn poll_timeout(&self) -> Option<Instant> {
        BacnetSession::poll_timeout(self)
    }

    fn take_findings(&mut self) -> Vec<crate::protocols::session::Finding> {
        use crate::inventory::{Fact, Identity, NoAnswerKind, Protocol};
        let port = self.cfg.port;
        let raw = self.identity_raw.concat();
        BacnetSession::take_findings(self)
            .into_iter()
            .map(|f| match f {
                Finding::Identity(id) => crate::protocols::session::Finding {
                    fact: Fact::Identity {
                        identity: Identity::Bacnet(id),
                    },
                    raw: Some(raw.clone()),
                    request: "bacnet.read_property_multiple",
                },
                Finding::Negative { request, answer } => crate::protocols::session::Finding {
                    fact: Fact::Negative {
                        protocol: Protocol::Bacnet,
                        port,
                        answer,
                    },
                    raw: None,
                    request,
                },
                Finding::BroadcastOnly { reason } => crate::protocols::session::Finding {
                    fact: Fact::NoIdentity {
                        protocol: Protocol::Bacnet,
                        port,
                        answer: reason,
                    },
                    raw: None,
                    request: "bacnet.who_is",
                },
                Finding::Unreachable { request } => crate::protocols::session::Finding {
                    fact: Fact::NoAnswer {
                        protocol: Protocol::Bacnet,
                        port,
                        outcome: NoAnswerKind::Refused,
                    },
                    raw: None,
                    request,
                },
                Finding::NoAnswer { request } => crate::protocols::session::Finding {
                    fact: Fact::NoAnswer {
                        protocol: Protocol::Bacnet,
                        port,
                        outcome: NoAnswerKind::Timeout,
                    },
                    raw: None,
                    request,
                },
                Finding::Suspicious { request, what, raw } => crate::protocols::session::Finding {
                    fact: Fact::Suspicious {
                        protocol: Protocol::Bacnet,
                        port,
                        reason: what,
                    },
                    raw: Some(raw),
                    request,
                },
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::bacnet::safe::{check, emit};
    use crate::wire::bacnet::{
        CharString, ObjectId, ReadPropertyRequest, RpmRequest, RpmResult, Value, unicast_datagram,
    };

    fn cfg() -> SessionConfig {
        SessionConfig {
            response_timeout: Duration::from_millis(500),
            ..SessionConfig::default()
        }
    }

    fn text(s: &str) -> Value {
        Value::CharacterString(CharString {
            charset: 0,
            raw: s.as_bytes().to_vec(),
        })
    }

    fn datagram(apdu: Apdu) -> Vec<u8> {
        let mut out = Vec::new();
        unicast_datagram(&apdu, &mut out);
        out
    }

    /// A device model for the tests: answers RPM with every identity property, RP likewise.
    fn answer_props(instance: u32) -> Vec<(u32, Value)> {
        vec![
            (75, Value::ObjectId(ObjectId::device(instance))),
            (77, text("AHU-1")),
            (121, text("Acme Controls")),
            (120, Value::Unsigned(260)),
            (70, text("AC-100")),
            (44, text("1.2.3")),
            (12, text("app 4")),
            (28, text("")),
            (58, text("roof")),
        ]
    }

    fn rpm_ack(invoke_id: u8, asked: u32, props: &[(u32, Value)]) -> Vec<u8> {
        let mut data = Vec::new();
        RpmAck {
            objects: vec![(
                ObjectId::device(asked),
                props
                    .iter()
                    .map(|(p, v)| RpmResult {
                        property: *p,
                        array_index: None,
                        value: Ok(vec![v.clone()]),
                    })
                    .collect(),
            )],
        }
        .encode(&mut data);
        datagram(Apdu::ComplexAck {
            invoke_id,
            segment: None,
            service: ConfirmedService::READ_PROPERTY_MULTIPLE,
            data,
        })
    }

    fn rp_ack(invoke_id: u8, asked: u32, p: u32, v: Value) -> Vec<u8> {
        let mut data = Vec::new();
        ReadPropertyAck {
            object: ObjectId::device(asked),
            property: p,
            array_index: None,
            values: vec![v],
        }
        .encode(&mut data);
        datagram(Apdu::ComplexAck {
            invoke_id,
            segment: None,
            service: ConfirmedService::READ_PROPERTY,
            data,
        })
    }

    fn error(invoke_id: u8, service: ConfirmedService, class: u32, code: u32) -> Vec<u8> {
        let mut data = Vec::new();
        crate::wire::bacnet::encode_error(class, code, &mut data);
        datagram(Apdu::Error {
            invoke_id,
            service,
            data,
        })
    }

    fn expected_identity(instance: u32) -> BacnetIdentity {
        BacnetIdentity {
            instance: Some(instance),
            object_name: Some("AHU-1".into()),
            vendor_name: Some("Acme Controls".into()),
            vendor_id: Some(260),
            model_name: Some("AC-100".into()),
            firmware_revision: Some("1.2.3".into()),
            application_software_version: Some("app 4".into()),
            description: Some(String::new()),
            location: Some("roof".into()),
            ..Default::default()
        }
    }

    fn sent(step: Step) -> Safe {
        match step {
            Step::Send(r) => {
                // Every request the session makes passes the guard.
                assert_eq!(check(&emit(&r).unwrap()), Ok(r));
                r
            }
            other => panic!("expected a send, got {other:?}"),
        }
    }

    #[test]
    fn wildcard_rpm_identifies_in_one_exchange() {
        let t0 = Instant::now();
        let mut s = BacnetSession::new(cfg());
        let r = sent(s.on_connected(t0));
        assert_eq!(
            r,
            Safe::ReadIdentity {
                invoke_id: 1,
                instance: WILDCARD
            }
        );
        assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_millis(500)));
        // The ack echoes the wildcard; the instance comes from object-identifier's value.
        let step = s.on_datagram(t0, &rpm_ack(1, WILDCARD, &answer_props(4711)));
        assert_eq!(step, Step::Done);
        assert_eq!(
            s.take_findings(),
            vec![Finding::Identity(expected_identity(4711))]
        );
        assert_eq!(
            s.identity_replies(),
            &[rpm_ack(1, WILDCARD, &answer_props(4711))]
        );
    }

    #[test]
    fn stale_or_foreign_invoke_ids_are_ignored() {
        let t0 = Instant::now();
        let mut s = BacnetSession::new(cfg());
        sent(s.on_connected(t0));
        assert_eq!(
            s.on_datagram(t0, &rpm_ack(9, WILDCARD, &answer_props(1))),
            Step::Wait
        );
        assert_eq!(s.anomalies().len(), 1);
        assert_eq!(
            s.on_datagram(t0, &rpm_ack(1, WILDCARD, &answer_props(1))),
            Step::Done
        );
    }

    #[test]
    fn unknown_object_on_the_wildcard_asks_who_is_unicast_then_reads_the_instance() {
        // bacpypes3 0.0.110's answer to the wildcard.
        let t0 = Instant::now();
        let mut s = BacnetSession::new(cfg());
        sent(s.on_connected(t0));
        let e = error(1, ConfirmedService::READ_PROPERTY_MULTIPLE, 1, 31);
        assert_eq!(sent(s.on_datagram(t0, &e)), Safe::WhoIs);
        // The I-Am of the device (instance 599, vendor 999).
        let mut data = Vec::new();
        IAm {
            device: ObjectId::device(599),
            max_apdu: 1024,
            segmentation: 0,
            vendor_id: 999,
        }
        .encode(&mut data);
        let i_am = datagram(Apdu::Unconfirmed {
            service: UnconfirmedService::I_AM,
            data,
        });
        assert_eq!(
            sent(s.on_datagram(t0, &i_am)),
            Safe::ReadIdentity {
                invoke_id: 2,
                instance: 599
            }
        );
        let mut props = answer_props(599);
        props.retain(|(p, _)| *p != 120);
        assert_eq!(s.on_datagram(t0, &rpm_ack(2, 599, &props)), Step::Done);
        let f = s.take_findings();
        let mut want = expected_identity(599);
        want.vendor_id = Some(999);
        want.max_apdu = Some(1024);
        want.segmentation = Some(0);
        assert_eq!(f.len(), 2);
        assert!(
            matches!(&f[0], Finding::Negative { answer, .. } if answer.contains("unknown-object"))
        );
        assert_eq!(f[1], Finding::Identity(want));
    }

    #[test]
    fn no_unicast_i_am_is_reported_as_broadcast_only() {
        let t0 = Instant::now();
        let mut s = BacnetSession::new(cfg());
        sent(s.on_connected(t0));
        sent(s.on_datagram(
            t0,
            &error(1, ConfirmedService::READ_PROPERTY_MULTIPLE, 1, 31),
        ));
        let t1 = t0 + Duration::from_millis(499);
        assert_eq!(s.on_timeout(t1), Step::Wait);
        assert_eq!(s.on_timeout(t0 + Duration::from_millis(500)), Step::Done);
        let f = s.take_findings();
        assert!(
            matches!(f.last(), Some(Finding::BroadcastOnly { reason }) if reason.contains("unicast who-is"))
        );
    }

    #[test]
    fn rejected_rpm_falls_back_to_read_property_one_at_a_time() {
        let t0 = Instant::now();
        let mut s = BacnetSession::new(cfg());
        sent(s.on_connected(t0));
        // Reject unrecognized-service (9): a device without RPM.
        let reject = datagram(Apdu::Reject {
            invoke_id: 1,
            reason: 9,
        });
        let mut step = s.on_datagram(t0, &reject);
        let props = answer_props(77);
        let mut asked = Vec::new();
        for (i, (p, v)) in props.iter().enumerate() {
            let r = sent(step);
            let Safe::ReadProperty {
                invoke_id,
                instance,
                property,
            } = r
            else {
                panic!("{r:?}")
            };
            assert_eq!((invoke_id, instance), (2 + i as u8, WILDCARD));
            asked.push(property);
            // location (the last) answers unknown-property: a finding, not the end.
            step = if *p == 58 {
                s.on_datagram(
                    t0,
                    &error(invoke_id, ConfirmedService::READ_PROPERTY, 2, 32),
                )
            } else {
                s.on_datagram(t0, &rp_ack(invoke_id, WILDCARD, *p, v.clone()))
            };
        }
        assert_eq!(step, Step::Done);
        assert_eq!(asked, property::IDENTITY.to_vec());
        let f = s.take_findings();
        let mut want = expected_identity(77);
        want.location = None;
        assert_eq!(f.len(), 3);
        assert!(
            matches!(&f[0], Finding::Negative { answer, .. } if answer == "reject unrecognized-service (9)")
        );
        assert!(
            matches!(&f[1], Finding::Negative { answer, .. } if answer.contains("unknown-property") && answer.contains("location"))
        );
        assert_eq!(f[2], Finding::Identity(want));
    }

    #[test]
    fn abort_segmentation_not_supported_falls_back_too() {
        let t0 = Instant::now();
        let mut s = BacnetSession::new(cfg());
        sent(s.on_connected(t0));
        let abort = datagram(Apdu::Abort {
            invoke_id: 1,
            server: true,
            reason: 4,
        });
        assert!(matches!(
            sent(s.on_datagram(t0, &abort)),
            Safe::ReadProperty { property: 75, .. }
        ));
    }

    #[test]
    fn a_timeout_ends_the_session_without_another_request() {
        let t0 = Instant::now();
        let mut s = BacnetSession::new(cfg());
        sent(s.on_connected(t0));
        assert_eq!(s.on_timeout(t0 + Duration::from_secs(1)), Step::Done);
        assert_eq!(
            s.take_findings(),
            vec![Finding::NoAnswer {
                request: "bacnet.read_property_multiple"
            }]
        );
        assert_eq!(
            s.on_datagram(t0, &rpm_ack(1, WILDCARD, &answer_props(1))),
            Step::Done
        );
        assert!(s.take_findings().is_empty());
    }

    #[test]
    fn garbage_is_suspicious_and_ends() {
        let t0 = Instant::now();
        let mut s = BacnetSession::new(cfg());
        sent(s.on_connected(t0));
        assert_eq!(s.on_datagram(t0, &[0x81, 0x0a, 0xff]), Step::Done);
        assert!(matches!(s.take_findings()[0], Finding::Suspicious { .. }));
    }

    #[test]
    fn the_requests_are_the_documented_ones() {
        // What the session asks decodes as RPM of the device object's identity properties.
        let mut out = Vec::new();
        Safe::ReadIdentity {
            invoke_id: 1,
            instance: WILDCARD,
        }
        .encode(&mut out);
        let d = Datagram::decode(&out).unwrap();
        let Some(Apdu::ConfirmedRequest(r)) = d.apdu else {
            panic!()
        };
        let rpm = RpmRequest::decode(&r.data).unwrap();
        assert_eq!(rpm.specs[0].0, ObjectId::device(WILDCARD));
        assert_eq!(rpm.specs[0].1.len(), 9);
        let _ = ReadPropertyRequest::decode(&[]).unwrap_err();
    }

    #[test]
    fn the_worst_case_sends_twelve_requests_at_most() {
        // Refuses RPM, answers every ReadProperty of the wildcard with unknown-object, gives
        // its instance by I-Am, then refuses every ReadProperty.
        let t0 = Instant::now();
        let mut s = BacnetSession::new(cfg());
        let mut step = s.on_connected(t0);
        let mut sent = Vec::new();
        while let Step::Send(r) = step {
            sent.push(r);
            assert!(sent.len() <= 12, "{sent:?}");
            step = match r {
                Safe::WhoIs => {
                    let mut data = Vec::new();
                    IAm {
                        device: ObjectId::device(42),
                        max_apdu: 480,
                        segmentation: 3,
                        vendor_id: 1,
                    }
                    .encode(&mut data);
                    s.on_datagram(
                        t0,
                        &datagram(Apdu::Unconfirmed {
                            service: UnconfirmedService::I_AM,
                            data,
                        }),
                    )
                }
                Safe::ReadProperty {
                    invoke_id,
                    instance: WILDCARD,
                    ..
                } => s.on_datagram(
                    t0,
                    &error(invoke_id, ConfirmedService::READ_PROPERTY, 1, 31),
                ),
                other => s.on_datagram(
                    t0,
                    &datagram(Apdu::Reject {
                        invoke_id: other.invoke_id().unwrap(),
                        reason: 9,
                    }),
                ),
            };
        }
        assert_eq!(step, Step::Done);
        // RPM, ReadProperty (unknown-object), Who-Is, nine ReadProperty of device 42: RPM is
        // not asked again once refused.
        assert_eq!(sent.len(), 12);
        assert_eq!(sent[2], Safe::WhoIs);
        assert!(
            sent[3..]
                .iter()
                .all(|r| matches!(r, Safe::ReadProperty { instance: 42, .. }))
        );
    }

    #[test]
    fn a_routers_i_am_for_a_device_behind_it_is_not_the_devices_instance() {
        let t0 = Instant::now();
        let mut s = BacnetSession::new(cfg());
        sent(s.on_connected(t0));
        sent(s.on_datagram(
            t0,
            &error(1, ConfirmedService::READ_PROPERTY_MULTIPLE, 1, 31),
        ));
        // bacnet_services.pcap frame 288's NPDU (SNET 3, SADR 0x6c): I-Am of device 108
        // relayed by the router, unicast to us.
        let routed =
            hex::decode("810a001c0128ffff000003016cfe1000c40200006c2201e09100212a").unwrap();
        assert_eq!(s.on_datagram(t0, &routed), Step::Wait);
        assert!(s.anomalies()[0].what.contains("network 3 mac 6c"));
        assert_eq!(s.identity_so_far().instance, None);
    }

    #[test]
    fn an_unreachable_port_ends_the_session() {
        let t0 = Instant::now();
        let mut s = BacnetSession::new(cfg());
        sent(s.on_connected(t0));
        assert_eq!(s.on_unreachable(), Step::Done);
        assert_eq!(
            s.take_findings(),
            vec![Finding::Unreachable {
                request: "bacnet.read_property_multiple"
            }]
        );
        assert_eq!(s.poll_timeout(), None);
    }
}
