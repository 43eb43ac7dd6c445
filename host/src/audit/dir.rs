//! [`DirSink`]: export files into a directory.

use super::sink::{ExportFile, ExportSink, check_name};
use crate::{Error, Result};
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// An [`ExportSink`] writing files into a directory (temporary file, sync,
/// rename, sync of the directory), through a capability handle: file names
/// cannot leave it.
#[derive(Debug)]
pub struct DirSink {
    dir: Dir,
    path: PathBuf,
}

impl DirSink {
    /// A sink writing into `dir` (created if needed).
    pub fn new(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        sync_parents(dir, dir.parent().unwrap_or(Path::new(".")))?;
        let handle = Dir::open_ambient_dir(dir, ambient_authority()).map_err(io_error(dir))?;
        Ok(Self {
            dir: handle,
            path: dir.to_owned(),
        })
    }

    /// A sink writing into `relative`, a directory inside `base` (both
    /// created if needed). `relative` cannot leave `base`: an absolute path,
    /// a `..` or a symbolic link pointing out is refused.
    pub fn within(base: &Path, relative: &Path) -> Result<Self> {
        let path = base.join(relative);
        std::fs::create_dir_all(base).map_err(io_error(base))?;
        let base_dir = Dir::open_ambient_dir(base, ambient_authority()).map_err(io_error(base))?;
        base_dir
            .create_dir_all(relative)
            .and_then(|()| base_dir.open_dir(relative))
            .map(|dir| Self {
                dir,
                path: path.clone(),
            })
            .map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })
            .and_then(|sink| sync_parents(&path, base).map(|()| sink))
    }

    /// The directory, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Syncs the directories that hold `dir`, up to and including `up_to`, so
/// that a directory just created survives a power loss: the export mark in
/// the store says its files are exported, and retention then removes the
/// records.
fn sync_parents(dir: &Path, up_to: &Path) -> Result<()> {
    for parent in dir.ancestors().skip(1) {
        // The parent of a relative name is the current directory.
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        std::fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(io_error(parent))?;
        if parent == up_to || !parent.starts_with(up_to) {
            break;
        }
    }
    Ok(())
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + use<> {
    let path = path.to_owned();
    move |source| Error::Io { path, source }
}

impl ExportSink for DirSink {
    fn exists(&mut self, name: &str) -> Result<bool> {
        check_name(name)?;
        self.dir
            .try_exists(name)
            .map_err(io_error(&self.path.join(name)))
    }

    fn create(&mut self, name: &str) -> Result<Box<dyn ExportFile + '_>> {
        check_name(name)?;
        let tmp = format!(".{name}.tmp");
        let file = self
            .dir
            .create(&tmp)
            .map_err(io_error(&self.path.join(&tmp)))?;
        Ok(Box::new(DirFile {
            out: Some(BufWriter::new(file)),
            dest: name.to_owned(),
            tmp,
            sink: self,
        }))
    }
}

struct DirFile<'a> {
    out: Option<BufWriter<cap_std::fs::File>>,
    tmp: String,
    dest: String,
    sink: &'a DirSink,
}

impl Write for DirFile<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.out {
            Some(w) => w.write(buf),
            None => Err(std::io::ErrorKind::BrokenPipe.into()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.out {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl ExportFile for DirFile<'_> {
    fn commit(mut self: Box<Self>) -> Result<()> {
        let Some(out) = self.out.take() else {
            return Ok(());
        };
        let sink = self.sink;
        let (tmp, dest) = (sink.path.join(&self.tmp), sink.path.join(&self.dest));
        let file = out.into_inner().map_err(|e| Error::Io {
            path: tmp.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(io_error(&tmp))?;
        drop(file);
        sink.dir
            .rename(&self.tmp, &sink.dir, &self.dest)
            .map_err(io_error(&dest))?;
        // The directory's own handle cannot be synced (it is opened for
        // lookups only); a read-only handle of `.` can.
        sink.dir
            .open(".")
            .and_then(|d| d.sync_all())
            .map_err(io_error(&sink.path))
    }
}

impl Drop for DirFile<'_> {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            // Not committed: discard. Nothing to do if that fails too.
            drop(self.sink.dir.remove_file(&self.tmp));
        }
    }
}
