//! Where each field of a YAML document sits (line and column), so errors found after parsing can point at it.
//!
//! serde gives us typed values but forgets positions; this walks the parser's events once
//! and records, for every field path such as `drills.zone-failure.schedule.cron`, where its
//! key and its value start. It also reports duplicate keys, which a typed deserialiser would
//! silently collapse.

use std::collections::HashMap;
use std::fmt;

use granit_parser::{Event, Parser};

/// One step of a field path: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A field path, displayed as `drills.zone-failure.phases[1].scenario`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath(pub Vec<Segment>);

impl FieldPath {
    pub fn root() -> Self {
        Self(Vec::new())
    }

    pub fn key(&self, key: impl Into<String>) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.into()));
        Self(segments)
    }

    pub fn index(&self, index: usize) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        Self(segments)
    }

    pub fn parent(&self) -> Option<Self> {
        let mut segments = self.0.clone();
        segments.pop().map(|_| Self(segments))
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Index(index) => write!(f, "[{index}]")?,
                Segment::Key(key) => {
                    let plain = !key.is_empty()
                        && key
                            .chars()
                            .all(|c| c.is_alphanumeric() || c == '-' || c == '_');
                    match (plain, i) {
                        (true, 0) => f.write_str(key)?,
                        (true, _) => write!(f, ".{key}")?,
                        (false, _) => write!(f, "[{key:?}]")?,
                    }
                }
            }
        }
        Ok(())
    }
}

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    key: Option<Position>,
    value: Position,
}

/// A duplicate mapping key found while walking the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateKey {
    pub path: FieldPath,
    pub at: Position,
    pub first: Position,
}

/// A syntax error in the YAML itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub at: Position,
    pub message: String,
}

/// Positions of every field of a document.
#[derive(Debug, Default)]
pub struct SourceMap {
    entries: HashMap<FieldPath, Entry>,
    pub duplicates: Vec<DuplicateKey>,
}

enum Frame {
    Mapping {
        path: FieldPath,
        /// The key whose value comes next, with where the key was written.
        pending_key: Option<(String, Position)>,
        seen: HashMap<String, Position>,
    },
    Sequence {
        path: FieldPath,
        next_index: usize,
    },
}

impl SourceMap {
    /// Walks `text` and records positions; fails on YAML syntax errors.
    pub fn build(text: &str) -> Result<Self, SyntaxError> {
        let mut map = SourceMap::default();
        let mut stack: Vec<Frame> = Vec::new();
        for event in Parser::new_from_str(text) {
            let (event, span) = event.map_err(|err| SyntaxError {
                at: Position {
                    line: err.marker().line(),
                    column: err.marker().col() + 1,
                },
                message: err.info().to_string(),
            })?;
            let at = Position {
                line: span.start.line(),
                column: span.start.col() + 1,
            };
            let (is_node, opens) = match &event {
                Event::Scalar(..) | Event::Alias(..) => (true, None),
                Event::MappingStart(..) => (true, Some(true)),
                Event::SequenceStart(..) => (true, Some(false)),
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                    continue;
                }
                _ => (false, None),
            };
            if !is_node {
                continue;
            }
            // A scalar in key position is a key: remember it and wait for its value.
            if let Some(Frame::Mapping {
                path,
                pending_key,
                seen,
            }) = stack.last_mut()
                && pending_key.is_none()
            {
                let key = match &event {
                    Event::Scalar(value, ..) => value.to_string(),
                    // Complex keys are not used in firedrill files; track them by position.
                    _ => format!("?{}:{}", at.line, at.column),
                };
                if let Some(first) = seen.get(&key) {
                    map.duplicates.push(DuplicateKey {
                        path: path.key(key.clone()),
                        at,
                        first: *first,
                    });
                } else {
                    seen.insert(key.clone(), at);
                }
                *pending_key = Some((key, at));
                if let Some(opens) = opens {
                    // Skip the complex key's contents by pushing a throwaway frame.
                    stack.push(throwaway(opens));
                }
                continue;
            }
            let (path, key_at) = match stack.last_mut() {
                None => (FieldPath::root(), None),
                Some(Frame::Mapping {
                    path, pending_key, ..
                }) => match pending_key.take() {
                    Some((key, key_at)) => (path.key(key), Some(key_at)),
                    None => (path.clone(), None),
                },
                Some(Frame::Sequence { path, next_index }) => {
                    let item = path.index(*next_index);
                    *next_index += 1;
                    (item, None)
                }
            };
            map.entries.entry(path.clone()).or_insert(Entry {
                key: key_at,
                value: at,
            });
            match opens {
                Some(true) => stack.push(Frame::Mapping {
                    path,
                    pending_key: None,
                    seen: HashMap::new(),
                }),
                Some(false) => stack.push(Frame::Sequence {
                    path,
                    next_index: 0,
                }),
                None => {}
            }
        }
        Ok(map)
    }

    /// Where the value at `path` starts, or the nearest enclosing field that has a position.
    pub fn value_position(&self, path: &FieldPath) -> Option<Position> {
        self.lookup(path).map(|entry| entry.value)
    }

    /// Where the key of `path` is written (falls back to its value, then to ancestors).
    pub fn key_position(&self, path: &FieldPath) -> Option<Position> {
        self.lookup(path)
            .map(|entry| entry.key.unwrap_or(entry.value))
    }

    fn lookup(&self, path: &FieldPath) -> Option<Entry> {
        let mut current = Some(path.clone());
        while let Some(candidate) = current {
            if let Some(entry) = self.entries.get(&candidate) {
                return Some(*entry);
            }
            current = candidate.parent();
        }
        None
    }
}

