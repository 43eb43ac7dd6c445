//! The data directory and what it keeps private: the directory is created
//! readable by the server's user only (0700), its files 0600, and its
//! secret keys (`mask.key`, `cache.key`) made once from the system's random
//! source.
//!
//! The audit trail, the masking key and the compile cache's key live here:
//! a data directory others can read leaks the trail; one others can write
//! lets them forge compiled code.

use crate::error::{Error, Result};
use std::path::Path;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// Creates `dir` (and any missing parent) with mode 0700; an existing
/// directory is left as it is.
pub fn create(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io(dir))
}

/// Makes `path` readable and writable by its owner only, creating it empty
/// if it does not exist (SQLite gives its `-wal` and `-shm` files the mode
/// of the database file, so a database made private first stays private).
pub fn private_file(path: &Path) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path).map_err(io(path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io(path))?;
    }
    drop(file);
    Ok(())
}

/// Opens `path` for a new private file (0600), failing if it exists.
pub fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// The 32-byte secret in `data_dir/name`, made from the system's random
/// source (mode 0600) when the file is missing. `what` names it in errors.
pub fn secret(data_dir: &Path, name: &str, what: &str) -> Result<[u8; 32]> {
    let path = data_dir.join(name);
    match std::fs::read(&path) {
        Ok(bytes) => bytes.as_slice().try_into().map_err(|_| Error::Config {
            path: path.display().to_string(),
            message: format!(
                "the {what} must be exactly 32 bytes, found {}; restore it from a backup \
                 or delete it to make a new one",
                bytes.len()
            ),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use std::io::Write;
            create(data_dir)?;
            let mut key = [0u8; 32];
            getrandom::fill(&mut key)
                .map_err(|e| io(&path)(std::io::Error::other(e.to_string())))?;
            let mut file = create_private(&path).map_err(io(&path))?;
            file.write_all(&key).map_err(io(&path))?;
            file.sync_all().map_err(io(&path))?;
            Ok(key)
        }
        Err(e) => Err(io(&path)(e)),
    }
}

/// Refuses a directory that another user owns or that others may read,
/// write or enter: what it holds is only trusted if nobody else could have
/// put it there. `what` names the directory in the message.
pub fn check_private(dir: &Path, what: &str) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::symlink_metadata(dir).map_err(io(dir))?;
        let refuse = |why: String| Error::Config {
            path: dir.display().to_string(),
            message: format!(
                "the {what} {why}, so it is refused: anyone who can write there could plant \
                 code that the server would run; remove it (it is rebuilt), or `chown` it to \
                 the server's user and `chmod 700` it"
            ),
        };
        if !meta.is_dir() {
            return Err(refuse("is not a directory".into()));
        }
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me {
            return Err(refuse(format!(
                "is owned by user {}, not by the server's user {me}",
                meta.uid()
            )));
        }
        if meta.mode() & 0o077 != 0 {
            return Err(refuse(format!(
                "has mode {:o}, not 700",
                meta.mode() & 0o7777
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn directories_and_files_are_made_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        create(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        let file = dir.join("audit.db");
        std::fs::write(&file, b"x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        private_file(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read(&file).unwrap(), b"x", "contents are kept");
    }

    #[test]
    fn a_secret_is_made_once_privately_and_read_back() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let key = secret(&data, "test.key", "test key").unwrap();
        assert_eq!(mode(&data.join("test.key")), 0o600);
        assert_eq!(secret(&data, "test.key", "test key").unwrap(), key);
        std::fs::write(data.join("bad.key"), b"short").unwrap();
        let e = secret(&data, "bad.key", "test key")
            .unwrap_err()
            .to_string();
        assert!(e.contains("exactly 32 bytes"), "{e}");
    }

    #[test]
    fn a_directory_others_can_use_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cache");
        create(&dir).unwrap();
        check_private(&dir, "compile cache").unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = check_private(&dir, "compile cache")
            .unwrap_err()
            .to_string();
        assert!(e.contains("mode 755, not 700"), "{e}");
        let file = tmp.path().join("file");
        std::fs::write(&file, b"").unwrap();
        assert!(check_private(&file, "compile cache").is_err());
    }
}
