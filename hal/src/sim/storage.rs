//! The simulated device's flash: every [`Section`] in one JSON file (or only in memory).
//!
//! The file is a JSON object from section name to the section's text, e.g.
//! `{"events": "{...}", "store": "{\"format\":1,...}"}`. Each save reads the file, replaces
//! its section and rewrites the whole file through a temporary file and a rename, so a crash
//! leaves either the old or the new file.

use core::fmt;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::string::{String, ToString};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::vec::Vec;

use serde::Deserializer as _;
use serde::de::{IgnoredAny, MapAccess, Visitor};

use crate::error::HalError;
use crate::traits::Section;

/// Writes a section's bytes (UTF-8 text) to the writer it is given.
pub(crate) type Content<'a> =
    dyn for<'w> Fn(&'w mut (dyn Write + 'w)) -> std::io::Result<()> + Sync + 'a;

/// Sections kept in memory, or only in a file.
#[derive(Debug)]
pub(crate) struct FileStorage {
    backing: Mutex<Backing>,
}

/// Where the sections are. A file is their only copy: the store section of a device with
/// many rows is megabytes of text, which a copy in memory would keep for the agent's
/// lifetime; a save reads the file back instead, next to the serialization it follows.
#[derive(Debug)]
enum Backing {
    File(PathBuf),
    Memory(BTreeMap<String, String>),
}

fn storage_error(reason: impl ToString) -> HalError {
    HalError::Storage {
        reason: reason.to_string(),
    }
}

impl FileStorage {
    /// Storage in memory only.
    pub(crate) fn memory() -> Self {
        Self {
            backing: Mutex::new(Backing::Memory(BTreeMap::new())),
        }
    }

    /// Storage in the file at `path`, checking what it already holds (a missing file is empty
    /// storage).
    pub(crate) fn file(path: PathBuf) -> Result<Self, HalError> {
        read(&path, None)?;
        Ok(Self {
            backing: Mutex::new(Backing::File(path)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Backing> {
        self.backing.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn load(&self, section: Section) -> Result<Option<Vec<u8>>, HalError> {
        Ok(match &*self.lock() {
            Backing::File(path) => read(path, None)?.remove(section.name()),
            Backing::Memory(sections) => sections.get(section.name()).cloned(),
        }
        .map(String::into_bytes))
    }

    /// Replaces `section` with the bytes `content` writes, which must be UTF-8 text.
    pub(crate) fn save(&self, section: Section, content: &Content<'_>) -> Result<(), HalError> {
        match &mut *self.lock() {
            Backing::File(path) => write(path, section.name(), Some(content)),
            Backing::Memory(sections) => {
                let mut data = Vec::new();
                content(&mut data).map_err(storage_error)?;
                let text = String::from_utf8(data).map_err(storage_error)?;
                sections.insert(section.name().into(), text);
                Ok(())
            }
        }
    }

    pub(crate) fn remove(&self, section: Section) -> Result<(), HalError> {
        match &mut *self.lock() {
            Backing::File(path) => write(path, section.name(), None),
            Backing::Memory(sections) => {
                sections.remove(section.name());
                Ok(())
            }
        }
    }
}

/// The sections in the file at `path` (none if there is no file), but for `skip`, whose text
/// is read past without being kept.
fn read(path: &PathBuf, skip: Option<&str>) -> Result<BTreeMap<String, String>, HalError> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(error) => return Err(storage_error(error)),
    };
    let mut reader = serde_json::Deserializer::from_reader(std::io::BufReader::new(file));
    let sections = reader
        .deserialize_map(SectionsBut(skip))
        .map_err(storage_error)?;
    reader.end().map_err(storage_error)?;
    Ok(sections)
}

/// Reads the file's map of sections, leaving one out.
struct SectionsBut<'a>(Option<&'a str>);

impl<'de> Visitor<'de> for SectionsBut<'_> {
    type Value = BTreeMap<String, String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map from section name to text")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut sections = BTreeMap::new();
        while let Some(name) = map.next_key::<String>()? {
            if Some(name.as_str()) == self.0 {
                map.next_value::<IgnoredAny>()?;
            } else {
                let text = map.next_value()?;
                sections.insert(name, text);
            }
        }
        Ok(sections)
    }
}

/// Rewrites the file at `path` with section `name` set to what `content` writes (removed for
/// `None`), through a temporary file and a rename. The other sections are read back from the
/// file and the old text of `name` is read past; the new one is escaped into the file as it is
/// written. No copy of a large section is made, and none of the file.
fn write(path: &PathBuf, name: &str, content: Option<&Content<'_>>) -> Result<(), HalError> {
    let others = read(path, Some(name))?;
    let mut sections: BTreeMap<&str, Text<'_, '_>> = others
        .iter()
        .map(|(name, text)| (name.as_str(), Text::Saved(text)))
        .collect();
    if let Some(content) = content {
        sections.insert(name, Text::Written(content));
    }
    let mut temporary = path.clone().into_os_string();
    temporary.push(".tmp");
    let file = std::fs::File::create(&temporary).map_err(storage_error)?;
    let mut out = std::io::BufWriter::new(file);
    write_sections(&mut out, &sections).map_err(storage_error)?;
    out.into_inner()
        .map_err(|e| storage_error(e.into_error()))?;
    std::fs::rename(&temporary, path).map_err(storage_error)
}

/// Writes `sections` as serde_json's pretty printer writes a map of strings.
fn write_sections(
    out: &mut dyn Write,
    sections: &BTreeMap<&str, Text<'_, '_>>,
) -> std::io::Result<()> {
    out.write_all(b"{")?;
    for (index, (name, text)) in sections.iter().enumerate() {
        out.write_all(if index == 0 { b"\n  " } else { b",\n  " })?;
        serde_json::to_writer(&mut *out, name)?;
        out.write_all(b": \"")?;
        match text {
            Text::Saved(text) => {
                let mut escaped = Escaped::new(&mut *out);
                escaped.write_all(text.as_bytes())?;
                escaped.finish()?;
            }
            Text::Written(content) => {
                // A serializer writes in pieces of a few bytes: they are gathered first, so
                // that the escaping and its UTF-8 check run over whole buffers.
                let mut gathered = std::io::BufWriter::new(Escaped::new(&mut *out));
                content(&mut gathered)?;
                gathered
                    .into_inner()
                    .map_err(std::io::IntoInnerError::into_error)?
                    .finish()?;
            }
        }
        out.write_all(b"\"")?;
    }
    out.write_all(if sections.is_empty() { b"}" } else { b"\n}" })
}

/// A section's text as the file is written.
enum Text<'a, 'b> {
    /// Read back from the file.
    Saved(&'a str),
    /// Written by the caller of a save.
    Written(&'a Content<'b>),
}

/// Writes UTF-8 text into a JSON string: `"`, `\\` and control characters escaped, and the
/// text checked to be UTF-8 across writes (a sequence may be split between two of them).
struct Escaped<'a> {
    out: &'a mut dyn Write,
    /// The start of a UTF-8 sequence that the last write cut (at most 3 bytes).
    pending: Vec<u8>,
}

impl<'a> Escaped<'a> {
    fn new(out: &'a mut dyn Write) -> Self {
        Self {
            out,
            pending: Vec::new(),
        }
    }

    /// Fails if the text ended inside a UTF-8 sequence.
    fn finish(self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            Ok(())
        } else {
            Err(not_utf8())
        }
    }

    fn escape(&mut self, text: &[u8]) -> std::io::Result<()> {
        let mut start = 0;
        for (at, byte) in text.iter().enumerate() {
            let escape: &[u8] = match byte {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                0..0x20 => b"",
                _ => continue,
            };
            self.out
                .write_all(text.get(start..at).unwrap_or_default())?;
            if escape.is_empty() {
                write!(self.out, "\\u{byte:04x}")?;
            } else {
                self.out.write_all(escape)?;
            }
            start = at.saturating_add(1);
        }
        self.out.write_all(text.get(start..).unwrap_or_default())
    }
}

