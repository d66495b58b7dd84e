//! What a running plugin reports through the host interface, on its way to
//! the mission's log and progress.

/// Something a running plugin reported through the host interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// A log line: its level and message.
    Log { level: LogLevel, message: String },
    /// Progress: percent (0..=100) and a note.
    Progress { percent: u8, message: String },
}

impl Report {
    /// Bytes of text it carries (what the reports' byte budget counts).
    pub fn bytes(&self) -> usize {
        match self {
            Report::Log { message, .. } | Report::Progress { message, .. } => message.len(),
        }
    }
}

/// The level of a log line: the same four in the WIT, the API and the stored
/// log (`{ts, level, source, message}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Detail for debugging.
    Debug,
    /// The normal course.
    Info,
    /// Something to look at.
    Warn,
    /// Something failed.
    Error,
}

impl LogLevel {
    /// Every level, lowest first.
    pub const ALL: [LogLevel; 4] = [LogLevel::Debug, LogLevel::Info, LogLevel::Warn, LogLevel::Error];

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

impl std::fmt::Display for LogLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for LogLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        LogLevel::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| "`level` must be debug, info, warn or error".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_level_reads_back_its_name_and_refuses_others() {
        for l in LogLevel::ALL {
            assert_eq!(l.as_str().parse::<LogLevel>(), Ok(l));
            assert_eq!(serde_json::to_value(l).expect("JSON"), l.as_str());
        }
        assert!("INFO".parse::<LogLevel>().is_err() && "trace".parse::<LogLevel>().is_err());
    }
}
