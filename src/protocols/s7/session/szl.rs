//! The SZL reads (CPU functions, Read SZL) and their records: each configured SZL id in
//! turn, fragmented answers reassembled with follow-ups (capped), and the identity the
//! records of 0x0011 and 0x001C give.

use super::*;

/// The first Read SZL request of `szl_id` (index 0; the dry-run plan builds it here too).
pub(crate) fn read_szl_request(pdu_ref: u16, szl_id: u16) -> S7ReadSzl {
    S7ReadSzl {
        pdu_ref,
        szl_id,
        szl_index: 0,
    }
}

impl S7Session {
    /// Emits the identity read so far, once.
    pub(super) fn emit_identity(&mut self) {
        let (m, c) = (self.module.take(), self.component.take());
        if let Some(mut id) = to_identity(m.as_ref(), c.as_ref()) {
            id.tsap = Some(self.tsap());
            let raw = std::mem::take(&mut self.raw);
            self.push(
                Fact::Identity {
                    identity: Identity::S7(Box::new(id)),
                },
                Some(raw),
                "s7.read_szl",
            );
        }
    }

    /// Reads the next configured SZL id, or disconnects when all are read.
    pub(super) fn next_szl(&mut self, now: Instant) -> Step {
        let Some(&szl_id) = self.cfg.szl_ids.get(self.szl_idx) else {
            return self.disconnect(now);
        };
        let pdu_ref = self.pdu_ref();
        self.send(
            now,
            SafeRequest::S7(Safe::ReadSzl(read_szl_request(pdu_ref, szl_id))),
            pdu_ref,
            State::AwaitSzl {
                reassembler: SzlReassembler::new(),
            },
        )
    }

    pub(super) fn szl_done(&mut self, now: Instant) -> Step {
        self.szl_idx += 1;
        self.next_szl(now)
    }

    pub(super) fn on_szl(
        &mut self,
        now: Instant,
        frame: Frame,
        raw: &[u8],
        mut reassembler: SzlReassembler,
    ) -> Step {
        if let Some(step) = self.unexpected(now, &frame, raw) {
            return step;
        }
        let Some(p) = frame.s7() else {
            return self.finish();
        };
        let kind = self.in_flight.map(|(_, k)| k).unwrap_or("s7.read_szl");
        if let Err(step) = self.matches(now, p.pdu_ref, raw) {
            if step == Step::Wait {
                self.state = State::AwaitSzl { reassembler };
            }
            return step;
        }
        let szl_id = self.cfg.szl_ids.get(self.szl_idx).copied().unwrap_or(0);
        if let Some(e) = p.error.filter(|e| e.class != 0 || e.code != 0) {
            self.negative(
                format!(
                    "read szl {szl_id:#06x} refused: error class {:#04x} code {:#04x}",
                    e.class, e.code
                ),
                raw,
                kind,
            );
            return self.szl_done(now);
        }
        let Some(r) = p.szl_response() else {
            self.suspicious(
                "answer to read szl is not a read szl response".into(),
                raw,
                kind,
            );
            return self.disconnect(now);
        };
        if r.error_code != 0 || r.return_code != 0xFF {
            self.negative(
                format!(
                    "read szl {szl_id:#06x} refused: error code {:#06x}, return code {:#04x}",
                    r.error_code, r.return_code
                ),
                raw,
                kind,
            );
            return self.szl_done(now);
        }
        if r.more_follows && reassembler.pieces() + 1 >= self.cfg.max_szl_pieces {
            self.suspicious(
                format!(
                    "szl {szl_id:#06x} answer needs more than {} pieces",
                    self.cfg.max_szl_pieces
                ),
                raw,
                kind,
            );
            return self.szl_done(now);
        }
        let (more, sequence) = (r.more_follows, r.sequence);
        if more && sequence == 0 {
            // A follow-up needs the CPU's sequence number (the guard refuses 0).
            self.suspicious(
                "szl answer says more follows but carries sequence number 0".into(),
                raw,
                kind,
            );
            return self.szl_done(now);
        }
        match reassembler.push(r.value, more) {
            Ok(None) => {
                self.raw.extend_from_slice(raw);
                let pdu_ref = self.pdu_ref();
                self.send(
                    now,
                    SafeRequest::S7(Safe::ReadSzlFollowUp(S7ReadSzlFollowUp {
                        pdu_ref,
                        sequence_number: sequence,
                    })),
                    pdu_ref,
                    State::AwaitSzl { reassembler },
                )
            }
            Ok(Some(list)) => {
                if list.szl_id & 0x00FF != szl_id & 0x00FF {
                    self.suspicious(
                        format!(
                            "asked for szl {szl_id:#06x}, answer is szl {:#06x}",
                            list.szl_id
                        ),
                        raw,
                        kind,
                    );
                    return self.szl_done(now);
                }
                self.raw.extend_from_slice(raw);
                if let Some(expected) = list.nonstandard_record_len() {
                    // Not silently dropped: say which records were not read as the layout.
                    let read = if list.nonstandard_order_numbers().is_empty() {
                        "records not read"
                    } else {
                        "only index and order number read"
                    };
                    self.suspicious(
                        format!(
                            "szl {:#06x} records are {} bytes, not the standard {expected}: {read}",
                            list.szl_id, list.record_len
                        ),
                        raw,
                        kind,
                    );
                }
                match list.szl_id & 0x00FF {
                    0x11 => self.module = Some(list),
                    0x1C => self.component = Some(list),
                    _ => {}
                }
                self.szl_done(now)
            }
            Err(e) => {
                self.suspicious(format!("szl {szl_id:#06x}: {e}"), raw, kind);
                self.szl_done(now)
            }
        }
    }
}
