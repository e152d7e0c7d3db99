//! Session files: a header line, the events as JSON Lines, and a trailer
//! when the recorder stopped cleanly. Written so that a recorder killed at
//! any moment leaves every reported event readable.

use crate::event::OomEvent;
use crate::sink::Sink;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The format this oomtrace writes and the newest it reads.
pub const FORMAT: u32 = 1;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Header {
    #[serde(rename = "type")]
    pub kind: String,
    pub format: u32,
    pub oomtrace: String,
    pub kernel: String,
    pub hostname: String,
    pub boot_id: String,
    pub start: String,
    pub mode: String,
    pub hooks: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Trailer {
    #[serde(rename = "type")]
    pub kind: String,
    pub end: String,
    pub events: u64,
    pub lost: u64,
    pub incomplete: u64,
    pub deferred: u64,
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

impl Header {
    pub fn new(kernel: &str, mode: &str, hooks: Vec<String>) -> Self {
        Self {
            kind: "session".into(),
            format: FORMAT,
            oomtrace: env!("CARGO_PKG_VERSION").into(),
            kernel: kernel.into(),
            hostname: read_trim("/proc/sys/kernel/hostname"),
            boot_id: read_trim("/proc/sys/kernel/random/boot_id"),
            start: humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string(),
            mode: mode.into(),
            hooks,
        }
    }
}

/// How `record -o FILE` treats an existing FILE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    Refuse,
    Overwrite,
    Append,
}

/// Opens the output: `-` is stdout; files are created 0600 (they hold
/// process names and cgroup paths) and never silently overwritten.
pub fn create(path: &str, existing: Existing) -> io::Result<Box<dyn Write + Send>> {
    if path == "-" {
        return Ok(Box::new(io::stdout()));
    }
    let mut o = OpenOptions::new();
    o.write(true).mode(0o600);
    match existing {
        Existing::Refuse => o.create_new(true),
        Existing::Overwrite => o.create(true).truncate(true),
        Existing::Append => o.create(true).append(true),
    };
    o.open(path)
        .map(|f| Box::new(f) as Box<dyn Write + Send>)
        .map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                io::Error::new(
                    e.kind(),
                    format!(
                        "{path} exists; --force overwrites it, --append adds a new session to it"
                    ),
                )
            } else {
                io::Error::new(e.kind(), format!("{path}: {e}"))
            }
        })
}

/// Writes a session: header, events (each flushed as written), trailer.
pub struct Writer<W: Write> {
    out: W,
}

impl<W: Write> Writer<W> {
    pub fn new(out: W) -> Self {
        Self { out }
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
    fn start(&mut self, kernel: &str, mode: &str, hooks: &[String]) -> io::Result<()> {
        self.header(&Header::new(kernel, mode, hooks.to_vec()))
    }

    fn event(&mut self, ev: &OomEvent) -> io::Result<()> {
        self.line(ev)
    }

    fn reaper(&mut self, r: &crate::event::ReaperEvent) -> io::Result<()> {
        self.line(r)
    }
}

/// One session as read back.
#[derive(Debug, Default)]
pub struct Session {
    pub header: Header,
    pub events: Vec<OomEvent>,
    /// The reaper's steps, by the `seq` of the event they follow.
    pub reapers: Vec<crate::event::ReaperEvent>,
    pub trailer: Option<Trailer>,
}

/// What reading a file found besides sessions: said to the user, not fatal.
#[derive(Debug, Default, PartialEq)]
pub struct ReadNotes {
    /// (line, bytes) of a last line cut off mid-write.
    pub truncated_tail: Option<(usize, usize)>,
    /// Lines skipped with `--skip-bad`: (line, why).
    pub skipped: Vec<(usize, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path} is a directory, not a session file")]
    Directory { path: String },
    #[error("{path} is empty: not an oomtrace session")]
    Empty { path: String },
    #[error("{path}:1: not an oomtrace session (expected a {{\"type\":\"session\",...}} header)")]
    NotASession { path: String },
    #[error(
        "{path}:{line}: written by a newer oomtrace (session format {found}); this oomtrace reads format {FORMAT} and older: upgrade oomtrace"
    )]
    NewerFormat {
        path: String,
        line: usize,
        found: u32,
    },
    #[error("writing the report: {0}")]
    Output(io::Error),
    #[error("{path}:{line}: {why} (--skip-bad goes on past such lines)")]
    Bad {
        path: String,
        line: usize,
        why: String,
    },
}

#[derive(Deserialize)]
struct Kind {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    format: u32,
}

/// Reads every session in a file (`--append` puts several in one).
pub fn read(path: &Path, skip_bad: bool) -> Result<(Vec<Session>, ReadNotes), ReadError> {
    let p = path.display().to_string();
    if path.is_dir() {
        return Err(ReadError::Directory { path: p });
    }
    let file = File::open(path).map_err(|source| ReadError::Io {
        path: p.clone(),
        source,
    })?;
    read_from(BufReader::with_capacity(1 << 20, file), &p, skip_bad)
}

