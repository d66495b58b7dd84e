//! When a schedule ticks, and what one look at a due schedule does: which
//! ticks create missions, which are skipped (overlap, catch-up), which one
//! waits (`buffer_one`) and when the next tick is. Pure functions of the spec,
//! the stored state and the time: the fire script only checks that the state
//! it was computed from is still the stored one (compare-and-set), so hosts
//! may compute it concurrently and exactly one applies it.

use chrono::{DateTime, TimeZone as _};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};

use super::schedule::{CatchUp, InvalidSchedule, Overlap, ScheduleSpec};

/// How a schedule's ticks fall.
#[derive(Debug, Clone)]
pub enum Timing {
    /// A cron expression in a time zone (daylight saving as `croner` documents it:
    /// a fixed time in the spring-forward gap runs just after the gap; in the
    /// fall-back hour a fixed time runs once, wildcards for each pass).
    Cron {
        /// The parsed expression.
        cron: Box<Cron>,
        /// Its zone.
        tz: Tz,
    },
    /// Every `every_ms`, at `anchor_ms + k * every_ms`.
    Interval {
        /// The period.
        every_ms: i64,
        /// A tick.
        anchor_ms: i64,
    },
}

fn bad(field: &str, message: impl Into<String>) -> InvalidSchedule {
    InvalidSchedule { field: field.to_owned(), message: message.into() }
}

impl Timing {
    /// The timing of `spec`; names `cron` or `timezone` when it cannot be parsed.
    pub fn of(spec: &ScheduleSpec) -> Result<Timing, InvalidSchedule> {
        match (&spec.cron, spec.interval_ms) {
            (Some(expr), _) => {
                let cron = CronParser::builder()
                    .seconds(Seconds::Optional)
                    .build()
                    .parse(expr)
                    .map_err(|e| bad("cron", format!("is not a cron expression: {e}")))?;
                let zone = spec.timezone.as_deref().unwrap_or("UTC");
                let tz: Tz = zone.parse().map_err(|_| bad("timezone", format!("`{zone}` is not an IANA time zone")))?;
                Ok(Timing::Cron { cron: Box::new(cron), tz })
            }
            (None, Some(ms)) if ms > 0 => {
                Ok(Timing::Interval { every_ms: i64::try_from(ms).unwrap_or(i64::MAX), anchor_ms: spec.anchor_ms })
            }
            _ => Err(bad("interval_ms", "must be positive")),
        }
    }

    fn zoned(tz: Tz, ms: i64) -> Option<DateTime<Tz>> {
        tz.timestamp_millis_opt(ms).single()
    }

    /// The first tick strictly after `ms`.
    pub fn next_after(&self, ms: i64) -> Option<i64> {
        match self {
            Timing::Cron { cron, tz } => {
                let t = Self::zoned(*tz, ms)?;
                cron.find_next_occurrence(&t, false).ok().map(|n| n.timestamp_millis())
            }
            Timing::Interval { every_ms, anchor_ms } => {
                if ms < *anchor_ms {
                    return Some(*anchor_ms);
                }
                let k = (ms - anchor_ms) / every_ms + 1;
                anchor_ms.checked_add(k.checked_mul(*every_ms)?)
            }
        }
    }

    /// The first tick at or after `ms`.
    pub fn first_from(&self, ms: i64) -> Option<i64> {
        self.next_after(ms - 1)
    }

    /// The last tick at or before `ms`.
    pub fn last_until(&self, ms: i64) -> Option<i64> {
        match self {
            Timing::Cron { cron, tz } => {
                let t = Self::zoned(*tz, ms)?;
                cron.find_previous_occurrence(&t, true).ok().map(|n| n.timestamp_millis())
            }
            Timing::Interval { every_ms, anchor_ms } => {
                (ms >= *anchor_ms).then(|| anchor_ms + (ms - anchor_ms) / every_ms * every_ms)
            }
        }
    }

    /// Refuses a cron expression two of whose next ticks (from `now`, over
    /// the next 100) come closer than `min_ms`.
    pub fn check_min_gap(&self, now: i64, min_ms: u64) -> Result<(), InvalidSchedule> {
        let Some(mut prev) = self.next_after(now) else {
            return Err(bad("cron", "never ticks"));
        };
        for _ in 0..100 {
            let Some(next) = self.next_after(prev) else { break };
            if ((next - prev) as u64) < min_ms {
                return Err(bad("cron", format!("ticks {} ms apart; the minimum is {min_ms} ms", next - prev)));
            }
            prev = next;
        }
        Ok(())
    }
}

