//! Session files written: a header line, the events as JSON Lines, and a
//! trailer when the recorder stopped cleanly. Written so that a recorder
//! killed at any moment leaves every reported event readable; read back by
//! [`crate::source::session`].

use crate::schema::event::{Header, ReaperEvent, Trailer};
use crate::schema::item::Event;
use crate::sink::Sink;
use serde::Serialize;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// How `record -o FILE` treats an existing FILE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    Refuse,
    Overwrite,
    Append,
}

/// Opens the output: `-` is stdout. Files hold process names and cgroup
/// paths, and a recorder often runs as root: they are created 0600, never
/// silently overwritten, and never written through a symbolic link (one
/// planted where the session should go would aim root's writes anywhere).
/// `Overwrite` replaces the path itself, a link included, atomically;
/// `Append` refuses a link and makes an older, wider file 0600.
pub fn create(path: &str, existing: Existing) -> io::Result<Box<dyn Write + Send>> {
    if path == "-" {
        return Ok(Box::new(io::stdout()));
    }
    let err = |e: io::Error, what: &str| io::Error::new(e.kind(), format!("{path}: {what}{e}"));
    // A FIFO (a log shipper's, a reader of its own) is written into as it
    // is: no file of a user's is replaced, whatever `existing` says.
    if std::fs::symlink_metadata(path).is_ok_and(|m| {
        use std::os::unix::fs::FileTypeExt;
        m.file_type().is_fifo()
    }) {
        let fifo = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| err(e, ""))?;
        return Ok(Box::new(fifo));
    }
    let new_file = |p: &Path| {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(p)
    };
    let file = match existing {
        Existing::Refuse => new_file(Path::new(path)).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                io::Error::new(
                    e.kind(),
                    format!(
                        "{path} exists; --force replaces it, --append adds a new session to it"
                    ),
                )
            } else {
                err(e, "")
            }
        })?,
        Existing::Overwrite => {
            // A new file beside it, renamed over it: the rename replaces
            // whatever the name was (a link too) and follows nothing.
            let target = Path::new(path);
            let dir = target
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let name = target
                .file_name()
                .ok_or_else(|| io::Error::other(format!("{path}: not a file name")))?;
            let tmp = dir.join(format!(
                ".{}.oomtrace-{}",
                name.to_string_lossy(),
                std::process::id()
            ));
            let f = new_file(&tmp).map_err(|e| err(e, "creating it beside: "))?;
            if let Err(e) = std::fs::rename(&tmp, target) {
                let _ = std::fs::remove_file(&tmp);
                return Err(err(e, "replacing it: "));
            }
            f
        }
        Existing::Append => {
            let f = OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(path)
                .map_err(|e| {
                    if e.raw_os_error() == Some(libc::ELOOP) {
                        io::Error::new(
                            e.kind(),
                            format!(
                                "{path} is a symbolic link: oomtrace does not append through links; name the file itself"
                            ),
                        )
                    } else {
                        err(e, "")
                    }
                })?;
            let meta = f.metadata().map_err(|e| err(e, ""))?;
            if !meta.is_file() {
                return Err(io::Error::other(format!(
                    "{path} is not a regular file: sessions are appended to files only"
                )));
            }
            use std::os::unix::fs::PermissionsExt;
            if meta.permissions().mode() & 0o077 != 0 {
                f.set_permissions(std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| {
                        err(
                            e,
                            "readable by others, and it cannot be made 0600 (a session holds process names): ",
                        )
                    })?;
            }
            f
        }
    };
    Ok(Box::new(file))
}

/// Writes a session: header, events (each flushed as written), trailer.
pub struct Writer<W: Write> {
    out: W,
}

impl<W: Write> Writer<W> {
    pub fn new(out: W) -> Self {
        Self { out }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    fn line<T: Serialize>(&mut self, v: &T) -> io::Result<()> {
        // One write per line: a reader never sees half of it unless we die mid-write.
        let mut buf = serde_json::to_vec(v)?;
        buf.push(b'\n');
        self.out.write_all(&buf)?;
        self.out.flush()
    }

    pub fn header(&mut self, h: &Header) -> io::Result<()> {
        self.line(h)
    }

    pub fn trailer(&mut self, t: &Trailer) -> io::Result<()> {
        self.line(t)
    }
}

impl<W: Write> Sink for Writer<W> {
    fn session(&mut self, h: &Header) -> io::Result<()> {
        self.header(h)
    }

