//! Small files replaced whole (catalog, manifests, tokens, settings, and
//! Parquet files): written under a temporary name, synced, renamed over the
//! old one, and the directory synced, so a crash leaves the old file or the
//! new one, never half of one.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Replaces `path` with what `fill` writes, created with permissions `mode`.
pub fn replace_with(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    replace_inner(path, mode, fill, true)
}

/// [`replace_with`] without its two syncs, for many files written at once
/// and then made durable by one [`sync_filesystem`] (a sync per file was
/// most of a persist of thousands of small tables).
pub fn replace_with_unsynced(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    replace_inner(path, mode, fill, false)
}

fn replace_inner(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
    sync: bool,
) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    fill(&mut f)?;
    if sync {
        f.sync_all()?;
    }
    drop(f);
    // A temporary file left by an earlier crash keeps its old mode.
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
    std::fs::rename(&tmp, path)?;
    if !sync {
        return Ok(());
    }
    File::open(
        path.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
    )?
    .sync_all()
}

/// Makes everything written on the filesystem holding `dir` durable (file
/// contents, new names and directories) with one call.
pub fn sync_filesystem(dir: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let d = File::open(dir)?;
    // SAFETY: syncfs on the fd of `d`, which is open for the call.
    match unsafe { libc::syncfs(d.as_raw_fd()) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Replaces `path` with `contents`.
pub fn replace(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    replace_with(path, mode, |f| f.write_all(contents))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_replaced_whole_with_its_mode() {
        let dir = std::env::temp_dir().join(format!("hydrant-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.json");
        replace(&path, b"one", 0o644).unwrap();
        replace(&path, b"two", 0o600).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary left"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn files_written_unsynced_are_whole_and_one_sync_covers_them() {
        let dir = std::env::temp_dir().join(format!("hydrant-files-u-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        for (name, body) in [("a/one", "1"), ("a/b/two", "22")] {
            replace_with_unsynced(&dir.join(name), 0o644, |f| f.write_all(body.as_bytes()))
                .unwrap();
            assert_eq!(std::fs::read_to_string(dir.join(name)).unwrap(), body);
        }
        sync_filesystem(&dir).unwrap();
        assert!(sync_filesystem(&dir.join("missing")).is_err());
        let names: Vec<_> = std::fs::read_dir(dir.join("a"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temporary left: {names:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
