//! Hybrid logical clocks: timestamps that follow wall time, never go backwards on one node, and
//! order every write of every node totally.
//!
//! The wire form is `<wall>-<counter>-<node>`: wall time in milliseconds since the Unix epoch,
//! zero-padded to 13 digits; a counter (0–99999) that orders events within one millisecond,
//! zero-padded to 5 digits; and the node (a device's client id, or `server`), 1 to 64 of
//! `[A-Za-z0-9_]` or `-`. Fixed widths make the strings sort as the clocks do, so Postgres can
//! compare them as text. Example: `1795430400000-00002-3f0c8a4e9b1d4c2aa1d2e3f405060708`.

use std::{cmp::Ordering, fmt, str::FromStr};

/// The furthest ahead of the server's clock a pushed timestamp may be. A device whose clock is
/// further ahead would otherwise win every later merge until real time caught up: its
/// mutations are rejected instead (`validation` on `hlc`), and the server's clock, sent with
/// every response, lets the client move its own forward correctly.
pub const MAX_AHEAD_MS: u64 = 5 * 60 * 1000;

const MAX_COUNTER: u32 = 99_999;

/// The server's own node: REST writes and every answer's `server_hlc` are on it, so no device
/// may claim it.
pub const SERVER_NODE: &str = "server";

/// One timestamp.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Hlc {
    wall_ms: u64,
    counter: u32,
    node: String,
}

impl Hlc {
    /// A timestamp for `node` (checked as [`FromStr`] does).
    pub fn new(wall_ms: u64, counter: u32, node: &str) -> Result<Self, String> {
        if wall_ms > 9_999_999_999_999 {
            return Err("wall time must fit 13 digits of milliseconds".into());
        }
        if counter > MAX_COUNTER {
            return Err(format!("counter must be at most {MAX_COUNTER}"));
        }
        if node.is_empty()
            || node.len() > 64
            || !node
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err("node must be 1 to 64 of A-Z, a-z, 0-9, _ and -".into());
        }
        Ok(Self {
            wall_ms,
            counter,
            node: node.to_owned(),
        })
    }

    /// The server's timestamp for wall time `wall_ms` (as `sync_server_hlc()` makes in SQL).
    pub fn server(wall_ms: u64) -> Self {
        Self {
            wall_ms,
            counter: 0,
            node: SERVER_NODE.into(),
        }
    }

    pub fn wall_ms(&self) -> u64 {
        self.wall_ms
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// Is this timestamp acceptable from a client when the server's wall clock reads `now_ms`?
    pub fn within_drift(&self, now_ms: u64) -> bool {
        self.wall_ms <= now_ms.saturating_add(MAX_AHEAD_MS)
    }
}

impl fmt::Display for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:013}-{:05}-{}", self.wall_ms, self.counter, self.node)
    }
}

impl FromStr for Hlc {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let shape = || format!("{raw:?} is not <13-digit milliseconds>-<5-digit counter>-<node>");
        let mut parts = raw.splitn(3, '-');
        let (Some(wall), Some(counter), Some(node)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(shape());
        };
        if wall.len() != 13
            || counter.len() != 5
            || !wall
                .bytes()
                .chain(counter.bytes())
                .all(|b| b.is_ascii_digit())
        {
            return Err(shape());
        }
        Self::new(
            wall.parse().map_err(|_| shape())?,
            counter.parse().map_err(|_| shape())?,
            node,
        )
    }
}

impl Ord for Hlc {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.wall_ms, self.counter, &self.node).cmp(&(other.wall_ms, other.counter, &other.node))
    }
}

impl PartialOrd for Hlc {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl serde::Serialize for Hlc {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Hlc {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

/// A node's clock: hands out timestamps that only go up, and folds in the timestamps it
/// receives so that what it writes next orders after what it has seen.
#[derive(Debug, Clone)]
pub struct Clock {
    last: Hlc,
}

impl Clock {
    pub fn new(node: &str) -> Result<Self, String> {
        Ok(Self {
            last: Hlc::new(0, 0, node)?,
        })
    }

    /// A timestamp for a local event at wall time `now_ms`.
    pub fn tick(&mut self, now_ms: u64) -> Hlc {
        let wall = self.last.wall_ms.max(now_ms);
        self.advance(
            wall,
            (wall == self.last.wall_ms).then_some(self.last.counter),
        )
    }

    /// Folds in `remote` (a timestamp received) at wall time `now_ms`.
    pub fn observe(&mut self, remote: &Hlc, now_ms: u64) -> Hlc {
        let wall = self.last.wall_ms.max(remote.wall_ms).max(now_ms);
        let seen = match (wall == self.last.wall_ms, wall == remote.wall_ms) {
            (true, true) => Some(self.last.counter.max(remote.counter)),
            (true, false) => Some(self.last.counter),
            (false, true) => Some(remote.counter),
            (false, false) => None,
        };
        self.advance(wall, seen)
    }

