//! What a running plugin reports through the host interface, on its way to
//! the mission's log and progress.

/// Something a running plugin reported through the host interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// A log line: level name and message.
    Log { level: &'static str, message: String },
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