/// One line of a session file, as read.
pub enum Item<'a> {
    Header(Header),
    /// The event (only its `Brief` fields when read briefly) and its line.
    Event(Box<OomEvent>, &'a [u8]),
    Reaper(crate::event::ReaperEvent),
    End(Trailer),
}

/// What filters and summaries look at: the rest of an event is skipped,
/// not built (counters and zones are most of a line).
#[derive(Deserialize)]
struct Brief {
    seq: u64,
    time: String,
    #[serde(default)]
    trigger: crate::event::Task,
    gfp_flags: Option<String>,
    order: Option<i32>,
    memcg: Option<String>,
    killed: Option<bool>,
    victim: Option<crate::event::Victim>,
    #[serde(default)]
    also_killed: Vec<crate::event::Victim>,
}

impl From<Brief> for OomEvent {
    fn from(b: Brief) -> Self {
        OomEvent {
            kind: "oom".into(),
            seq: b.seq,
            time: b.time,
            trigger: b.trigger,
            gfp_flags: b.gfp_flags,
            order: b.order,
            memcg: b.memcg,
            killed: b.killed,
            victim: b.victim,
            also_killed: b.also_killed,
            ..OomEvent::default()
        }
    }
}

/// How much of each event `read_stream` builds.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    Full,
    Brief,
}

/// Reads sessions from any reader into memory; `p` names it in errors.
pub fn read_from(
    reader: impl BufRead,
    p: &str,
    skip_bad: bool,
) -> Result<(Vec<Session>, ReadNotes), ReadError> {
    let mut sessions: Vec<Session> = Vec::new();
    let notes = read_stream(reader, p, skip_bad, Depth::Full, |item| {
        match item {
            Item::Header(header) => sessions.push(Session {
                header,
                ..Session::default()
            }),
            // read_stream hands out nothing before a header.
            Item::Event(ev, _) => sessions.last_mut().unwrap().events.push(*ev),
            Item::Reaper(r) => sessions.last_mut().unwrap().reapers.push(r),
            Item::End(t) => sessions.last_mut().unwrap().trailer = Some(t),
        }
        Ok(())
    })?;
    Ok((sessions, notes))
}

/// The record type of a line: our own lines begin `{"type":"...`, which is
/// read without parsing the rest; anything else gets a full parse.
fn kind_of(text: &[u8]) -> Result<Kind, serde_json::Error> {
    if let Some(rest) = text.strip_prefix(br#"{"type":""#)
        && let Some(end) = rest.iter().position(|&b| b == b'"')
        && let Ok(kind) = std::str::from_utf8(&rest[..end])
        && kind != "session"
    {
        return Ok(Kind {
            kind: kind.to_owned(),
            format: 0,
        });
    }
    serde_json::from_slice(text)
}

/// A parsed line, a line to skip (`Ok(None)`), a cut-off last line
/// (`Err(None)`) or a bad line (`Err(Some(why))`).
fn triage<'a>(
    what: &str,
    r: Result<Item<'a>, serde_json::Error>,
    complete: bool,
    skip_bad: bool,
) -> Result<Option<Item<'a>>, Option<String>> {
    match r {
        Ok(item) => Ok(Some(item)),
        Err(_) if !complete => Err(None),
        Err(_) if skip_bad => Ok(None),
        Err(e) => Err(Some(format!("bad {what}: {e}"))),
    }
}

