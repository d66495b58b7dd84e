//! The layout of an event's stream entry (EVENTS.md, "Stream entries"): one
//! field `e` whose parts are separated by [`PACKED_SEPARATOR`]. Building the
//! envelope from an entry is [`Event::from_entry`]'s.
//!
//! [`Event::from_entry`]: super::events::Event::from_entry

/// Separates the parts of a packed entry's `e` field.
pub const PACKED_SEPARATOR: char = '\u{1f}';

/// The seven parts of a packed entry's `e` (type, mission, tenant, source,
/// cid, tp, payload). The payload is JSON, where U+001F is always escaped.
pub(crate) fn unpack(e: &str) -> Option<[&str; 7]> {
    let mut parts = e.splitn(7, PACKED_SEPARATOR);
    let mut out = [""; 7];
    for slot in &mut out {
        *slot = parts.next()?;
    }
    Some(out)
}

/// The mission an entry concerns, read from its fields (either layout)
/// without building the event: a cheap filter before `Event::from_entry`.
pub fn entry_mission(fields: &[String]) -> Option<&str> {
    fields
        .chunks(2)
        .find_map(|kv| match (kv[0].as_str(), kv.get(1)) {
            ("e", Some(v)) => v.split(PACKED_SEPARATOR).nth(1),
            ("mission", Some(v)) => Some(v.as_str()),
            _ => None,
        })
        .filter(|m| !m.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(fields: &[&str]) -> Vec<String> {
        fields.iter().map(|s| (*s).to_owned()).collect()
    }

    fn packed(parts: &[&str]) -> String {
        parts.join(&PACKED_SEPARATOR.to_string())
    }

    #[test]
    fn an_entry_has_seven_parts_and_names_its_mission_in_either_layout() {
        let e = packed(&["mission.progress", "m1", "acme", "h1", "", "", r#"{"percent":5}"#]);
        assert_eq!(unpack(&e), Some(["mission.progress", "m1", "acme", "h1", "", "", r#"{"percent":5}"#]));
        assert_eq!(unpack(&packed(&["mission.progress", "m1", "acme", "h1", "", "{}"])), None, "a part missing");
        assert_eq!(entry_mission(&entry(&["e", &e])), Some("m1"));
        assert_eq!(entry_mission(&entry(&["type", "x", "mission", "m2", "payload", "{}"])), Some("m2"));
        let shared = packed(&["plugin.activated", "", "", "h", "", "", "{}"]);
        assert_eq!(entry_mission(&entry(&["e", &shared])), None);
        assert_eq!(entry_mission(&entry(&["type", "x", "payload", "{}"])), None);
    }
}