/// A schedule's first tick from `now` (creation, update, resume): at or after
/// `start_at` and `now`, `None` past `end_at`.
pub fn first_tick(timing: &Timing, spec: &ScheduleSpec, now: i64) -> Option<i64> {
    let from = spec.start_ms.map_or(now, |s| s.max(now));
    timing.first_from(from).filter(|&t| spec.end_ms.is_none_or(|e| t <= e))
}

/// What the host saw of the schedule when it computed a [`Plan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// The stored next tick (`None`: no more ticks).
    pub next_ms: Option<i64>,
    /// A tick waiting for the previous mission.
    pub buffered_ms: Option<i64>,
    /// Whether the last tick's mission has not finished.
    pub last_running: bool,
}

/// Why a tick created no mission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The previous tick's mission was still running (`skip`).
    Overlap,
    /// A later tick took its place in the buffer (`buffer_one`).
    Replaced,
    /// The template no longer passes the submission checks (defaults changed).
    Invalid,
}

impl SkipReason {
    /// The name in events.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Overlap => "overlap",
            SkipReason::Replaced => "replaced",
            SkipReason::Invalid => "invalid_template",
        }
    }
}

/// What one look at a due schedule does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Ticks that create a mission, oldest first.
    pub fire: Vec<i64>,
    /// Ticks skipped one by one.
    pub skipped: Vec<(i64, SkipReason)>,
    /// Missed ticks skipped by the catch-up policy: the first and the last.
    pub missed: Option<(i64, i64)>,
    /// The tick waiting after this step (`buffer_one`).
    pub buffered: Option<i64>,
    /// The next tick after this step.
    pub next_ms: Option<i64>,
}

impl Plan {
    /// Whether the step changes nothing.
    pub fn is_noop(&self, seen: &Seen) -> bool {
        self.fire.is_empty()
            && self.skipped.is_empty()
            && self.missed.is_none()
            && self.buffered == seen.buffered_ms
            && self.next_ms == seen.next_ms
    }
}

/// Ticks of `timing` in `[from, until]`, newest first, at most `n`.
fn newest(timing: &Timing, from: i64, until: i64, n: usize) -> Vec<i64> {
    let mut out = Vec::new();
    let mut at = until;
    while out.len() < n {
        match timing.last_until(at) {
            Some(t) if t >= from => {
                out.push(t);
                at = t - 1;
            }
            _ => break,
        }
    }
    out
}

/// The step for a schedule seen as `seen` at `now` (all Unix ms); ticks up to
/// `grace_ms` late are on time, older ones were missed and follow the
/// catch-up policy.
pub fn plan(timing: &Timing, spec: &ScheduleSpec, seen: &Seen, now: i64, grace_ms: i64) -> Plan {
    let mut p = Plan { next_ms: seen.next_ms, buffered: seen.buffered_ms, ..Plan::default() };
    // Ticks due now, oldest first: on-time ones always, missed ones as the policy says.
    let mut due = Vec::new();
    if let Some(next) = seen.next_ms.filter(|&n| n <= now) {
        let until = spec.end_ms.map_or(now, |e| e.min(now));
        let cutoff = now - grace_ms;
        // Ticks within the grace: a handful at most (the interval is >= 1 s).
        let mut on_time = newest(timing, next.max(cutoff), until, 64);
        on_time.reverse();
        let missed_last = timing.last_until(cutoff - 1).filter(|&t| t >= next && t <= until);
        if let Some(last) = missed_last {
            let keep = match spec.catch_up {
                CatchUp::None => Vec::new(),
                CatchUp::Latest => vec![last],
                CatchUp::All => newest(timing, next, last, spec.catch_up_cap as usize),
            };
            // `keep` is newest first; what is older than its oldest was skipped.
            let skipped_until = match keep.last() {
                Some(&oldest) => timing.last_until(oldest - 1).filter(|&t| t >= next),
                None => Some(last),
            };
            if let Some(until) = skipped_until {
                p.missed = Some((next, until));
            }
            due.extend(keep.into_iter().rev());
        }
        due.extend(on_time);
        p.next_ms = timing.next_after(now.max(next)).filter(|&t| spec.end_ms.is_none_or(|e| t <= e));
    }
    let mut running = seen.last_running;
    if let Some(b) = p.buffered
        && !running
    {
        p.fire.push(b);
        p.buffered = None;
        running = true;
    }
    for t in due {
        if !running || spec.overlap == Overlap::Allow {
            p.fire.push(t);
            running = true;
        } else if spec.overlap == Overlap::Skip {
            p.skipped.push((t, SkipReason::Overlap));
        } else if let Some(old) = p.buffered.replace(t) {
            p.skipped.push((old, SkipReason::Replaced));
        }
    }
    p
}