fn not_utf8() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, "section text is not UTF-8")
}

impl Write for Escaped<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let joined;
        let bytes = if self.pending.is_empty() {
            buf
        } else {
            joined = [self.pending.as_slice(), buf].concat();
            &joined
        };
        let valid = match core::str::from_utf8(bytes) {
            Ok(_) => bytes.len(),
            Err(error) if error.error_len().is_none() => error.valid_up_to(),
            Err(_) => return Err(not_utf8()),
        };
        let (text, rest) = bytes.split_at_checked(valid).ok_or_else(not_utf8)?;
        self.escape(text)?;
        self.pending = rest.to_vec();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Saves `bytes` as section `section`.
    fn save(storage: &FileStorage, section: Section, bytes: &[u8]) -> Result<(), HalError> {
        storage.save(section, &|out| out.write_all(bytes))
    }

    #[test]
    fn file_round_trip() {
        let path =
            std::env::temp_dir().join(std::format!("hal-sim-storage-{}.json", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let storage = FileStorage::file(path.clone()).unwrap();
        assert_eq!(storage.load(Section::Store).unwrap(), None);
        save(&storage, Section::Events, b"{}").unwrap();
        save(&storage, Section::Store, b"{\"a\":0}").unwrap();
        save(&storage, Section::Store, b"{\"a\":1}").unwrap();
        let again = FileStorage::file(path.clone()).unwrap();
        assert_eq!(
            again.load(Section::Store).unwrap().as_deref(),
            Some(&b"{\"a\":1}"[..])
        );
        // Saving one section keeps the others; the file is the only copy, so what another
        // storage on the same file saved is what this one loads.
        assert_eq!(
            storage.load(Section::Events).unwrap().as_deref(),
            Some(&b"{}"[..])
        );
        save(&again, Section::Events, b"[]").unwrap();
        assert_eq!(
            storage.load(Section::Events).unwrap().as_deref(),
            Some(&b"[]"[..])
        );
        again.remove(Section::Store).unwrap();
        assert_eq!(
            FileStorage::file(path.clone())
                .unwrap()
                .load(Section::Store)
                .unwrap(),
            None
        );
        // Text that needs escaping, written in pieces that split a UTF-8 sequence (the first
        // larger than the gathering buffer, so that it reaches the escaping as it is): the file
        // is what serde_json writes for the same map, and the text comes back as it was.
        let text = &std::format!("{}a \"quoted\" \\ path\n\u{1}é€", "x".repeat(9000));
        let split = text.len() - 2;
        storage
            .save(Section::Store, &|out| {
                out.write_all(&text.as_bytes()[..split])?;
                out.write_all(&text.as_bytes()[split..])
            })
            .unwrap();
        let expected = BTreeMap::from([("events", "[]"), ("store", text)]);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            serde_json::to_vec_pretty(&expected).unwrap()
        );
        assert_eq!(
            storage.load(Section::Store).unwrap().as_deref(),
            Some(text.as_bytes())
        );
        // Bytes that are not UTF-8 fail the save and leave the file as it was.
        assert!(save(&storage, Section::Store, b"\xff").is_err());
        assert!(save(&storage, Section::Store, "é".as_bytes().get(..1).unwrap()).is_err());
        assert_eq!(
            storage.load(Section::Store).unwrap().as_deref(),
            Some(text.as_bytes())
        );

        // A file that is not a map of section texts is refused, not taken as empty.
        std::fs::write(&path, b"[\"store\"]").unwrap();
        assert!(matches!(
            FileStorage::file(path.clone()),
            Err(HalError::Storage { .. })
        ));
        let _ = std::fs::remove_file(&path);
    }
}
