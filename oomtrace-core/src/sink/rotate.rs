//! `agent`'s session files: one directory, a new file when the current one
//! is too big or too old or on SIGHUP, the oldest removed beyond a count.
//! A rotated file ends with an end record of its own counts that names the
//! file the session goes on in; the next begins with the session's header
//! (its start the moment it was opened), so each file reads on its own.

use crate::schema::event::{Header, ReaperEvent, Trailer};
use crate::schema::item::{Event, Progress};
use crate::sink::Sink;
use crate::sink::session::{self, Existing, Writer};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
pub struct Rotation {
    pub max_bytes: u64,
    pub max_age: Duration,
    /// Files kept, the current one included.
    pub keep: usize,
}

/// File names begin with this; only such files are ever removed.
pub const PREFIX: &str = "oomtrace-";
pub const SUFFIX: &str = ".jsonl";

/// Whether a file name is one this sink writes:
/// `oomtrace-20261129T100000.123456Z-3.jsonl` (a user's `oomtrace-notes.jsonl`
/// beside them is not, and is never removed or counted).
fn is_ours(name: &str) -> bool {
    let Some(rest) = name
        .strip_prefix(PREFIX)
        .and_then(|r| r.strip_suffix(SUFFIX))
    else {
        return false;
    };
    let Some((stamp, n)) = rest.rsplit_once('-') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let Some((date, time)) = stamp.strip_suffix('Z').and_then(|s| s.split_once('T')) else {
        return false;
    };
    let (secs, frac) = time.split_once('.').unwrap_or((time, "0"));
    digits(n) && date.len() == 8 && digits(date) && secs.len() == 6 && digits(secs) && digits(frac)
}

struct Current {
    writer: Writer<Box<dyn Write + Send>>,
    path: PathBuf,
    opened: Instant,
    events: u64,
    /// The running session's counts when this file was opened.
    base: Trailer,
}

pub struct RotatingSessions {
    dir: PathBuf,
    rotation: Rotation,
    header: Option<Header>,
    current: Option<Current>,
    /// The latest counts the source said.
    counts: Trailer,
    /// Files opened since start, for unique names within a second.
    opened: u64,
}

impl RotatingSessions {
    pub fn new(dir: &Path, rotation: Rotation) -> Self {
        Self {
            dir: dir.to_owned(),
            rotation,
            header: None,
            current: None,
            counts: Trailer::default(),
            opened: 0,
        }
    }

    /// The file being written.
    pub fn current_path(&self) -> Option<&Path> {
        self.current.as_ref().map(|c| c.path.as_path())
    }

    fn open(&mut self) -> io::Result<()> {
        let Some(mut header) = self.header.clone() else {
            return Ok(());
        };
        header.start = crate::schema::event::now();
        // 2026-11-29T10:00:00.123456Z → 20261129T100000.123456Z: sorts by time.
        let stamp: String = header
            .start
            .chars()
            .filter(|c| *c != '-' && *c != ':')
            .collect();
        self.opened += 1;
        let path = self
            .dir
            .join(format!("{PREFIX}{stamp}-{}{SUFFIX}", self.opened));
        let out = session::create(&path.to_string_lossy(), Existing::Refuse)?;
        let mut writer = Writer::new(out);
        writer.header(&header)?;
        self.current = Some(Current {
            writer,
            path,
            opened: Instant::now(),
            events: 0,
            base: self.counts.clone(),
        });
        self.prune();
        Ok(())
    }

    /// This file's part of `total`: what happened while it was current.
    fn close(&mut self, total: &Trailer, continued_in: Option<String>) -> io::Result<()> {
        let Some(mut c) = self.current.take() else {
            return Ok(());
        };
        let mut t = Trailer::now(
            c.events,
            total.lost.saturating_sub(c.base.lost),
            total.incomplete.saturating_sub(c.base.incomplete),
            total.deferred.saturating_sub(c.base.deferred),
        );
        t.kernel_errors = total.kernel_errors.saturating_sub(c.base.kernel_errors);
        t.latency = total.latency.clone();
        t.continued_in = continued_in;
        c.writer.trailer(&t)
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.current.is_none() {
            return Ok(());
        }
        // The next name is known before this file ends.
        let counts = self.counts.clone();
        let prev = self.current.take();
        self.open()?;
        let next = self.current.take();
        self.current = prev;
        let name = next
            .as_ref()
            .and_then(|n| n.path.file_name())
            .map(|n| n.to_string_lossy().into_owned());
        self.close(&counts, name)?;
        self.current = next;
        Ok(())
    }

