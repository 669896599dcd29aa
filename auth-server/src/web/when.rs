//! Times as the pages and the command line show them: RFC 3339 in UTC for machines and
//! operators, and "3 days ago" in words for people (with the exact time beside it).

use mcp_auth_core::UnixTime;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `unix` seconds as an RFC 3339 UTC date and time, e.g. `2027-01-15T08:00:00Z`; the number
/// itself when it is outside the years the calendar can show.
pub fn rfc3339(unix: UnixTime) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}

/// How long before `now` the moment `then` was, in words: "just now" (under a minute), "5
/// minutes ago", "1 hour ago", "3 days ago", then the date ("on 2027-01-15") from 30 days on. A
/// moment after `now` (clock skew between nodes) is "just now".
pub fn ago(then: UnixTime, now: UnixTime) -> String {
    let seconds = now.saturating_sub(then).max(0);
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit} ago")
        } else {
            format!("{n} {unit}s ago")
        }
    };
    match seconds {
        0..60 => "just now".to_owned(),
        60..3600 => plural(seconds / 60, "minute"),
        3600..86_400 => plural(seconds / 3600, "hour"),
        86_400..2_592_000 => plural(seconds / 86_400, "day"),
        _ => format!("on {}", &rfc3339(then)[..10]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(1_800_000_000), "2027-01-15T08:00:00Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn ago_reads_in_words() {
        let now = 1_800_000_000;
        assert_eq!(ago(now, now), "just now");
        assert_eq!(ago(now + 30, now), "just now");
        assert_eq!(ago(now - 59, now), "just now");
        assert_eq!(ago(now - 60, now), "1 minute ago");
        assert_eq!(ago(now - 5 * 60, now), "5 minutes ago");
        assert_eq!(ago(now - 3600, now), "1 hour ago");
        assert_eq!(ago(now - 3 * 86_400, now), "3 days ago");
        assert_eq!(ago(now - 40 * 86_400, now), "on 2026-12-06");
    }
}
