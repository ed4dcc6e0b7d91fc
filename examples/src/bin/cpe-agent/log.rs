//! The agent's log: one line per `tracing` event on standard output,
//! `TIME LEVEL target: message field=value ...`, filtered by `target=level` directives.
//!
//! A minimal [`Subscriber`] instead of `tracing-subscriber`'s registry, formatting layer and
//! `Targets` filter (about 30 KB of the router build, issue #8): the agent records no spans,
//! so events are all there is to write. The filter reads as `Targets` did: comma-separated
//! directives, each a level (`info`), a target (`cpe_agent`: every level) or both
//! (`cpe_agent::mqtt=debug`); the longest target that prefixes an event's target decides,
//! and an event no directive covers is left out.
//!
//! The last [`RECENT_BYTES`] of lines written (whole lines, without colours) are also kept in
//! memory, for the vendor log file an upload sends ([`recent`]).

use std::collections::VecDeque;
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use tr181_model::value::DateTime;
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::{Event, Metadata, Subscriber, span};

/// Most bytes of recent log lines kept for an upload (`Device.DeviceInfo.VendorLogFile.1.`,
/// whose `MaximumSize` it is): the last hundreds of lines.
pub(crate) const RECENT_BYTES: usize = 64 * 1024;

/// The recent lines of the process.
static RECENT: Mutex<Recent> = Mutex::new(Recent {
    lines: VecDeque::new(),
    bytes: 0,
});

/// Log lines, oldest first, at most [`RECENT_BYTES`] of them in all.
struct Recent {
    lines: VecDeque<String>,
    bytes: usize,
}

impl Recent {
    /// Adds `line`, dropping the oldest lines beyond the bound.
    fn push(&mut self, line: String) {
        self.bytes = self.bytes.saturating_add(line.len());
        self.lines.push_back(line);
        while self.bytes > RECENT_BYTES {
            let Some(oldest) = self.lines.pop_front() else {
                break;
            };
            self.bytes = self.bytes.saturating_sub(oldest.len());
        }
    }

    fn text(&self) -> Vec<u8> {
        let mut text = Vec::with_capacity(self.bytes);
        for line in &self.lines {
            text.extend_from_slice(line.as_bytes());
        }
        text
    }
}

/// The recent log lines, oldest first: at most [`RECENT_BYTES`], without colours.
pub(crate) fn recent() -> Vec<u8> {
    RECENT.lock().unwrap_or_else(PoisonError::into_inner).text()
}

/// `line` without its ANSI colour escapes (`ESC [ ... m`).
fn without_colours(line: &str) -> String {
    let mut plain = String::with_capacity(line.len());
    let mut rest = line;
    while let Some((before, escape)) = rest.split_once('\x1b') {
        plain.push_str(before);
        rest = escape.split_once('m').map_or("", |(_, after)| after);
    }
    plain.push_str(rest);
    plain
}

/// The subscriber; see the [module docs](self).
pub(crate) struct Logger {
    /// `(target, level)`, longest target first; `""` covers every target.
    directives: Vec<(String, LevelFilter)>,
    /// Colours (ANSI escapes) for a terminal.
    ansi: bool,
}

impl Logger {
    /// A logger filtering by `filter` (see the [module docs](self)).
    pub(crate) fn new(filter: &str, ansi: bool) -> Result<Self, String> {
        let mut directives = Vec::new();
        for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            let (target, level) = match directive.split_once('=') {
                Some((target, level)) => (target.trim(), level.trim().parse().ok()),
                None => match directive.parse::<LevelFilter>() {
                    Ok(level) => ("", Some(level)),
                    Err(_) => (directive, Some(LevelFilter::TRACE)),
                },
            };
            let valid = target
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '-'));
            match level {
                Some(level) if valid => directives.push((target.to_owned(), level)),
                _ => return Err(format!("invalid filter directive {directive:?}")),
            }
        }
        // Stable: of two directives for one target, the first stays first and decides.
        directives.sort_by_key(|(target, _)| std::cmp::Reverse(target.len()));
        Ok(Self { directives, ansi })
    }
}

impl Subscriber for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.directives
            .iter()
            .find(|(target, _)| metadata.target().starts_with(target.as_str()))
            .is_some_and(|(_, level)| metadata.level() <= level)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        self.directives.iter().map(|(_, level)| *level).max()
    }

    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        // Spans are not written; every one gets the same id.
        span::Id::from_u64(1)
    }

    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}

    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}

    fn event(&self, event: &Event<'_>) {
        let metadata = event.metadata();
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()
            .and_then(|since| i64::try_from(since.as_micros()).ok());
        let time = micros.and_then(DateTime::from_unix_micros);
        let level = metadata.level().as_str();
        let mut line = String::with_capacity(160);
        let _ = match (self.ansi, time) {
            (true, Some(time)) => write!(line, "\x1b[2m{time}\x1b[0m "),
            (false, Some(time)) => write!(line, "{time} "),
            (_, None) => Ok(()),
        };
        let _ = if self.ansi {
            let colour = match level {
                "ERROR" => 31,
                "WARN" => 33,
                "INFO" => 32,
                "DEBUG" => 34,
                _ => 35,
            };
            write!(
                line,
                "\x1b[{colour}m{level:>5}\x1b[0m \x1b[2m{}:\x1b[0m",
                metadata.target()
            )
        } else {
            write!(line, "{level:>5} {}:", metadata.target())
        };
        event.record(&mut Fields {
            line: &mut line,
            ansi: self.ansi,
        });
        line.push('\n');
        let _ = std::io::stdout().lock().write_all(line.as_bytes());
        let plain = if self.ansi {
            without_colours(&line)
        } else {
            line
        };
        RECENT
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(plain);
    }

    fn enter(&self, _: &span::Id) {}

    fn exit(&self, _: &span::Id) {}
}