    fn due(&self) -> bool {
        self.current.as_ref().is_some_and(|c| {
            c.opened.elapsed() >= self.rotation.max_age
                || std::fs::metadata(&c.path).is_ok_and(|m| m.len() >= self.rotation.max_bytes)
        })
    }

    /// Removes the oldest of this sink's files beyond `keep`.
    fn prune(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut ours: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(is_ours))
            .collect();
        ours.sort();
        let excess = ours.len().saturating_sub(self.rotation.keep.max(1));
        for p in &ours[..excess] {
            if Some(p.as_path()) != self.current_path() {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

impl Sink for RotatingSessions {
    fn session(&mut self, h: &Header) -> io::Result<()> {
        self.header = Some(h.clone());
        self.open()
    }

    fn event(&mut self, ev: &Event) -> io::Result<()> {
        if self.due() {
            self.rotate()?;
        }
        if let Some(c) = self.current.as_mut() {
            c.writer.event(ev)?;
            c.events += 1;
        }
        Ok(())
    }

    fn reaper(&mut self, r: &ReaperEvent) -> io::Result<()> {
        match self.current.as_mut() {
            Some(c) => c.writer.reaper(r),
            None => Ok(()),
        }
    }

    fn progress(&mut self, p: &Progress) -> io::Result<()> {
        self.counts = p.counts.clone();
        if p.reopen || self.due() {
            self.rotate()?;
        }
        Ok(())
    }

    fn end(&mut self, t: &Trailer) -> io::Result<()> {
        self.counts = t.clone();
        self.close(t, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::event::OomEvent;

    /// A fresh directory and a rotating sink in it, its session begun.
    fn sink_in(tag: &str, rotation: Rotation) -> (PathBuf, RotatingSessions) {
        let dir =
            std::env::temp_dir().join(format!("oomtrace-rotate-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut s = RotatingSessions::new(&dir, rotation);
        s.session(&Header::new("6.18", "kprobe", vec![])).unwrap();
        (dir, s)
    }

    fn event(seq: u64) -> Event {
        Event::new(OomEvent {
            seq,
            time: "2026-11-29T00:00:00Z".into(),
            ..OomEvent::default()
        })
    }

    fn files(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    }

    /// Only the whole shape is ours: a name off in any one part is not.
    #[test]
    fn a_name_is_ours_only_in_its_whole_shape() {
        assert!(is_ours("oomtrace-20261129T100000.123456Z-3.jsonl"));
        assert!(is_ours("oomtrace-20261129T100000Z-12.jsonl"));
        for theirs in [
            "oomtrace-20261129T100000.123456Z-3.json",
            "oomtrace-20261129T100000.123456Z-.jsonl",
            "oomtrace-20261129T100000.123456Z-3x.jsonl",
            "oomtrace-2026112T100000.123456Z-3.jsonl",
            "oomtrace-2026112xT100000.123456Z-3.jsonl",
            "oomtrace-20261129T10000.123456Z-3.jsonl",
            "oomtrace-20261129T10000x.123456Z-3.jsonl",
            "oomtrace-20261129T100000.12a456Z-3.jsonl",
            "oomtrace-20261129T100000.123456-3.jsonl",
            "oomtrace-20261129X100000.123456Z-3.jsonl",
            "oomtrace-20261129T100000.123456Z3.jsonl",
            "xoomtrace-20261129T100000.123456Z-3.jsonl",
        ] {
            assert!(!is_ours(theirs), "{theirs}");
        }
    }

    /// With `max_age` 0 every event opens a file of its own, numbered in
    /// order, each with its event and the reaper step that followed it.
    #[test]
    fn rotates_by_age_numbering_the_files_in_order() {
        let (dir, mut s) = sink_in(
            "age",
            Rotation {
                max_bytes: u64::MAX,
                max_age: Duration::ZERO,
                keep: 10,
            },
        );
        for seq in 1..=3 {
            s.event(&event(seq)).unwrap();
            s.reaper(&ReaperEvent {
                seq,
                ..ReaperEvent::default()
            })
            .unwrap();
        }
        s.end(&Trailer::now(3, 0, 0, 0)).unwrap();
        let kept = files(&dir);
        let numbers: Vec<u64> = kept
            .iter()
            .map(|p| {
                let n = p.file_name().unwrap().to_str().unwrap();
                n.trim_end_matches(SUFFIX)
                    .rsplit('-')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        // The first file, opened at the session, holds nothing: each event
        // found it due.
        assert_eq!(numbers, vec![1, 2, 3, 4], "{kept:?}");
        for (i, f) in kept.iter().skip(1).enumerate() {
            let (sessions, _) = crate::source::session::read(f, false).unwrap();
            let seq = i as u64 + 1;
            assert_eq!(
                sessions[0].events.iter().map(|e| e.seq).collect::<Vec<_>>(),
                vec![seq]
            );
            assert_eq!(
                sessions[0]
                    .reapers
                    .iter()
                    .map(|r| r.seq)
                    .collect::<Vec<_>>(),
                vec![seq],
                "{f:?}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A reopen request (SIGHUP) opens a new file at once, due or not.
    #[test]
    fn a_reopen_request_opens_a_new_file_at_once() {
        let (dir, mut s) = sink_in(
            "hup",
            Rotation {
                max_bytes: u64::MAX,
                max_age: Duration::from_secs(3600),
                keep: 10,
            },
        );
        assert_eq!(files(&dir).len(), 1);
        s.progress(&Progress::default()).unwrap();
        assert_eq!(files(&dir).len(), 1, "counts alone rotate nothing");
        s.progress(&Progress {
            reopen: true,
            ..Progress::default()
        })
        .unwrap();
        assert_eq!(files(&dir).len(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn rotates_by_size_and_on_request_and_keeps_the_newest() {
        let (dir, mut s) = sink_in(
            "size",
            Rotation {
                max_bytes: 600,
                max_age: Duration::from_secs(3600),
                keep: 3,
            },
        );
        // A user's files beside the sessions: never removed, never counted
        // (each rotation prunes).
        let theirs = [
            "notes.jsonl",
            "oomtrace-notes.jsonl",
            "oomtrace-20261129T100000Z.jsonl",
            "oomtrace-20261129T100000.1Z-1.jsonl.bak",
        ];
        for name in theirs {
            std::fs::write(dir.join(name), "mine\n").unwrap();
        }
        for seq in 1..=10 {
            s.event(&event(seq)).unwrap();
        }
        let mut counts = Trailer::now(10, 4, 1, 0);
        s.progress(&Progress {
            counts: counts.clone(),
            reopen: true,
            ..Progress::default()
        })
        .unwrap();
        counts.lost = 6;
        s.end(&counts).unwrap();
        for name in theirs {
            assert_eq!(std::fs::read_to_string(dir.join(name)).unwrap(), "mine\n");
        }
        let kept: Vec<PathBuf> = files(&dir)
            .into_iter()
            .filter(|p| !theirs.iter().any(|t| p.ends_with(t)))
            .collect();
        // Rotated by size (about 600 bytes: a few events a file) and once on
        // request: not at every event.
        let last: u64 = kept
            .last()
            .and_then(|p| {
                p.to_str()?
                    .trim_end_matches(SUFFIX)
                    .rsplit('-')
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap();
        assert!(
            (4..=7).contains(&last),
            "{last} files for 10 events: {kept:?}"
        );
        assert_eq!(kept.len(), 3, "{kept:?}");
        // Every kept file reads on its own: header, events, its own end.
        let mut seqs = Vec::new();
        let mut lost = 0;
        for (i, f) in kept.iter().enumerate() {
            let (sessions, _) = crate::source::session::read(f, false).unwrap();
            assert_eq!(sessions.len(), 1);
            let t = sessions[0].trailer.as_ref().expect("an end record");
            assert_eq!(t.events as usize, sessions[0].events.len());
            lost += t.lost;
            let next = kept
                .get(i + 1)
                .map(|n| n.file_name().unwrap().to_string_lossy().into_owned());
            assert_eq!(t.continued_in, next, "{f:?}");
            seqs.extend(sessions[0].events.iter().map(|e| e.seq));
        }
        // The newest files hold the last events; the 4 records lost before
        // the reopen are the file's that was current then, the 2 lost after
        // it the last file's, which holds no event.
        assert_eq!(seqs.last(), Some(&10));
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
        assert_eq!(lost, 6);
        let (last, _) = crate::source::session::read(kept.last().unwrap(), false).unwrap();
        let t = last[0].trailer.as_ref().unwrap();
        assert_eq!((t.events, t.lost), (0, 2));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
