//! Durations and byte sizes as Compose writes them (`1m30s`, `512m`), parsed into typed values.
//!
//! Compose inherits Go's duration syntax (`time.ParseDuration`) and Docker's memory sizes
//! (`go-units.RAMInBytes`, binary multiples). Both are printed back the way `docker compose
//! config` prints them: durations in Go's `Duration.String()` form (`1h2m0s`) and sizes as a
//! decimal count of bytes.

use std::fmt;

use serde::{Serialize, Serializer};

/// Why a duration or size could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// Not a Go duration.
    #[error("invalid duration `{0}` (expected e.g. `10s`, `1m30s`, `500ms`)")]
    Duration(String),
    /// Not a byte size.
    #[error("invalid size `{0}` (expected e.g. `512m`, `1g`, `100k` or a number of bytes)")]
    Size(String),
}

const NS_PER_US: u64 = 1_000;
const NS_PER_MS: u64 = 1_000_000;
const NS_PER_S: u64 = 1_000_000_000;
const NS_PER_M: u64 = 60 * NS_PER_S;
const NS_PER_H: u64 = 60 * NS_PER_M;

/// A non-negative duration with nanosecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub u64);

impl Duration {
    /// Parses Go duration syntax: one or more `<number><unit>` with units `ns`, `us`/`µs`,
    /// `ms`, `s`, `m`, `h` and optional fractions (`1.5s`); a bare `0` is zero.
    pub fn parse(text: &str) -> Result<Duration, UnitError> {
        let err = || UnitError::Duration(text.to_string());
        let t = text.trim();
        if t == "0" {
            return Ok(Duration(0));
        }
        if t.is_empty() {
            return Err(err());
        }
        let mut rest = t;
        let mut total: u128 = 0;
        while !rest.is_empty() {
            let num_end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(err)?;
            let (num, tail) = rest.split_at(num_end);
            if num.is_empty() || num == "." {
                return Err(err());
            }
            let unit_end = tail
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(tail.len());
            let (unit, tail) = tail.split_at(unit_end);
            let scale: u64 = match unit {
                "ns" => 1,
                "us" | "µs" | "μs" => NS_PER_US,
                "ms" => NS_PER_MS,
                "s" => NS_PER_S,
                "m" => NS_PER_M,
                "h" => NS_PER_H,
                _ => return Err(err()),
            };
            let (int, frac) = num.split_once('.').unwrap_or((num, ""));
            if frac.contains('.') {
                return Err(err());
            }
            let int: u128 = if int.is_empty() {
                0
            } else {
                int.parse().map_err(|_| err())?
            };
            total += int * u128::from(scale);
            if !frac.is_empty() {
                let digits = frac.len().min(18) as u32;
                let f: u128 = frac[..digits as usize].parse().map_err(|_| err())?;
                total += f * u128::from(scale) / 10u128.pow(digits);
            }
            rest = tail;
        }
        u64::try_from(total).map(Duration).map_err(|_| err())
    }

    /// The duration as a std duration.
    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.0)
    }
}

fn with_fraction(value: u64, unit: u64, width: usize) -> String {
    let int = value / unit;
    let frac = value % unit;
    if frac == 0 {
        int.to_string()
    } else {
        let digits = format!("{frac:0width$}");
        format!("{int}.{}", digits.trim_end_matches('0'))
    }
}