/// When the due set should look at the schedule again after `plan`: its next
/// tick, or soon while a tick is buffered (it fires once the previous mission
/// finishes); `None`: never again.
pub fn due_at(plan: &Plan, now: i64, recheck_ms: i64) -> Option<i64> {
    let buffered = plan.buffered.map(|_| now + recheck_ms);
    match (plan.next_ms, buffered) {
        (Some(n), Some(b)) => Some(n.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::schedule::ScheduleSpec;
    use chrono::{NaiveDate, TimeZone, Utc};
    use serde_json::value::RawValue;

    fn spec(cron: Option<&str>, tz: &str, interval: Option<u64>) -> ScheduleSpec {
        ScheduleSpec {
            cron: cron.map(str::to_owned),
            timezone: cron.map(|_| tz.to_owned()),
            interval_ms: interval,
            anchor_ms: 0,
            mission: RawValue::from_string("{}".into()).unwrap(),
            overlap: Overlap::Skip,
            catch_up: CatchUp::None,
            catch_up_cap: 3,
            start_ms: None,
            end_ms: None,
        }
    }

    fn berlin(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
        chrono_tz::Europe::Berlin
            .from_local_datetime(&NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(h, min, 0).unwrap())
            .earliest()
            .unwrap()
            .timestamp_millis()
    }

    fn utc(ms: i64) -> String {
        Utc.timestamp_millis_opt(ms).unwrap().format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }

    /// Pins croner's documented daylight-saving behaviour for a daily 02:30 in
    /// Berlin: on 2026-03-29 02:30 does not exist (02:00 -> 03:00) and the job
    /// runs at the first time after the gap, 03:00 CEST (01:00 UTC); on
    /// 2026-10-25 02:30 happens twice (03:00 -> 02:00) and the job runs once,
    /// at the first, 02:30 CEST (00:30 UTC).
    #[test]
    fn a_daily_0230_in_berlin_across_both_daylight_saving_changes() {
        let t = Timing::of(&spec(Some("0 30 2 * * *"), "Europe/Berlin", None)).unwrap();
        let day_before_spring = berlin(2026, 3, 28, 12, 0);
        let spring = t.next_after(day_before_spring).unwrap();
        assert_eq!(utc(spring), "2026-03-29T01:00:00Z", "the gap day runs just after the gap");
        assert_eq!(utc(t.next_after(spring).unwrap()), "2026-03-30T00:30:00Z", "then 02:30 CEST again");
        let day_before_fall = berlin(2026, 10, 24, 12, 0);
        let fall = t.next_after(day_before_fall).unwrap();
        assert_eq!(utc(fall), "2026-10-25T00:30:00Z", "the first 02:30 (CEST)");
        assert_eq!(utc(t.next_after(fall).unwrap()), "2026-10-26T01:30:00Z", "not again at 02:30 CET that day");
        // An hourly wildcard job runs in both passes of the repeated hour.
        let hourly = Timing::of(&spec(Some("0 30 * * * *"), "Europe/Berlin", None)).unwrap();
        let first = hourly.next_after(berlin(2026, 10, 25, 1, 45)).unwrap();
        let second = hourly.next_after(first).unwrap();
        assert_eq!((utc(first), utc(second)), ("2026-10-25T00:30:00Z".into(), "2026-10-25T01:30:00Z".into()));
        // Backwards too: the last tick before 04:00 CEST on the gap day.
        assert_eq!(utc(t.last_until(berlin(2026, 3, 29, 4, 0)).unwrap()), "2026-03-29T01:00:00Z");
    }

    #[test]
    fn interval_ticks_count_from_the_anchor() {
        let t = Timing::Interval { every_ms: 1000, anchor_ms: 500 };
        assert_eq!(t.next_after(0), Some(500));
        assert_eq!(t.next_after(500), Some(1500));
        assert_eq!(t.first_from(1500), Some(1500));
        assert_eq!(t.last_until(2499), Some(1500));
        assert_eq!(t.last_until(499), None);
    }

    fn seen(next: i64, running: bool) -> Seen {
        Seen { next_ms: Some(next), buffered_ms: None, last_running: running }
    }

    #[test]
    fn an_on_time_tick_fires_and_the_next_one_is_set() {
        let mut s = spec(None, "", Some(1000));
        let t = Timing::of(&s).unwrap();
        let p = plan(&t, &s, &seen(5000, false), 5100, 2000);
        assert_eq!((p.fire.clone(), p.next_ms, p.missed), (vec![5000], Some(6000), None));
        // Not due yet: nothing.
        assert!(plan(&t, &s, &seen(6000, false), 5100, 2000).is_noop(&seen(6000, false)));
        // Past the end: no next tick.
        s.end_ms = Some(5500);
        assert_eq!(plan(&t, &s, &seen(5000, false), 5100, 2000).next_ms, None);
    }

    #[test]
    fn catch_up_policies_choose_among_missed_ticks() {
        let mut s = spec(None, "", Some(1000));
        s.overlap = Overlap::Allow;
        let t = Timing::of(&s).unwrap();
        // Down from tick 1000 to 10_500: ticks 1000..=8000 missed, 9000 and 10000 on time.
        let at = |s: &ScheduleSpec| plan(&t, s, &seen(1000, false), 10_500, 2000);
        let p = at(&s);
        assert_eq!((p.fire.clone(), p.missed), (vec![9000, 10_000], Some((1000, 8000))));
        s.catch_up = CatchUp::Latest;
        let p = at(&s);
        assert_eq!((p.fire.clone(), p.missed), (vec![8000, 9000, 10_000], Some((1000, 7000))), "the latest missed too");
        let late = plan(&t, &s, &seen(1000, false), 20_500, 500);
        assert_eq!((late.fire.clone(), late.missed), (vec![19_000, 20_000], Some((1000, 18_000))));
        s.catch_up = CatchUp::All;
        let p = plan(&t, &s, &seen(1000, false), 20_500, 500);
        assert_eq!(
            (p.fire.clone(), p.missed),
            (vec![17_000, 18_000, 19_000, 20_000], Some((1000, 16_000))),
            "3 missed and the on-time one"
        );
        assert_eq!(p.next_ms, Some(21_000));
    }

    #[test]
    fn overlap_policies() {
        let mut s = spec(None, "", Some(1000));
        let t = Timing::of(&s).unwrap();
        let p = plan(&t, &s, &seen(5000, true), 5100, 2000);
        assert_eq!((p.fire.clone(), p.skipped.clone()), (vec![], vec![(5000, SkipReason::Overlap)]));
        s.overlap = Overlap::Allow;
        assert_eq!(plan(&t, &s, &seen(5000, true), 5100, 2000).fire, vec![5000]);
        s.overlap = Overlap::BufferOne;
        let p = plan(&t, &s, &seen(5000, true), 5100, 2000);
        assert_eq!((p.fire.clone(), p.buffered), (vec![], Some(5000)));
        let again = Seen { next_ms: Some(6000), buffered_ms: Some(5000), last_running: true };
        let p = plan(&t, &s, &again, 6100, 2000);
        assert_eq!((p.buffered, p.skipped.clone()), (Some(6000), vec![(5000, SkipReason::Replaced)]));
        // The previous mission finished: the buffered tick fires, before its next is due.
        let done = Seen { next_ms: Some(7000), buffered_ms: Some(6000), last_running: false };
        let p = plan(&t, &s, &done, 6500, 2000);
        assert_eq!((p.fire.clone(), p.buffered, p.next_ms), (vec![6000], None, Some(7000)));
        assert_eq!(due_at(&p, 6500, 500), Some(7000));
    }
}
