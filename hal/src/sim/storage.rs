//! The simulated device's flash: a directory with one file per [`Section`] (or only memory).
//!
//! Each section is a file named after it ([`Section::name`]) holding the section's bytes as
//! they were saved. A save writes a temporary file beside it, syncs it and renames it over
//! the old one, so a crash or a power cut leaves either the old or the new section (once the
//! save has returned, the new one), and never touches another
//! section: saving the small ones (events, transfers) neither reads nor rewrites the store,
//! megabytes of text on a device with many rows, and saving the store streams it to its
//! file with no copy in memory.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::string::ToString;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::vec::Vec;

use crate::error::HalError;
use crate::traits::Section;

/// Writes a section's bytes to the writer it is given.
pub(crate) type Content<'a> =
    dyn for<'w> Fn(&'w mut (dyn Write + 'w)) -> std::io::Result<()> + Sync + 'a;

/// Sections kept in memory, or in files.
#[derive(Debug)]
pub(crate) struct FileStorage {
    backing: Mutex<Backing>,
}

/// Where the sections are. In a directory, the files are their only copy: the store
/// section of a device with many rows is megabytes, which a copy in memory would keep for
/// the agent's lifetime.
#[derive(Debug)]
enum Backing {
    Directory(PathBuf),
    Memory(BTreeMap<Section, Vec<u8>>),
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

    /// Storage in the directory `dir`, created if missing.
    pub(crate) fn directory(dir: PathBuf) -> Result<Self, HalError> {
        std::fs::create_dir_all(&dir).map_err(storage_error)?;
        Ok(Self {
            backing: Mutex::new(Backing::Directory(dir)),
        })
    }

    /// The mutex guards the directory too: two saves of one section must not share its
    /// temporary file.
    fn lock(&self) -> MutexGuard<'_, Backing> {
        self.backing.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn load(&self, section: Section) -> Result<Option<Vec<u8>>, HalError> {
        match &*self.lock() {
            Backing::Directory(dir) => match std::fs::read(dir.join(section.name())) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(error) => Err(storage_error(error)),
            },
            Backing::Memory(sections) => Ok(sections.get(&section).cloned()),
        }
    }

    /// Replaces `section` with the bytes `content` writes. If `content` fails, the section
    /// keeps what it held.
    pub(crate) fn save(&self, section: Section, content: &Content<'_>) -> Result<(), HalError> {
        match &mut *self.lock() {
            Backing::Directory(dir) => write(dir, section.name(), content),
            Backing::Memory(sections) => {
                let mut data = Vec::new();
                content(&mut data).map_err(storage_error)?;
                sections.insert(section, data);
                Ok(())
            }
        }
    }

    pub(crate) fn remove(&self, section: Section) -> Result<(), HalError> {
        match &mut *self.lock() {
            Backing::Directory(dir) => match std::fs::remove_file(dir.join(section.name())) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                    Err(storage_error(error))
                }
                _ => Ok(()),
            },
            Backing::Memory(sections) => {
                sections.remove(&section);
                Ok(())
            }
        }
    }
}

/// Writes the file `name` in `dir` with what `content` writes, through a synced temporary
/// file and a rename; the temporary file is removed if anything fails.
fn write(dir: &Path, name: &str, content: &Content<'_>) -> Result<(), HalError> {
    let path = dir.join(name);
    let temporary = dir.join(std::format!("{name}.tmp"));
    let written = std::fs::File::create(&temporary).and_then(|file| {
        let mut out = std::io::BufWriter::new(file);
        content(&mut out)?;
        let file = out
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error)?;
        // The bytes reach the medium before the rename, and the rename after it: without
        // the syncs a power cut may leave the new name on an empty file.
        file.sync_data()?;
        std::fs::rename(&temporary, &path)?;
        std::fs::File::open(dir)?.sync_all()
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written.map_err(storage_error)
}

#[cfg(test)]
mod tests {
    use std::string::String;

    use super::*;

    /// Saves `bytes` as section `section`.
    fn save(storage: &FileStorage, section: Section, bytes: &[u8]) -> Result<(), HalError> {
        storage.save(section, &|out| out.write_all(bytes))
    }

    #[test]
    fn directory_round_trip() {
        let dir = std::env::temp_dir().join(std::format!("hal-sim-storage-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let storage = FileStorage::directory(dir.clone()).unwrap();
        assert_eq!(storage.load(Section::Store).unwrap(), None);
        save(&storage, Section::Events, b"{}").unwrap();
        save(&storage, Section::Store, b"{\"a\":0}").unwrap();
        save(&storage, Section::Store, b"{\"a\":1}").unwrap();
        let again = FileStorage::directory(dir.clone()).unwrap();
        assert_eq!(
            again.load(Section::Store).unwrap().as_deref(),
            Some(&b"{\"a\":1}"[..])
        );
        // Each section is its own file, holding the bytes as saved; the files are the only
        // copy, so what another storage on the same directory saved is what this one loads.
        assert_eq!(std::fs::read(dir.join("store")).unwrap(), b"{\"a\":1}");
        save(&again, Section::Events, b"[]").unwrap();
        assert_eq!(
            storage.load(Section::Events).unwrap().as_deref(),
            Some(&b"[]"[..])
        );
        again.remove(Section::Store).unwrap();
        again.remove(Section::Store).unwrap();
        assert_eq!(storage.load(Section::Store).unwrap(), None);

        // Bytes of any kind, written in pieces, come back as they were.
        let bytes: Vec<u8> = (0..=255).cycle().take(20_000).collect();
        storage
            .save(Section::Subscriptions, &|out| {
                for piece in bytes.chunks(7) {
                    out.write_all(piece)?;
                }
                Ok(())
            })
            .unwrap();
        assert_eq!(
            storage.load(Section::Subscriptions).unwrap().as_deref(),
            Some(&bytes[..])
        );

        // A save that fails midway (the process dying while it writes is the same for the
        // file) leaves the section as it was, and no temporary file.
        let failed = storage.save(Section::Subscriptions, &|out| {
            out.write_all(b"half of it")?;
            Err(std::io::Error::other("power lost"))
        });
        assert!(matches!(failed, Err(HalError::Storage { .. })));
        assert_eq!(
            storage.load(Section::Subscriptions).unwrap().as_deref(),
            Some(&bytes[..])
        );
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["events", "subscriptions"]);

        // A path that is a file, not a directory, is refused.
        let file = dir.join("events");
        assert!(matches!(
            FileStorage::directory(file),
            Err(HalError::Storage { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