/// Writes an event's fields after its head: the message, then ` name=value` (values as
/// `Debug`, so strings are quoted and `%`-fields shown with `Display`).
struct Fields<'a> {
    line: &'a mut String,
    ansi: bool,
}

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let _ = match (field.name(), self.ansi) {
            ("message", _) => write!(self.line, " {value:?}"),
            (name, true) => write!(self.line, " \x1b[3m{name}\x1b[0m\x1b[2m=\x1b[0m{value:?}"),
            (name, false) => write!(self.line, " {name}={value:?}"),
        };
    }

    /// As `Debug` writes them (`1.5`, `NaN`, `-inf`), through the float formatter serde_json
    /// links anyway: `Debug` for `f64`, which this method is the only user of, would add
    /// core's float formatting (about 9 KB of the router build) for a kind of value no event
    /// of the agent records.
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.record_debug(
            field,
            &format_args!("{}", zmij::Buffer::new().format(value)),
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tracing::{Level, Metadata, callsite, field};

    use super::*;

    struct Site;
    impl callsite::Callsite for Site {
        fn set_interest(&self, _: tracing::subscriber::Interest) {}
        fn metadata(&self) -> &Metadata<'_> {
            unreachable!()
        }
    }
    static SITE: Site = Site;

    fn event(target: &'static str, level: Level) -> Metadata<'static> {
        Metadata::new(
            "event",
            target,
            level,
            None,
            None,
            None,
            field::FieldSet::new(&[], callsite::Identifier(&SITE)),
            tracing::metadata::Kind::EVENT,
        )
    }

    #[test]
    fn the_longest_matching_target_decides() {
        let logger = Logger::new("warn, cpe_agent=info ,cpe_agent::mqtt=debug", false).unwrap();
        let enabled = |target, level| logger.enabled(&event(target, level));
        assert!(enabled("rustls::conn", Level::WARN));
        assert!(!enabled("rustls::conn", Level::INFO));
        assert!(enabled("cpe_agent::ws", Level::INFO));
        assert!(!enabled("cpe_agent::ws", Level::DEBUG));
        assert!(enabled("cpe_agent::mqtt", Level::DEBUG));
        assert!(!enabled("cpe_agent::mqtt", Level::TRACE));
        assert_eq!(logger.max_level_hint(), Some(LevelFilter::DEBUG));
    }

    #[test]
    fn targets_alone_take_every_level_and_uncovered_events_are_left_out() {
        let logger = Logger::new("cpe_agent", false).unwrap();
        assert!(logger.enabled(&event("cpe_agent::cwmp", Level::TRACE)));
        assert!(!logger.enabled(&event("hal::engine", Level::ERROR)));
        let off = Logger::new("info,cpe_agent=off", false).unwrap();
        assert!(!off.enabled(&event("cpe_agent::cwmp", Level::ERROR)));
        assert!(off.enabled(&event("hal::engine", Level::INFO)));
        assert!(
            !Logger::new("", false)
                .unwrap()
                .enabled(&event("x", Level::ERROR))
        );
    }

    #[test]
    fn recent_lines_are_bounded_whole_and_without_colours() {
        let mut recent = Recent {
            lines: VecDeque::new(),
            bytes: 0,
        };
        let line = |n: usize| format!("{n:0>99}\n");
        for n in 0..2000 {
            recent.push(line(n));
        }
        let text = String::from_utf8(recent.text()).unwrap();
        assert!(text.len() <= RECENT_BYTES && text.len() > RECENT_BYTES - 100);
        assert!(text.starts_with(&line(2000 - text.len() / 100)));
        assert!(text.ends_with(&line(1999)));
        assert_eq!(
            without_colours("\x1b[2mT\x1b[0m \x1b[32m INFO\x1b[0m x: \"m\"\n"),
            "T  INFO x: \"m\"\n"
        );
    }

    #[test]
    fn floats_are_written_as_debug_writes_them() {
        let logger = Logger::new("info", false).unwrap();
        tracing::subscriber::with_default(logger, || {
            tracing::info!(
                a = 0.25,
                b = -1.5,
                c = f64::NAN,
                d = f64::NEG_INFINITY,
                "floats"
            );
        });
        let recent = String::from_utf8(recent()).unwrap();
        let line = recent.lines().find(|l| l.contains("floats")).unwrap();
        let fields = format!(
            " a={:?} b={:?} c={:?} d={:?}",
            0.25,
            -1.5,
            f64::NAN,
            f64::NEG_INFINITY
        );
        assert!(line.ends_with(&fields), "{line}");
    }

    #[test]
    fn malformed_directives_are_refused() {
        for filter in ["cpe_agent=loud", "a b", "x=info=debug", "[span]=info"] {
            assert!(Logger::new(filter, false).is_err(), "{filter}");
        }
    }
}