    fn event(&mut self, ev: &Event) -> io::Result<()> {
        match (&ev.line, &ev.full) {
            // A recorded line goes on as it was.
            (Some(line), _) => {
                let mut buf = Vec::with_capacity(line.len() + 1);
                buf.extend_from_slice(line);
                buf.push(b'\n');
                self.out.write_all(&buf)?;
                self.out.flush()
            }
            (None, Some(full)) => self.line(full),
            (None, None) => self.line(&ev.brief),
        }
    }

    fn reaper(&mut self, r: &ReaperEvent) -> io::Result<()> {
        self.line(r)
    }

    fn end(&mut self, t: &Trailer) -> io::Result<()> {
        self.trailer(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rand_suffix() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        N.fetch_add(1, Ordering::Relaxed)
    }

    /// Never through a link, always 0600: a planted symlink is replaced by
    /// `--force` (its target untouched), refused by `--append`, and an
    /// older world-readable file becomes 0600 when appended to.
    #[test]
    fn files_are_created_as_a_careful_root_tool_creates_them() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("oomtrace-create-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("passwd");
        std::fs::write(&victim, "root:x:0:0\n").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
        let link = dir.join("session.json");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let l = link.to_str().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;

        assert!(
            create(l, Existing::Refuse).is_err(),
            "a link is an existing name"
        );
        let e = create(l, Existing::Append).err().unwrap();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        {
            let mut w = create(l, Existing::Overwrite).unwrap();
            w.write_all(b"{}\n").unwrap();
        }
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "root:x:0:0\n");
        assert_eq!(mode(&victim), 0o644, "the link's target is untouched");
        assert!(!std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(mode(&link), 0o600);
        assert_eq!(std::fs::read_to_string(&link).unwrap(), "{}\n");

        let old = dir.join("old.json");
        std::fs::write(&old, "{}\n").unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(create(old.to_str().unwrap(), Existing::Append).unwrap());
        assert_eq!(mode(&old), 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "oomtrace-create-{name}-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
    }

    /// A session file is made 0600 and never silently replaced; `--force`
    /// replaces the name itself (a link planted there, not what it points
    /// at); `--append` refuses a link and makes an older, wider file 0600.
    #[test]
    fn session_files_are_private_and_never_written_through_a_link() {
        let d = scratch("modes");
        let path = d.join("s.jsonl");
        let p = path.to_str().unwrap();
        create(p, Existing::Refuse)
            .unwrap()
            .write_all(b"one\n")
            .unwrap();
        assert_eq!(mode(&path), 0o600);
        let e = create(p, Existing::Refuse).err().unwrap();
        assert!(e.to_string().contains("exists; --force replaces it"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\n");
        // --append: added to, and made private.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        create(p, Existing::Append)
            .unwrap()
            .write_all(b"two\n")
            .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\n");
        assert_eq!(mode(&path), 0o600);
        // A link where the session goes: --append refuses it, --force
        // replaces the link and leaves its target alone.
        let target = d.join("victim");
        std::fs::write(&target, "precious\n").unwrap();
        let link = d.join("link.jsonl");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let l = link.to_str().unwrap();
        let e = create(l, Existing::Append).err().unwrap();
        assert!(e.to_string().contains("is a symbolic link"), "{e}");
        assert!(create(l, Existing::Refuse).is_err());
        create(l, Existing::Overwrite)
            .unwrap()
            .write_all(b"new\n")
            .unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_file()
        );
        assert_eq!(std::fs::read_to_string(&link).unwrap(), "new\n");
        assert_eq!(mode(&link), 0o600);
        // Nothing left beside it.
        let names: Vec<String> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
        // Where it cannot be made: the reason, with the path.
        let e = create(d.join("no/such/dir").to_str().unwrap(), Existing::Overwrite)
            .err()
            .unwrap();
        assert!(e.to_string().contains("creating it beside: "), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