    /// The next timestamp at `wall`, after counter `seen` when that millisecond was already used.
    /// A full counter borrows the next millisecond, so the clock never repeats or goes back.
    fn advance(&mut self, wall: u64, seen: Option<u32>) -> Hlc {
        let (wall, counter) = match seen {
            None => (wall, 0),
            Some(c) if c < MAX_COUNTER => (wall, c + 1),
            Some(_) => (wall + 1, 0),
        };
        self.last = Hlc {
            wall_ms: wall,
            counter,
            node: self.last.node.clone(),
        };
        self.last.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_form_round_trips_and_sorts_as_the_clocks_do() {
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        let mut stamps = Vec::new();
        for _ in 0..500 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let node = ["a", "b", "server", "Z-9_"][(rng % 4) as usize];
            let hlc = Hlc::new(rng % 2_000_000_000_000, (rng >> 20) as u32 % 100, node).unwrap();
            assert_eq!(hlc.to_string().parse::<Hlc>().unwrap(), hlc);
            stamps.push(hlc);
        }
        let mut by_clock = stamps.clone();
        by_clock.sort();
        let mut by_text: Vec<String> = stamps.iter().map(Hlc::to_string).collect();
        by_text.sort();
        let by_clock: Vec<String> = by_clock.iter().map(Hlc::to_string).collect();
        assert_eq!(by_clock, by_text);
    }

    #[test]
    fn malformed_timestamps_are_refused() {
        for raw in [
            "",
            "1795430400000-00000",
            "179543040000-00000-a",
            "1795430400000-0000-a",
            "1795430400000-00000-",
            "1795430400000-00000-a b",
            "+795430400000-00000-a",
            "1795430400000-0000x-a",
        ] {
            assert!(raw.parse::<Hlc>().is_err(), "{raw:?} was accepted");
        }
        assert!("1795430400000-00000-dev-1".parse::<Hlc>().is_ok());
    }

    #[test]
    fn a_clock_never_goes_back_even_when_the_wall_clock_does() {
        let mut clock = Clock::new("dev").unwrap();
        let mut last = clock.tick(1_000);
        for now in [1_000, 999, 5, 1_001, 1_001, 0, 2_000] {
            let next = clock.tick(now);
            assert!(next > last, "{next} after {last}");
            last = next;
        }
        assert_eq!(last.wall_ms(), 2_000);
    }

    #[test]
    fn a_clock_orders_what_it_writes_after_what_it_has_seen() {
        let mut mine = Clock::new("a").unwrap();
        let remote = Hlc::new(50_000, 7, "b").unwrap();
        let seen = mine.observe(&remote, 10_000);
        assert!(seen > remote);
        let next = mine.tick(10_001);
        assert!(next > remote, "{next} should follow {remote}");
        assert_eq!(
            next.wall_ms(),
            50_000,
            "the wall part follows the largest clock seen"
        );
    }

    #[test]
    fn a_full_counter_borrows_the_next_millisecond() {
        let mut clock = Clock::new("a").unwrap();
        let next = clock.observe(&Hlc::new(10, MAX_COUNTER, "b").unwrap(), 0);
        assert_eq!(next.to_string(), format!("{:013}-00000-a", 11));
        assert_eq!(clock.tick(0).to_string(), format!("{:013}-00001-a", 11));
    }

    #[test]
    fn the_drift_bound_admits_up_to_five_minutes_ahead() {
        let now = 1_795_430_400_000;
        assert!(
            Hlc::new(now + MAX_AHEAD_MS, 0, "a")
                .unwrap()
                .within_drift(now)
        );
        assert!(
            !Hlc::new(now + MAX_AHEAD_MS + 1, 0, "a")
                .unwrap()
                .within_drift(now)
        );
        assert!(
            Hlc::new(0, 0, "a").unwrap().within_drift(now),
            "old clocks are offline devices"
        );
    }

    /// The vectors the browser package's clock (`shared/client/src/hlc.ts`) passes too, so both
    /// sides read, order and advance clocks alike.
    #[test]
    fn the_shared_vectors_pass() {
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../../client/test/hlc-vectors.json")).unwrap();
        for case in vectors["parse"].as_array().unwrap() {
            let raw = case["raw"].as_str().unwrap();
            let read: Hlc = raw.parse().unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(read.wall_ms(), case["wall_ms"].as_u64().unwrap(), "{raw}");
            assert_eq!(
                u64::from(read.counter),
                case["counter"].as_u64().unwrap(),
                "{raw}"
            );
            assert_eq!(read.node(), case["node"].as_str().unwrap(), "{raw}");
            assert_eq!(read.to_string(), raw);
        }
        for raw in vectors["invalid"].as_array().unwrap() {
            let raw = raw.as_str().unwrap();
            assert!(raw.parse::<Hlc>().is_err(), "{raw:?} was read");
        }
        let ordered: Vec<Hlc> = vectors["ordered"]
            .as_array()
            .unwrap()
            .iter()
            .map(|raw| raw.as_str().unwrap().parse().unwrap())
            .collect();
        assert!(ordered.windows(2).all(|w| w[0] < w[1]), "{ordered:?}");
        for case in vectors["clocks"].as_array().unwrap() {
            let mut clock = Clock::new(case["node"].as_str().unwrap()).unwrap();
            for step in case["steps"].as_array().unwrap() {
                let next = match step.get("tick") {
                    Some(now) => clock.tick(now.as_u64().unwrap()),
                    None => clock.observe(
                        &step["observe"].as_str().unwrap().parse().unwrap(),
                        step["now"].as_u64().unwrap(),
                    ),
                };
                assert_eq!(next.to_string(), step["expect"].as_str().unwrap(), "{step}");
            }
        }
    }
}
