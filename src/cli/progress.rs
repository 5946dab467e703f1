//! Scan progress on stderr, from the engine's [`ScanEvent`]s.
//!
//! - a terminal: an indicatif bar (hosts done of total, identified, current request
//!   rate, ETA from the pacing plan or the observed pace, whichever is later);
//! - not a terminal (cron, a pipe): one log line every 30 seconds and nothing else;
//! - `--quiet`: nothing.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::probe::scan::{EventSink, HostState, ScanEvent, StopReason};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Bar,
    Log { every: Duration },
    Quiet,
}

impl Mode {
    /// A bar on a terminal, else a line every 30 s; nothing with `--quiet`.
    pub fn detect(quiet: bool) -> Mode {
        if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Log {
                every: Duration::from_secs(30),
            }
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    total: Option<u64>,
    done: u64,
    identified: u64,
    errored: u64,
    interrupted: u64,
    requests: u64,
    /// (time, requests so far) samples for the current rate.
    window: Vec<(Instant, u64)>,
    planned: Option<Duration>,
    stopping: Option<StopReason>,
    /// Held connections still draining at the end: (how many, for at most how long).
    draining: Option<(usize, Duration)>,
}

impl Counts {
    fn rate(&mut self, now: Instant) -> f64 {
        self.window.push((now, self.requests));
        let horizon = Duration::from_secs(10);
        self.window
            .retain(|(t, _)| now.duration_since(*t) <= horizon);
        match (self.window.first(), self.window.last()) {
            (Some((t0, r0)), Some((t1, r1))) if t1 > t0 => {
                (r1 - r0) as f64 / t1.duration_since(*t0).as_secs_f64()
            }
            _ => 0.0,
        }
    }

    fn line(&mut self, now: Instant) -> String {
        let rate = self.rate(now);
        let total = self.total.map_or_else(|| "?".into(), |t| t.to_string());
        let mut s = format!(
            "{}/{} hosts, {} identified, {} errored, {} requests ({:.1}/s)",
            self.done, total, self.identified, self.errored, self.requests, rate
        );
        if let Some(r) = self.stopping {
            s.push_str(&format!(", stopping ({})", stop_text(r)));
        }
        s
    }
}

fn stop_text(r: StopReason) -> &'static str {
    match r {
        StopReason::Interrupted => "interrupted",
        StopReason::WindowEnded => "maintenance window ended",
        StopReason::JournalFailed => "journal write failed",
    }
}

/// The progress display; keep it alive for the scan and call [`Progress::finish`].
#[derive(Debug)]
pub struct Progress {
    mode: Mode,
    counts: Arc<Mutex<Counts>>,
    bar: Option<ProgressBar>,
    ticker: Option<tokio::task::JoinHandle<()>>,
    started: Instant,
}

impl Progress {
    /// Must be called inside a tokio runtime (log mode runs a ticker task).
    pub fn new(mode: Mode) -> Progress {
        let counts = Arc::new(Mutex::new(Counts::default()));
        let started = Instant::now();
        let bar = (mode == Mode::Bar).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} hosts {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let ticker = match mode {
            Mode::Log { every } => {
                let counts = Arc::clone(&counts);
                Some(tokio::spawn(async move {
                    let mut tick =
                        tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                    loop {
                        tick.tick().await;
                        let line = counts
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .line(Instant::now());
                        errln!("otscout: scan: {line}");
                    }
                }))
            }
            _ => None,
        };
        Progress {
            mode,
            counts,
            bar,
            ticker,
            started,
        }
    }

    /// The sink to hand to the scan.
    pub fn sink(&self) -> EventSink {
        let counts = Arc::clone(&self.counts);
        let bar = self.bar.clone();
        let started = self.started;
        Arc::new(move |e: &ScanEvent| {
            let mut c = counts.lock().unwrap_or_else(|p| p.into_inner());
            match e {
                ScanEvent::Started {
                    total_hosts,
                    planned,
                    ..
                } => {
                    c.total = *total_hosts;
                    c.planned = *planned;
                    if let (Some(bar), Some(t)) = (&bar, total_hosts) {
                        bar.set_length(*t);
                    }
                }
                ScanEvent::Request { .. } => c.requests += 1,
                ScanEvent::HostFinished {
                    state,
                    identified,
                    errored,
                    ..
                } => {
                    c.done += 1;
                    c.identified += u64::from(*identified);
                    c.errored += u64::from(*errored);
                    c.interrupted += u64::from(*state == HostState::Interrupted);
                    if let Some(bar) = &bar {
                        bar.inc(1);
                    }
                }
                ScanEvent::Stopping { reason } => c.stopping = Some(*reason),
                ScanEvent::Draining { connections, up_to } => {
                    c.draining = Some((*connections, *up_to));
                }
                _ => {}
            }
            if let Some(bar) = &bar {
                let now = Instant::now();
                let eta = eta(&c, now.duration_since(started));
                let rate = c.rate(now);
                let mut msg = format!("{} identified, {:.1} req/s", c.identified, rate);
                if let Some(eta) = eta {
                    msg.push_str(&format!(", ETA {}", human(eta)));
                }
                if let Some(r) = c.stopping {
                    msg.push_str(&format!(", stopping ({})", stop_text(r)));
                }
                if let Some((n, up_to)) = c.draining {
                    msg.push_str(&format!(
                        ", waiting up to {:.0} s for {n} device(s) to close a connection they hold open",
                        up_to.as_secs_f64()
                    ));
                }
                bar.set_message(msg);
            }
        })
    }

    /// Clears the bar and stops the ticker.
    pub fn finish(self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if let Some(t) = &self.ticker {
            t.abort();
        }
        let _ = self.mode;
    }
}

/// The later of: what the pacing plan still needs, and what the observed pace predicts.
fn eta(c: &Counts, elapsed: Duration) -> Option<Duration> {
    let total = c.total?;
    let left = total.saturating_sub(c.done);
    let planned_left = c.planned.map(|p| p.saturating_sub(elapsed));
    let observed = (c.done > 0).then(|| elapsed.mul_f64(left as f64 / c.done as f64));
    match (planned_left, observed) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_takes_the_later_of_plan_and_pace() {
        let mut c = Counts {
            total: Some(100),
            done: 50,
            planned: Some(Duration::from_secs(300)),
            ..Counts::default()
        };
        // Half done in 60 s: the pace says 60 s more, the plan 240 s more.
        assert_eq!(
            eta(&c, Duration::from_secs(60)),
            Some(Duration::from_secs(240))
        );
        c.planned = None;
        assert_eq!(
            eta(&c, Duration::from_secs(60)),
            Some(Duration::from_secs(60))
        );
        c.total = None;
        assert_eq!(eta(&c, Duration::from_secs(60)), None);
    }

    #[test]
    fn log_line_and_durations() {
        let mut c = Counts {
            total: Some(10),
            done: 3,
            identified: 2,
            errored: 1,
            requests: 7,
            stopping: Some(StopReason::WindowEnded),
            ..Counts::default()
        };
        let line = c.line(Instant::now());
        assert!(
            line.starts_with("3/10 hosts, 2 identified, 1 errored, 7 requests"),
            "{line}"
        );
        assert!(
            line.ends_with("stopping (maintenance window ended)"),
            "{line}"
        );
        assert_eq!(human(Duration::from_secs(59)), "59s");
        assert_eq!(human(Duration::from_secs(61)), "1m01s");
        assert_eq!(human(Duration::from_secs(3700)), "1h01m");
    }
}
