//! RFC 3339 timestamps in JSON (`#[serde(with = "crate::rfc3339")]`): the same text as
//! `time::serde::rfc3339` writes, for a fraction of its cost.
//!
//! `time`'s serializer formats through its generic formatting code into a fresh `String` for
//! every timestamp. A page of 50 masterclasses carried 300 of them (250 now that links have no
//! expiry), and at the size-optimised release profile the Lambdas ship that was 15 % of the
//! page's time (perf, `tests/README.md`, benchmarks). This writes the same characters into a stack
//! buffer with a few integer steps: `YYYY-MM-DDTHH:MM:SS`, then `.` and the nanoseconds without
//! trailing zeros when there are any, then `Z` for UTC or `±HH:MM`; the years and offsets RFC 3339 cannot express are refused, as
//! `time` refuses them. The unit tests compare the two over random instants, precisions and
//! offsets (seed printed). Reading is `time`'s own parser.

use serde::{Deserializer, Serializer, ser::Error as _};
use time::OffsetDateTime;

/// The longest text: `9999-12-31T23:59:59.999999999+23:59`.
const MAX_LEN: usize = 35;

/// `at` as RFC 3339 text in `buf`, or why it has none (a year outside 0 to 9999, an offset with
/// seconds or of a day or more).
fn format(at: &OffsetDateTime, buf: &mut [u8; MAX_LEN]) -> Result<usize, &'static str> {
    let year = at.year();
    if !(0..10_000).contains(&year) {
        return Err("the year cannot be written in RFC 3339");
    }
    let (offset_hours, offset_minutes, offset_seconds) = at.offset().as_hms();
    if offset_seconds != 0 || offset_hours.unsigned_abs() > 23 {
        return Err("the UTC offset cannot be written in RFC 3339");
    }
    // Fixed positions up to the seconds (no bounds checks, no calls), then what varies.
    let digit = |n: u32| b'0' + (n % 10) as u8;
    let year = year as u32;
    let fields = [
        (0, year / 1000),
        (1, year / 100),
        (2, year / 10),
        (3, year),
        (5, u32::from(u8::from(at.month())) / 10),
        (6, u32::from(u8::from(at.month()))),
        (8, u32::from(at.day()) / 10),
        (9, u32::from(at.day())),
        (11, u32::from(at.hour()) / 10),
        (12, u32::from(at.hour())),
        (14, u32::from(at.minute()) / 10),
        (15, u32::from(at.minute())),
        (17, u32::from(at.second()) / 10),
        (18, u32::from(at.second())),
    ];
    for (i, n) in fields {
        buf[i] = digit(n);
    }
    buf[4] = b'-';
    buf[7] = b'-';
    buf[10] = b'T';
    buf[13] = b':';
    buf[16] = b':';
    let mut len = 19;
    let nanos = at.nanosecond();
    if nanos != 0 {
        buf[19] = b'.';
        let mut rest = nanos;
        for i in (20..29).rev() {
            buf[i] = digit(rest);
            rest /= 10;
        }
        len = 29 - trailing_zeros(nanos);
    }
    if at.offset().is_utc() {
        buf[len] = b'Z';
        len += 1;
    } else {
        let (hours, minutes) = (offset_hours.unsigned_abs(), offset_minutes.unsigned_abs());
        buf[len] = if at.offset().is_negative() {
            b'-'
        } else {
            b'+'
        };
        buf[len + 1] = b'0' + hours / 10;
        buf[len + 2] = b'0' + hours % 10;
        buf[len + 3] = b':';
        buf[len + 4] = b'0' + minutes / 10;
        buf[len + 5] = b'0' + minutes % 10;
        len += 6;
    }
    Ok(len)
}

/// How many of `n`'s last decimal digits are zeros (at most 8 for nonzero nanoseconds).
fn trailing_zeros(mut n: u32) -> usize {
    let mut zeros = 0;
    while n != 0 && n.is_multiple_of(10) {
        n /= 10;
        zeros += 1;
    }
    zeros
}

pub fn serialize<S: Serializer>(at: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; MAX_LEN];
    let len = format(at, &mut buf).map_err(S::Error::custom)?;
    // Only ASCII digits and separators were written.
    let text = std::str::from_utf8(&buf[..len]).map_err(S::Error::custom)?;
    serializer.serialize_str(text)
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<OffsetDateTime, D::Error> {
    time::serde::rfc3339::deserialize(deserializer)
}