impl fmt::Display for Duration {
    /// Go's `time.Duration.String()`: `0s`, `500ms`, `2µs`, `1m30s`, `1h2m0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0;
        if ns == 0 {
            return f.write_str("0s");
        }
        if ns < NS_PER_US {
            return write!(f, "{ns}ns");
        }
        if ns < NS_PER_MS {
            return write!(f, "{}µs", with_fraction(ns, NS_PER_US, 3));
        }
        if ns < NS_PER_S {
            return write!(f, "{}ms", with_fraction(ns, NS_PER_MS, 6));
        }
        let h = ns / NS_PER_H;
        let m = (ns % NS_PER_H) / NS_PER_M;
        let s = ns % NS_PER_M;
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if h > 0 || m > 0 {
            write!(f, "{m}m")?;
        }
        write!(f, "{}s", with_fraction(s, NS_PER_S, 9))
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parses Docker's memory sizes: a number with an optional binary multiple `b`, `k`, `m`,
    /// `g`, `t`, `p` (case-insensitive, optional trailing `b`/`ib`, fractions allowed).
    pub fn parse(text: &str) -> Result<ByteSize, UnitError> {
        let err = || UnitError::Size(text.to_string());
        let t = text.trim();
        let num_end = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(num_end);
        if num.is_empty() {
            return Err(err());
        }
        let unit = unit.trim_start().to_ascii_lowercase();
        let unit = unit
            .strip_suffix("ib")
            .or_else(|| unit.strip_suffix('b'))
            .unwrap_or(&unit);
        let mult: u64 = match unit {
            "" => 1,
            "k" => 1 << 10,
            "m" => 1 << 20,
            "g" => 1 << 30,
            "t" => 1 << 40,
            "p" => 1 << 50,
            _ => return Err(err()),
        };
        let value: f64 = num.parse().map_err(|_| err())?;
        let bytes = value * mult as f64;
        if !bytes.is_finite() || bytes >= u64::MAX as f64 {
            return Err(err());
        }
        Ok(ByteSize(bytes as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for ByteSize {
    /// As docker compose prints sizes: the decimal byte count, as a string.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(t: &str) -> u64 {
        Duration::parse(t).unwrap().0
    }

    #[test]
    fn parses_go_durations() {
        assert_eq!(d("10s"), 10 * NS_PER_S);
        assert_eq!(d("1m30s"), 90 * NS_PER_S);
        assert_eq!(d("1h2m"), NS_PER_H + 2 * NS_PER_M);
        assert_eq!(d("500ms"), 500 * NS_PER_MS);
        assert_eq!(d("2us"), 2 * NS_PER_US);
        assert_eq!(d("2µs"), 2 * NS_PER_US);
        assert_eq!(d("1.5s"), 1_500 * NS_PER_MS);
        assert_eq!(d("100ns"), 100);
        assert_eq!(d("0"), 0);
    }

    #[test]
    fn rejects_bad_durations() {
        for bad in ["", "10", "s", "1x", "1.2.3s", "-1s", "1m 30s", "abc"] {
            assert!(Duration::parse(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn prints_like_go() {
        let cases = [
            ("0s", "0s"),
            ("10s", "10s"),
            ("1m30s", "1m30s"),
            ("1h2m", "1h2m0s"),
            ("2h", "2h0m0s"),
            ("500ms", "500ms"),
            ("1.5s", "1.5s"),
            ("2us", "2µs"),
            ("1500us", "1.5ms"),
            ("100ns", "100ns"),
        ];
        for (input, out) in cases {
            assert_eq!(Duration::parse(input).unwrap().to_string(), out, "{input}");
        }
    }

    #[test]
    fn parses_sizes() {
        let s = |t: &str| ByteSize::parse(t).unwrap().0;
        assert_eq!(s("512m"), 512 << 20);
        assert_eq!(s("1g"), 1 << 30);
        assert_eq!(s("1GB"), 1 << 30);
        assert_eq!(s("1gib"), 1 << 30);
        assert_eq!(s("100k"), 100 << 10);
        assert_eq!(s("1024"), 1024);
        assert_eq!(s("1.5k"), 1536);
        assert_eq!(s("64b"), 64);
        for bad in ["", "m", "12x", "1.2.3m", "-5m"] {
            assert!(ByteSize::parse(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn serializes_as_docker_compose_prints() {
        let v = serde_json::to_value(ByteSize(536870912)).unwrap();
        assert_eq!(v, serde_json::json!("536870912"));
        let v = serde_json::to_value(Duration::parse("90s").unwrap()).unwrap();
        assert_eq!(v, serde_json::json!("1m30s"));
    }
}