fn throwaway(mapping: bool) -> Frame {
    if mapping {
        Frame::Mapping {
            path: FieldPath(vec![Segment::Key("?".into())]),
            pending_key: None,
            seen: HashMap::new(),
        }
    } else {
        Frame::Sequence {
            path: FieldPath(vec![Segment::Key("?".into())]),
            next_index: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "version: 1\ndrills:\n  zone-failure:\n    schedule:\n      cron: \"61 * * * *\"\n    phases:\n      - name: a\n      - name: b\n        scenario: zone-failure\n";

    fn path(parts: &[&str]) -> FieldPath {
        let mut p = FieldPath::root();
        for part in parts {
            p = match part.parse::<usize>() {
                Ok(i) => p.index(i),
                Err(_) => p.key(*part),
            };
        }
        p
    }

    #[test]
    fn nested_fields_have_their_line_and_column() {
        let map = SourceMap::build(DOC).unwrap();
        let cron = path(&["drills", "zone-failure", "schedule", "cron"]);
        assert_eq!(
            map.value_position(&cron),
            Some(Position {
                line: 5,
                column: 13
            })
        );
        assert_eq!(
            map.key_position(&cron),
            Some(Position { line: 5, column: 7 })
        );
        let scenario = path(&["drills", "zone-failure", "phases", "1", "scenario"]);
        assert_eq!(map.value_position(&scenario).map(|p| p.line), Some(9));
        assert_eq!(
            scenario.to_string(),
            "drills.zone-failure.phases[1].scenario"
        );
    }

    #[test]
    fn unknown_paths_fall_back_to_the_nearest_ancestor() {
        let map = SourceMap::build(DOC).unwrap();
        let missing = path(&["drills", "zone-failure", "schedule", "timezone"]);
        assert_eq!(map.value_position(&missing).map(|p| p.line), Some(5));
    }

    #[test]
    fn duplicate_keys_are_reported_with_both_positions() {
        let map = SourceMap::build("drills:\n  a: {}\n  b: {}\n  a: {}\n").unwrap();
        assert_eq!(map.duplicates.len(), 1);
        let dup = &map.duplicates[0];
        assert_eq!(dup.path.to_string(), "drills.a");
        assert_eq!((dup.at.line, dup.first.line), (4, 2));
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let err = SourceMap::build("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.at.line >= 1, "{err:?}");
    }

    #[test]
    fn keys_with_dots_are_quoted_in_paths() {
        let p = path(&["services", "app.kubernetes.io/name"]);
        assert_eq!(p.to_string(), "services[\"app.kubernetes.io/name\"]");
    }
}