/// The same for an optional timestamp (`null` when absent).
pub mod option {
    use serde::{Deserializer, Serializer};
    use time::OffsetDateTime;

    pub fn serialize<S: Serializer>(
        at: &Option<OffsetDateTime>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => super::serialize(at, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        time::serde::rfc3339::option::deserialize(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng, rngs::StdRng};
    use time::{OffsetDateTime, UtcOffset, format_description::well_known::Rfc3339};

    fn ours(at: &OffsetDateTime) -> Result<String, &'static str> {
        let mut buf = [0u8; super::MAX_LEN];
        let len = super::format(at, &mut buf)?;
        Ok(String::from_utf8(buf[..len].to_vec()).unwrap())
    }

    #[test]
    fn writes_what_time_writes_for_random_instants_precisions_and_offsets() {
        let seed: u64 = std::env::var("SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(rand::random);
        println!("seed {seed} (SEED={seed} to replay)");
        let mut rng = StdRng::seed_from_u64(seed);
        let earliest = OffsetDateTime::parse("0000-01-01T00:00:00Z", &Rfc3339)
            .unwrap()
            .unix_timestamp();
        let latest = OffsetDateTime::parse("9999-12-31T23:59:59Z", &Rfc3339)
            .unwrap()
            .unix_timestamp();
        for _ in 0..20_000 {
            let seconds = rng.random_range(earliest..=latest);
            // Whole seconds, milli-, micro- and nanosecond precision, as Postgres and clocks give.
            let nanos = match rng.random_range(0..4) {
                0 => 0,
                1 => rng.random_range(0..1_000) * 1_000_000,
                2 => rng.random_range(0..1_000_000) * 1_000,
                _ => rng.random_range(0..1_000_000_000),
            };
            let hours: i8 = rng.random_range(-23..=23);
            let minutes: i8 = rng.random_range(0..60) * if hours < 0 { -1 } else { 1 };
            let offset = match rng.random_range(0..3) {
                0 => UtcOffset::UTC,
                _ => UtcOffset::from_hms(hours, minutes, 0).unwrap(),
            };
            let at = OffsetDateTime::from_unix_timestamp(seconds)
                .unwrap()
                .replace_nanosecond(nanos)
                .unwrap()
                .to_offset(offset);
            // An instant near the ends may move out of 0..=9999 in its offset: both refuse it.
            let theirs = at.format(&Rfc3339).ok();
            assert_eq!(ours(&at).ok(), theirs, "{at:?} (seed {seed})");
        }
    }

    #[test]
    fn refuses_what_rfc_3339_cannot_say() {
        let at = OffsetDateTime::parse("2026-12-02T10:00:00Z", &Rfc3339).unwrap();
        let seconds_offset = at.to_offset(UtcOffset::from_hms(1, 0, 30).unwrap());
        assert!(ours(&seconds_offset).is_err());
        assert!(seconds_offset.format(&Rfc3339).is_err());
        let year_minus_1 = OffsetDateTime::parse("0000-01-01T00:30:00Z", &Rfc3339)
            .unwrap()
            .to_offset(UtcOffset::from_hms(-1, 0, 0).unwrap());
        assert_eq!(year_minus_1.year(), -1);
        assert!(ours(&year_minus_1).is_err());
        assert!(year_minus_1.format(&Rfc3339).is_err());
        let negative_half_hour = at.to_offset(UtcOffset::from_hms(0, -30, 0).unwrap());
        assert_eq!(
            ours(&negative_half_hour).unwrap(),
            negative_half_hour.format(&Rfc3339).unwrap()
        );
    }

    #[test]
    fn serializes_as_a_json_string_and_reads_back() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Row {
            #[serde(with = "super")]
            at: OffsetDateTime,
            #[serde(with = "super::option")]
            maybe: Option<OffsetDateTime>,
        }
        let at = OffsetDateTime::parse("2026-12-02T10:00:00.120Z", &Rfc3339).unwrap();
        let row = Row { at, maybe: None };
        let text = serde_json::to_string(&row).unwrap();
        assert_eq!(text, r#"{"at":"2026-12-02T10:00:00.12Z","maybe":null}"#);
        assert_eq!(serde_json::from_str::<Row>(&text).unwrap(), row);
    }
}
