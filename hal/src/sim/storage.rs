//! The simulated device's flash: every [`Section`] in one JSON file (or only in memory).
//!
//! The file is a JSON object from section name to the section's text, e.g.
//! `{"events": "{...}", "store": "{\"format\":1,...}"}`. Each save rewrites the whole file
//! through a temporary file and a rename, so a crash leaves either the old or the new file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::string::{String, ToString};
use std::sync::{Mutex, PoisonError};
use std::vec::Vec;

use crate::error::HalError;
use crate::traits::Section;

/// Sections kept in memory and, when a path is set, mirrored to a file.
#[derive(Debug)]
pub(crate) struct FileStorage {
    path: Option<PathBuf>,
    sections: Mutex<BTreeMap<String, String>>,
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
            path: None,
            sections: Mutex::new(BTreeMap::new()),
        }
    }

    /// Storage in the file at `path`, loading what it already holds (a missing file is empty
    /// storage).
    pub(crate) fn file(path: PathBuf) -> Result<Self, HalError> {
        let sections = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(storage_error)?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(error) => return Err(storage_error(error)),
        };
        Ok(Self {
            path: Some(path),
            sections: Mutex::new(sections),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.sections.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn load(&self, section: Section) -> Option<Vec<u8>> {
        self.lock()
            .get(section.name())
            .map(|s| s.clone().into_bytes())
    }

    pub(crate) fn save(&self, section: Section, data: &[u8]) -> Result<(), HalError> {
        let text = core::str::from_utf8(data).map_err(storage_error)?;
        let mut sections = self.lock();
        // Overwritten in place: the old text's buffer takes the new one, so a large section
        // is not held twice while it is saved.
        let slot = sections.entry(section.name().into()).or_default();
        slot.clear();
        slot.push_str(text);
        self.write(&sections)
    }

    pub(crate) fn remove(&self, section: Section) -> Result<(), HalError> {
        let mut sections = self.lock();
        sections.remove(section.name());
        self.write(&sections)
    }

    fn write(&self, sections: &BTreeMap<String, String>) -> Result<(), HalError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let mut temporary = path.clone().into_os_string();
        temporary.push(".tmp");
        // Streamed to the file: the escaped text of every section is never built in memory.
        let file = std::fs::File::create(&temporary).map_err(storage_error)?;
        let mut writer = std::io::BufWriter::new(file);
        serde_json::to_writer_pretty(&mut writer, sections).map_err(storage_error)?;
        writer
            .into_inner()
            .map_err(|e| storage_error(e.into_error()))?;
        std::fs::rename(&temporary, path).map_err(storage_error)
    }
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
        assert_eq!(storage.load(Section::Store), None);
        storage.save(Section::Store, b"{\"a\":1}").unwrap();
        let again = FileStorage::file(path.clone()).unwrap();
        assert_eq!(
            again.load(Section::Store).as_deref(),
            Some(&b"{\"a\":1}"[..])
        );
        again.remove(Section::Store).unwrap();
        assert_eq!(
            FileStorage::file(path.clone())
                .unwrap()
                .load(Section::Store),
            None
        );
        let _ = std::fs::remove_file(&path);
    }
}
