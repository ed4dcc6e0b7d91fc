//! The simulated device's flash: every [`Section`] in one JSON file (or only in memory).
//!
//! The file is a JSON object from section name to the section's text, e.g.
//! `{"events": "{...}", "store": "{\"format\":1,...}"}`. Each save reads the file, replaces
//! its section and rewrites the whole file through a temporary file and a rename, so a crash
//! leaves either the old or the new file.

use core::fmt;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::string::{String, ToString};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::vec::Vec;

use serde::Deserializer as _;
use serde::de::{IgnoredAny, MapAccess, Visitor};

use crate::error::HalError;
use crate::traits::Section;

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

    pub(crate) fn save(&self, section: Section, data: &[u8]) -> Result<(), HalError> {
        let text = core::str::from_utf8(data).map_err(storage_error)?;
        match &mut *self.lock() {
            Backing::File(path) => write(path, section.name(), Some(text)),
            Backing::Memory(sections) => {
                sections.insert(section.name().into(), text.into());
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

/// Rewrites the file at `path` with section `name` set to `text` (removed for `None`),
/// through a temporary file and a rename. The other sections are read back from the file;
/// the old text of `name` is read past and the new one written from `text`, and the file is
/// streamed, so no copy of a large section is made.
fn write(path: &PathBuf, name: &str, text: Option<&str>) -> Result<(), HalError> {
    let others = read(path, Some(name))?;
    let mut sections: BTreeMap<&str, &str> = others
        .iter()
        .map(|(name, text)| (name.as_str(), text.as_str()))
        .collect();
    if let Some(text) = text {
        sections.insert(name, text);
    }
    let mut temporary = path.clone().into_os_string();
    temporary.push(".tmp");
    let file = std::fs::File::create(&temporary).map_err(storage_error)?;
    let mut writer = std::io::BufWriter::new(file);
    serde_json::to_writer_pretty(&mut writer, &sections).map_err(storage_error)?;
    writer
        .into_inner()
        .map_err(|e| storage_error(e.into_error()))?;
    std::fs::rename(&temporary, path).map_err(storage_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_round_trip() {
        let path =
            std::env::temp_dir().join(std::format!("hal-sim-storage-{}.json", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let storage = FileStorage::file(path.clone()).unwrap();
        assert_eq!(storage.load(Section::Store).unwrap(), None);
        storage.save(Section::Events, b"{}").unwrap();
        storage.save(Section::Store, b"{\"a\":0}").unwrap();
        storage.save(Section::Store, b"{\"a\":1}").unwrap();
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
        again.save(Section::Events, b"[]").unwrap();
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
        // A file that is not a map of section texts is refused, not taken as empty.
        std::fs::write(&path, b"[\"store\"]").unwrap();
        assert!(matches!(
            FileStorage::file(path.clone()),
            Err(HalError::Storage { .. })
        ));
        let _ = std::fs::remove_file(&path);
    }
}