/// Reads a session file line by line, handing each item to `f` as it comes
/// (a 100k-event file is never held in memory). Stops at the first error
/// of `f`, reported as `ReadError::Output`.
pub fn read_stream(
    mut reader: impl BufRead,
    p: &str,
    skip_bad: bool,
    depth: Depth,
    mut f: impl FnMut(Item<'_>) -> io::Result<()>,
) -> Result<ReadNotes, ReadError> {
    let p = p.to_owned();
    let mut seen_header = false;
    let mut notes = ReadNotes::default();
    let mut buf = Vec::new();
    let mut line_no = 0;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|source| ReadError::Io {
                path: p.clone(),
                source,
            })?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let complete = buf.ends_with(b"\n");
        let text = buf.strip_suffix(b"\n").unwrap_or(&buf);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let bad = |why: String| ReadError::Bad {
            path: p.clone(),
            line: line_no,
            why,
        };
        let kind = match kind_of(text) {
            Ok(k) => k,
            // The recorder died mid-write: everything before is intact.
            Err(_) if !complete && seen_header => {
                notes.truncated_tail = Some((line_no, text.len()));
                break;
            }
            Err(_) if !seen_header => return Err(ReadError::NotASession { path: p }),
            Err(e) if skip_bad => {
                notes.skipped.push((line_no, e.to_string()));
                continue;
            }
            Err(e) => return Err(bad(format!("not a JSON object: {e}"))),
        };
        let item = match kind.kind.as_str() {
            "session" => {
                if kind.format > FORMAT {
                    return Err(ReadError::NewerFormat {
                        path: p,
                        line: line_no,
                        found: kind.format,
                    });
                }
                triage(
                    "session header",
                    serde_json::from_slice(text).map(Item::Header),
                    complete,
                    skip_bad,
                )
            }
            _ if !seen_header => return Err(ReadError::NotASession { path: p }),
            "oom" => triage(
                "event",
                match depth {
                    Depth::Full => serde_json::from_slice(text),
                    Depth::Brief => serde_json::from_slice::<Brief>(text).map(OomEvent::from),
                }
                .map(|e| Item::Event(Box::new(e), text)),
                complete,
                skip_bad,
            ),
            "reaper" => triage(
                "reaper record",
                serde_json::from_slice(text).map(Item::Reaper),
                complete,
                skip_bad,
            ),
            "end" => triage(
                "end record",
                serde_json::from_slice(text).map(Item::End),
                complete,
                skip_bad,
            ),
            // Record types added by later versions of format 1 are skipped.
            _ => continue,
        };
        match item {
            Ok(Some(item)) => {
                seen_header |= matches!(item, Item::Header(_));
                f(item).map_err(ReadError::Output)?;
            }
            Ok(None) => notes.skipped.push((
                line_no,
                format!("a {} record that does not parse", kind.kind),
            )),
            Err(None) => {
                notes.truncated_tail = Some((line_no, text.len()));
                break;
            }
            // A cut-off last line may still start like a record.
            Err(Some(why)) => return Err(bad(why)),
        }
    }
    if line_no == 0 {
        return Err(ReadError::Empty { path: p });
    }
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64) -> OomEvent {
        OomEvent {
            kind: "oom".into(),
            seq,
            time: "2026-11-27T10:59:01.123456Z".into(),
            source: "tracepoint".into(),
            ..OomEvent::default()
        }
    }

    fn write_session(events: u64, trailer: bool) -> Vec<u8> {
        let mut w = Writer::new(Vec::new());
        w.header(&Header::new(
            "6.18.0",
            "tracepoint",
            vec!["mark_victim".into()],
        ))
        .unwrap();
        for i in 1..=events {
            w.event(&event(i)).unwrap();
        }
        if trailer {
            w.trailer(&Trailer {
                kind: "end".into(),
                events,
                ..Trailer::default()
            })
            .unwrap();
        }
        w.out
    }

    fn read_bytes(bytes: &[u8], skip_bad: bool) -> Result<(Vec<Session>, ReadNotes), ReadError> {
        let dir = std::env::temp_dir().join(format!(
            "oomtrace-session-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::write(&dir, bytes).unwrap();
        let r = read(&dir, skip_bad);
        std::fs::remove_file(&dir).unwrap();
        r
    }

    fn rand_suffix() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        N.fetch_add(1, Ordering::Relaxed)
    }

    #[test]
    fn round_trips() {
        let (s, notes) = read_bytes(&write_session(3, true), false).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].events, vec![event(1), event(2), event(3)]);
        assert_eq!(s[0].trailer.as_ref().unwrap().events, 3);
        assert_eq!(notes, ReadNotes::default());
    }

    #[test]
    fn a_cut_off_tail_is_named_and_the_rest_is_kept() {
        let mut b = write_session(2, false);
        let partial = serde_json::to_vec(&event(3)).unwrap();
        b.extend_from_slice(&partial[..40]);
        let (s, notes) = read_bytes(&b, false).unwrap();
        assert_eq!(s[0].events.len(), 2);
        assert!(s[0].trailer.is_none());
        assert_eq!(notes.truncated_tail, Some((4, 40)));
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let mut b = write_session(1, false);
        b.extend_from_slice(b"{not json\n");
        b.extend_from_slice(&write_session(1, true)[..0]);
        match read_bytes(&b, false) {
            Err(ReadError::Bad { line: 3, .. }) => {}
            other => panic!("{other:?}"),
        }
        let (s, notes) = read_bytes(&b, true).unwrap();
        assert_eq!(s[0].events.len(), 1);
        assert_eq!(notes.skipped.len(), 1);
        assert!(matches!(
            read_bytes(b"", false),
            Err(ReadError::Empty { .. })
        ));
        assert!(matches!(
            read_bytes(b"hello\n", false),
            Err(ReadError::NotASession { .. })
        ));
        assert!(matches!(
            read_bytes(b"{\"type\":\"oom\",\"seq\":1}\n", false),
            Err(ReadError::NotASession { .. })
        ));
        let newer = br#"{"type":"session","format":2}"#;
        let e = read_bytes(newer, false).unwrap_err();
        assert!(e.to_string().contains("format 2"), "{e}");
        assert!(matches!(
            read(Path::new("/"), false),
            Err(ReadError::Directory { .. })
        ));
        assert!(matches!(
            read(Path::new("/nonexistent/x"), false),
            Err(ReadError::Io { .. })
        ));
    }

    #[test]
    fn sessions_append_and_unknown_record_types_are_skipped() {
        let mut b = write_session(1, true);
        b.extend_from_slice(b"{\"type\":\"future-thing\",\"x\":1}\n");
        b.extend_from_slice(&write_session(2, true));
        let (s, _) = read_bytes(&b, false).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].events.len(), 2);
    }
}
