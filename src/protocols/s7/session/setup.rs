//! The S7comm Setup Communication exchange: the one job after the COTP connection, which
//! negotiates the PDU length the SZL reads must fit.

use super::*;

/// Setup Communication with the PDU length we propose (the dry-run plan builds it here
/// too).
pub(crate) fn setup_request(cfg: &S7SessionConfig, pdu_ref: u16) -> S7SetupCommunication {
    S7SetupCommunication {
        pdu_ref,
        max_amq_calling: 1,
        max_amq_called: 1,
        pdu_length: cfg.pdu_length,
    }
}

impl S7Session {
    pub(super) fn send_setup(&mut self, now: Instant) -> Step {
        let pdu_ref = self.pdu_ref();
        self.send(
            now,
            SafeRequest::S7(Safe::Setup(setup_request(&self.cfg, pdu_ref))),
            pdu_ref,
            State::AwaitSetup,
        )
    }

    pub(super) fn on_setup(&mut self, now: Instant, frame: Frame, raw: &[u8]) -> Step {
        if let Some(step) = self.unexpected(now, &frame, raw) {
            return step;
        }
        let Some(p) = frame.s7() else {
            return self.finish();
        };
        if let Err(step) = self.matches(now, p.pdu_ref, raw) {
            if step == Step::Wait {
                self.state = State::AwaitSetup;
            }
            return step;
        }
        if let Some(e) = p.error.filter(|e| e.class != 0 || e.code != 0) {
            self.negative(
                format!(
                    "setup communication refused: error class {:#04x} code {:#04x}",
                    e.class, e.code
                ),
                raw,
                "s7.setup_communication",
            );
            return self.disconnect(now);
        }
        match (p.rosctr, &p.body) {
            (Rosctr::AckData, Body::Setup(s)) => {
                let granted = s.pdu_length.min(self.cfg.pdu_length);
                self.pdu_length = Some(granted);
                if granted < LARGEST_REQUEST_PDU {
                    self.negative(
                        format!("cpu granted a {granted}-byte pdu, too small to ask anything"),
                        raw,
                        "s7.setup_communication",
                    );
                    return self.disconnect(now);
                }
                self.next_szl(now)
            }
            _ => {
                self.suspicious(
                    "answer to setup communication is not its ack_data".into(),
                    raw,
                    "s7.setup_communication",
                );
                self.disconnect(now)
            }
        }
    }
}
