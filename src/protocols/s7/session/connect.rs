//! The ISO-on-TCP part of the S7 probe (RFC 1006 TPKT, ISO 8073 COTP class 0): the
//! connection confirm for one TSAP, a refused TSAP moving on to the next on a new
//! connection, and our COTP DR at the end.

use super::*;

/// The COTP CR for `tsap` (the dry-run plan builds it here too).
pub(crate) fn connect_request(cfg: &S7SessionConfig, tsap: u16) -> CotpConnect {
    CotpConnect {
        src_ref: cfg.cotp_src_ref,
        calling_tsap: cfg.local_tsap,
        called_tsap: tsap,
        tpdu_size_code: TPDU_SIZE_1024,
    }
}

impl S7Session {
    /// Sends our COTP DR and waits briefly for the CPU to close.
    pub(super) fn disconnect(&mut self, now: Instant) -> Step {
        self.emit_identity();
        let req = SafeRequest::S7(Safe::Disconnect(CotpDisconnect {
            dst_ref: self.peer_ref,
            src_ref: self.cfg.cotp_src_ref,
        }));
        self.in_flight = None;
        self.deadline = Some(now + self.cfg.disconnect_wait);
        self.state = State::Disconnecting;
        Step::Send(req)
    }

    /// The current TSAP was refused: try the next one on a new connection, or stop.
    pub(super) fn next_tsap(&mut self) -> Step {
        self.tsap_idx += 1;
        if self.tsap_idx < self.cfg.tsaps.len() {
            self.state = State::Connecting;
            self.in_flight = None;
            self.deadline = None;
            self.buf.clear();
            self.sent_refs.clear();
            Step::Reconnect
        } else {
            self.finish()
        }
    }

    pub(super) fn on_cc(&mut self, now: Instant, frame: Frame, raw: &[u8]) -> Step {
        let tsap = self.tsap();
        match frame.cotp {
            Cotp::ConnectConfirm(cc) if cc.dst_ref == self.cfg.cotp_src_ref => {
                self.peer_ref = cc.src_ref;
                self.send_setup(now)
            }
            Cotp::ConnectConfirm(cc) => {
                self.suspicious(
                    format!(
                        "cotp cc for reference {:#06x}, but the cr used {:#06x}",
                        cc.dst_ref, self.cfg.cotp_src_ref
                    ),
                    raw,
                    "cotp.connect",
                );
                self.finish()
            }
            Cotp::DisconnectRequest(dr) => {
                self.negative(
                    format!(
                        "tsap {tsap:#06x} refused: cotp dr, reason {:#04x}",
                        dr.reason
                    ),
                    raw,
                    "cotp.connect",
                );
                self.next_tsap()
            }
            _ => {
                self.suspicious(
                    "answer to a cotp cr is neither cc nor dr".into(),
                    raw,
                    "cotp.connect",
                );
                self.finish()
            }
        }
    }
}
