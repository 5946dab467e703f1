//! What every protocol's profile section shares: the schema vocabulary the profile loader
//! checks keys and types with, and the range checks its validation uses. The profile
//! (`crate::profile`) owns the file format and the hard caps; each protocol folder's
//! `settings.rs` owns its section.

/// The type each key of the schema takes.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Str,
    /// A list of strings without control characters.
    StrList,
    Bool,
    Float,
    UInt(u64),
    Enum(&'static [&'static str]),
    UIntList(u64),
    EnumList(&'static [&'static str]),
    Table,
    RuleList,
}

/// A key whose value is out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} {problem}")]
pub struct Invalid {
    /// Dotted key, e.g. `pacing.max_rate`.
    pub key: String,
    pub problem: String,
}

/// An [`Invalid`] for `key`.
pub fn bad(key: &str, problem: String) -> Result<(), Invalid> {
    Err(Invalid {
        key: key.to_string(),
        problem,
    })
}

pub fn range_u64(key: &str, v: u64, min: u64, max: u64) -> Result<(), Invalid> {
    if v < min || v > max {
        let hard_floor = key.contains("cooldown") || key.contains("host_interval");
        let hard_ceiling = matches!(
            key,
            "pacing.hosts_in_flight" | "pacing.burst" | "pacing.retries"
        );
        let cap = if (v < min && hard_floor) || (v > max && hard_ceiling) {
            " (hard limit)"
        } else {
            ""
        };
        let problem = if v < min {
            format!("must be at least {min}{cap}, got {v}")
        } else {
            format!("must be at most {max}{cap}, got {v}")
        };
        return Err(Invalid {
            key: key.to_string(),
            problem,
        });
    }
    Ok(())
}

pub fn list_len(key: &str, len: usize, max: usize) -> Result<(), Invalid> {
    if len == 0 || len > max {
        return Err(Invalid {
            key: key.to_string(),
            problem: format!("must hold 1 to {max} entries, got {len}"),
        });
    }
    Ok(())
}

pub fn no_dups<T: PartialEq + std::fmt::Debug>(key: &str, v: &[T]) -> Result<(), Invalid> {
    for (i, a) in v.iter().enumerate() {
        if v[..i].contains(a) {
            return Err(Invalid {
                key: key.to_string(),
                problem: format!("holds {a:?} twice"),
            });
        }
    }
    Ok(())
}
