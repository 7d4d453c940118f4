//! Timestamp forms of tcpdump's `-t` family.

use core::fmt::Write;

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    // Howard Hinnant's days-to-civil algorithm (public domain description).
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `HH:MM:SS.ffffff` of a local time (seconds already shifted by the UTC offset).
pub(crate) fn hms(out: &mut String, local_secs: i64, usec: u32) {
    let s = local_secs.rem_euclid(86_400);
    let _ = write!(
        out,
        "{:02}:{:02}:{:02}.{:06}",
        s / 3600,
        (s / 60) % 60,
        s % 60,
        usec
    );
}

/// `YYYY-MM-DD HH:MM:SS.ffffff` of a local time.
pub(crate) fn date_hms(out: &mut String, local_secs: i64, usec: u32) {
    let (y, m, d) = civil_from_days(local_secs.div_euclid(86_400));
    let _ = write!(out, "{y:04}-{m:02}-{d:02} ");
    hms(out, local_secs, usec);
}

/// tcpdump's `-ttt` delta: a sign column (space or `-`) and `HH:MM:SS.ffffff`, the hours
/// wrapped at 24 as tcpdump does (it formats the delta as a time of day).
pub(crate) fn delta(out: &mut String, neg: bool, s: u64, usec: u32) {
    let _ = write!(
        out,
        "{}{:02}:{:02}:{:02}.{:06}",
        if neg { "-" } else { " " },
        (s / 3600) % 24,
        (s / 60) % 60,
        s % 60,
        usec
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let mut s = String::new();
        date_hms(&mut s, 1_700_000_000, 5);
        assert_eq!(s, "2023-11-14 22:13:20.000005");
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
