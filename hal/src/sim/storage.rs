//! The simulated device's flash: every [`Section`] in one JSON file (or only in memory).
//!
//! The file is a JSON object from section name to the section's text, e.g.
//! `{"events": "{...}", "store": "{\"format\":1,...}"}`. Each save reads the file, replaces
//! its section and rewrites the whole file through a temporary file and a rename, so a crash
//! leaves either the old or the new file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::string::{String, ToString};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::vec::Vec;

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
        read(&path)?;
        Ok(Self {
            backing: Mutex::new(Backing::File(path)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Backing> {
        self.backing.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn load(&self, section: Section) -> Result<Option<Vec<u8>>, HalError> {
        Ok(match &*self.lock() {
            Backing::File(path) => read(path)?.remove(section.name()),
            Backing::Memory(sections) => sections.get(section.name()).cloned(),
        }
        .map(String::into_bytes))
    }

    pub(crate) fn save(&self, section: Section, data: &[u8]) -> Result<(), HalError> {
        let text = core::str::from_utf8(data).map_err(storage_error)?;
        self.change(|sections| {
            // The old text goes before the new one is copied: a large section is not held
            // twice while it is saved.
            sections.remove(section.name());
            sections.insert(section.name().into(), text.into());
        })
    }

    pub(crate) fn remove(&self, section: Section) -> Result<(), HalError> {
        self.change(|sections| {
            sections.remove(section.name());
        })
    }

    /// Applies `edit` to the sections and, for a file, writes them back.
    fn change(&self, edit: impl FnOnce(&mut BTreeMap<String, String>)) -> Result<(), HalError> {
        match &mut *self.lock() {
            Backing::File(path) => {
                let mut sections = read(path)?;
                edit(&mut sections);
                write(path, &sections)
            }
            Backing::Memory(sections) => {
                edit(sections);
                Ok(())
            }
        }
    }
}

/// The sections in the file at `path` (none if there is no file).
fn read(path: &PathBuf) -> Result<BTreeMap<String, String>, HalError> {
    match std::fs::File::open(path) {
        Ok(file) => serde_json::from_reader(std::io::BufReader::new(file)).map_err(storage_error),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(error) => Err(storage_error(error)),
    }
}

/// Rewrites the file at `path` through a temporary file and a rename, streaming the text: the
/// escaped text of every section is never built in memory.
fn write(path: &PathBuf, sections: &BTreeMap<String, String>) -> Result<(), HalError> {
    let mut temporary = path.clone().into_os_string();
    temporary.push(".tmp");
    let file = std::fs::File::create(&temporary).map_err(storage_error)?;
    let mut writer = std::io::BufWriter::new(file);
    serde_json::to_writer_pretty(&mut writer, sections).map_err(storage_error)?;
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
        let _ = std::fs::remove_file(&path);
    }
}
