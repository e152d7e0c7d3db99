//! Session files read back: every session in a file, or one item at a time
//! in bounded memory, with the file and line of anything that is not one
//! (written by [`crate::sink::session`]).

use crate::schema::event::{Brief, FORMAT, Header, OomEvent, ReaperEvent, Trailer};
use crate::schema::item::{Event, Item};
use serde::Deserialize;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

/// The longest line a session file may have. An event is about 7 KB; a
/// line past this is not oomtrace's (or is `/dev/zero`), and reading it
/// whole could exhaust memory.
pub const MAX_LINE: usize = 4 << 20;

/// One session as read back whole (tests, small files).
#[derive(Debug, Default)]
pub struct Session {
    pub header: Header,
    pub events: Vec<OomEvent>,
    /// The reaper's steps, by the `seq` of the event they follow.
    pub reapers: Vec<ReaperEvent>,
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
    // The io error is in the message, not a `source`: anyhow's `{:#}` prints
    // a chain, and the reason would show twice.
    #[error("{path}: {error}")]
    Io { path: String, error: io::Error },
    #[error("{path} is a directory, not a session file")]
    Directory { path: String },
    #[error("{path} is empty: not an oomtrace session")]
    Empty { path: String },
    #[error("{path}:1: not an oomtrace session (expected a {{\"type\":\"session\",...}} header)")]
    NotASession { path: String },
    #[error(
        "{path}:{line}: more than {} MiB without a newline: not an oomtrace session (expected a {{\"type\":\"session\",...}} header)",
        MAX_LINE >> 20
    )]
    EndlessFirstLine { path: String, line: usize },
    #[error(
        "{path}:{line}: written by a newer oomtrace (session format {found}); this oomtrace reads format {FORMAT} and older: upgrade oomtrace"
    )]
    NewerFormat {
        path: String,
        line: usize,
        found: u32,
    },
    #[error("{path}:{line}: {why} (--skip-bad goes on past such lines)")]
    Bad {
        path: String,
        line: usize,
        why: String,
    },
}

/// Reads every session in a file (`--append` puts several in one) into memory.
pub fn read(path: &Path, skip_bad: bool) -> Result<(Vec<Session>, ReadNotes), ReadError> {
    let p = path.display().to_string();
    read_from(open(path)?, &p, skip_bad)
}

/// Opens a session file for reading; a directory is refused by name.
pub fn open(path: &Path) -> Result<BufReader<File>, ReadError> {
    let p = path.display().to_string();
    if path.is_dir() {
        return Err(ReadError::Directory { path: p });
    }
    let file = File::open(path).map_err(|error| ReadError::Io { path: p, error })?;
    Ok(BufReader::with_capacity(1 << 20, file))
}

/// Reads sessions from any reader into memory; `p` names it in errors.
pub fn read_from(
    reader: impl BufRead,
    p: &str,
    skip_bad: bool,
) -> Result<(Vec<Session>, ReadNotes), ReadError> {
    let mut sessions: Vec<Session> = Vec::new();
    let mut r = Reader::new(reader, p, skip_bad, Depth::Full);
    while let Some(item) = r.next_item()? {
        match item {
            Item::Session(header) => sessions.push(Session {
                header,
                ..Session::default()
            }),
            // The reader hands out nothing before a header.
            Item::Event(ev) => {
                if let (Some(s), Some(full)) = (sessions.last_mut(), ev.full) {
                    s.events.push(*full)
                }
            }
            Item::Reaper(rp) => {
                if let Some(s) = sessions.last_mut() {
                    s.reapers.push(rp)
                }
            }
            Item::End(t) => {
                if let Some(s) = sessions.last_mut() {
                    s.trailer = Some(t)
                }
            }
            // Files hold no progress lines.
            Item::Progress(_) => {}
        }
    }
    Ok((sessions, r.into_notes()))
}

#[derive(Deserialize)]
struct Kind {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    format: u32,
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

/// An event line as parsed at `depth`.
fn parse_event(text: &[u8], depth: Depth) -> Result<Event, serde_json::Error> {
    match depth {
        // UTF-8 checked once for the line, not string by string (a tenth
        // of the parse, from_slice's way).
        Depth::Full | Depth::Rendered => match std::str::from_utf8(text) {
            Ok(utf8) => serde_json::from_str::<OomEvent>(utf8),
            Err(_) => serde_json::from_slice::<OomEvent>(text),
        }
        .map(|full| Event {
            brief: full.brief(),
            full: Some(Box::new(full)),
            line: (depth == Depth::Full).then(|| text.to_vec()),
        }),
        Depth::Brief => serde_json::from_slice::<Brief>(text).map(|brief| Event {
            brief,
            full: None,
            line: Some(text.to_vec()),
        }),
    }
}

/// What [`Reader::next_or_deferred`] hands out. An item goes by value, as
/// it does everywhere else (the large variant is the common one).
#[allow(clippy::large_enum_variant)]
pub enum Next {
    Item(Item),
    /// An event line, to parse where the caller likes.
    Deferred(Deferred),
}

/// A complete event line not yet parsed, with where it was for its error.
pub struct Deferred {
    text: Vec<u8>,
    path: Arc<str>,
    line: usize,
}

impl Deferred {
    /// The event, as [`Reader::next_item`] would have made it, or the same
    /// error, naming the file and the line.
    pub fn parse(self) -> Result<Item, ReadError> {
        parse_event(&self.text, Depth::Rendered)
            .map(|e| Item::Event(Box::new(e)))
            .map_err(|e| ReadError::Bad {
                path: self.path.to_string(),
                line: self.line,
                why: format!("bad event: {e}"),
            })
    }
}

/// How much of each event the reader builds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Depth {
    /// The whole event, and the line as recorded (JSON passes it on).
    Full,
    /// The whole event without its line: text and HTML render it anew, and
    /// a copy of each line was a tenth of a text report's time.
    Rendered,
    /// Its [`Brief`] only, and the line as recorded.
    Brief,
}

/// A session file read line by line, one item at a time: a 100k-event file
/// is never held in memory, nor is a line longer than [`MAX_LINE`].
pub struct Reader<R> {
    reader: R,
    path: Arc<str>,
    skip_bad: bool,
    depth: Depth,
    /// Event lines handed out unparsed ([`Next::Deferred`]).
    defer: bool,
    line_no: usize,
    seen_header: bool,
    done: bool,
    notes: ReadNotes,
    buf: Vec<u8>,
}

/// One line as read: complete (ends with a newline), cut at the end of
/// the input, or longer than [`MAX_LINE`] (the rest of it was skipped).
enum Line {
    Complete,
    Cut,
    TooLong,
}

impl<R: BufRead> Reader<R> {
    pub fn new(reader: R, path: &str, skip_bad: bool, depth: Depth) -> Self {
        Self {
            reader,
            path: path.into(),
            skip_bad,
            depth,
            defer: false,
            line_no: 0,
            seen_header: false,
            done: false,
            notes: ReadNotes::default(),
            buf: Vec::new(),
        }
    }

    /// Hands each complete event line out unparsed, as [`Next::Deferred`],
    /// for [`Deferred::parse`] on another thread: a report's time is mostly
    /// the parse, and this spreads it over the cores. Only at
    /// [`Depth::Rendered`] and without `skip_bad` (a bad line's note then
    /// stays in order with the others); otherwise nothing changes.
    pub fn defer_events(&mut self) {
        self.defer = self.depth == Depth::Rendered && !self.skip_bad;
    }

    /// What was found besides sessions (skipped lines, a cut-off tail).
    pub fn into_notes(self) -> ReadNotes {
        self.notes
    }

    /// Reads one line into `buf`, at most `MAX_LINE` bytes of it.
    fn read_line(&mut self) -> io::Result<Option<Line>> {
        self.buf.clear();
        let n = (&mut self.reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(None);
        }
        if self.buf.ends_with(b"\n") {
            self.buf.pop();
            return Ok(Some(Line::Complete));
        }
        if self.buf.len() <= MAX_LINE {
            return Ok(Some(Line::Cut));
        }
        self.buf.clear();
        Ok(Some(Line::TooLong))
    }

    /// Skips the rest of a line too long to hold, in bounded pieces.
    fn skip_rest_of_line(&mut self) -> io::Result<()> {
        loop {
            let chunk = self.reader.fill_buf()?;
            if chunk.is_empty() {
                break;
            }
            let (used, found) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            self.reader.consume(used);
            if found {
                break;
            }
        }
        Ok(())
    }

    fn bad(&self, why: String) -> ReadError {
        ReadError::Bad {
            path: self.path.to_string(),
            line: self.line_no,
            why,
        }
    }

    /// The next item, `None` at the end of the input.
    pub fn next_item(&mut self) -> Result<Option<Item>, ReadError> {
        Ok(match self.next_or_deferred()? {
            Some(Next::Item(item)) => Some(item),
            Some(Next::Deferred(d)) => Some(d.parse()?),
            None => None,
        })
    }

    /// The next item or, after [`Self::defer_events`], an event line to
    /// parse; `None` at the end of the input.
    pub fn next_or_deferred(&mut self) -> Result<Option<Next>, ReadError> {
        while !self.done {
            let line = self.read_line().map_err(|error| ReadError::Io {
                path: self.path.to_string(),
                error,
            })?;
            let Some(line) = line else {
                self.done = true;
                if self.line_no == 0 {
                    return Err(ReadError::Empty {
                        path: self.path.to_string(),
                    });
                }
                break;
            };
            self.line_no += 1;
            let complete = match line {
                Line::Complete => true,
                Line::Cut => false,
                Line::TooLong => {
                    let why = format!(
                        "a line longer than {} MiB: not an oomtrace session line",
                        MAX_LINE >> 20
                    );
                    // Refused at the bound, before the rest is read: the
                    // rest may have no end (/dev/zero, a FIFO).
                    if !self.seen_header {
                        return Err(ReadError::EndlessFirstLine {
                            path: self.path.to_string(),
                            line: self.line_no,
                        });
                    }
                    if self.skip_bad {
                        self.skip_rest_of_line().map_err(|error| ReadError::Io {
                            path: self.path.to_string(),
                            error,
                        })?;
                        self.notes.skipped.push((self.line_no, why));
                        continue;
                    }
                    return Err(self.bad(why));
                }
            };
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if let Some(next) = self.parse_line(complete)? {
                self.seen_header |= matches!(next, Next::Item(Item::Session(_)));
                return Ok(Some(next));
            }
        }
        Ok(None)
    }

    /// The item of the line in `buf`; `None` for a line to pass over.
    fn parse_line(&mut self, complete: bool) -> Result<Option<Next>, ReadError> {
        // A cut-off last line is parsed here: what it means (a recorder
        // stopped mid-write) is the reader's to say.
        if self.defer && complete && self.seen_header && self.buf.starts_with(br#"{"type":"oom","#)
        {
            // The buffer goes with the line; the next gets one of its size.
            let size = self.buf.capacity().min(1 << 16);
            return Ok(Some(Next::Deferred(Deferred {
                text: std::mem::replace(&mut self.buf, Vec::with_capacity(size)),
                path: self.path.clone(),
                line: self.line_no,
            })));
        }
        let text = &self.buf[..];
        let kind = match kind_of(text) {
            Ok(k) => k,
            // The recorder died mid-write: everything before is intact.
            Err(_) if !complete && self.seen_header => {
                self.notes.truncated_tail = Some((self.line_no, text.len()));
                self.done = true;
                return Ok(None);
            }
            Err(_) if !self.seen_header => {
                return Err(ReadError::NotASession {
                    path: self.path.to_string(),
                });
            }
            Err(e) if self.skip_bad => {
                self.notes.skipped.push((self.line_no, e.to_string()));
                return Ok(None);
            }
            Err(e) => return Err(self.bad(format!("not a JSON object: {e}"))),
        };
        let (what, parsed): (&str, Result<Item, serde_json::Error>) = match kind.kind.as_str() {
            "session" => {
                if kind.format > FORMAT {
                    return Err(ReadError::NewerFormat {
                        path: self.path.to_string(),
                        line: self.line_no,
                        found: kind.format,
                    });
                }
                (
                    "session header",
                    serde_json::from_slice(text).map(Item::Session),
                )
            }
            _ if !self.seen_header => {
                return Err(ReadError::NotASession {
                    path: self.path.to_string(),
                });
            }
            "oom" => (
                "event",
                parse_event(text, self.depth).map(|e| Item::Event(Box::new(e))),
            ),
            "reaper" => (
                "reaper record",
                serde_json::from_slice(text).map(Item::Reaper),
            ),
            "end" => ("end record", serde_json::from_slice(text).map(Item::End)),
            // Record types added by later versions of format 1 are skipped.
            _ => return Ok(None),
        };
        match parsed {
            Ok(item) => Ok(Some(Next::Item(item))),
            // A cut-off last line may still start like a record.
            Err(_) if !complete => {
                self.notes.truncated_tail = Some((self.line_no, text.len()));
                self.done = true;
                Ok(None)
            }
            Err(_) if self.skip_bad => {
                self.notes.skipped.push((
                    self.line_no,
                    format!("a {} record that does not parse", kind.kind),
                ));
                Ok(None)
            }
            Err(e) => Err(self.bad(format!("bad {what}: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::{Sink, session::Writer};

    fn event(seq: u64) -> OomEvent {
        OomEvent {
            seq,
            time: "2026-11-27T10:59:01.123456Z".into(),
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
            w.event(&Event::new(event(i))).unwrap();
        }
        if trailer {
            w.trailer(&Trailer {
                events,
                ..Trailer::default()
            })
            .unwrap();
        }
        w.into_inner()
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

    /// Deferred event lines parse to what the reader itself makes of them,
    /// with its error for a bad one; a cut-off last line and lines before
    /// the header are still the reader's, and `skip_bad` defers nothing.
    #[test]
    fn deferred_events_parse_as_the_reader_would() {
        let mut b = write_session(3, false);
        b.extend_from_slice(b"{\"type\":\"oom\",\"seq\":\"x\"}\n");
        let partial = serde_json::to_vec(&event(5)).unwrap();
        b.extend_from_slice(&partial[..40]);
        let read_all = |defer: bool, skip_bad: bool| {
            let mut r = Reader::new(&b[..], "f", skip_bad, Depth::Rendered);
            if defer {
                r.defer_events();
            }
            let mut out = Vec::new();
            let mut deferred = 0;
            loop {
                match r.next_or_deferred() {
                    Ok(Some(Next::Item(i))) => out.push(Ok(i)),
                    Ok(Some(Next::Deferred(d))) => {
                        deferred += 1;
                        out.push(d.parse());
                    }
                    Ok(None) => break,
                    Err(e) => {
                        out.push(Err(e));
                        break;
                    }
                }
            }
            let shown: Vec<String> = out
                .iter()
                .map(|r| match r {
                    Ok(Item::Event(e)) => format!("{:?}", e.full),
                    Ok(_) => "other".into(),
                    Err(e) => e.to_string(),
                })
                .collect();
            (shown, deferred, r.into_notes())
        };
        let (serial, none, notes) = read_all(false, false);
        assert_eq!(none, 0);
        assert_eq!(serial.len(), 5, "{serial:?}");
        assert!(
            serial[4].starts_with("f:5: bad event: invalid type"),
            "{serial:?}"
        );
        assert_eq!(notes, ReadNotes::default());
        // The reader went on past the bad line, whose error comes later, in
        // its place: it saw the cut-off tail (a caller stopping at the error
        // does not say so).
        let (deferred, n, deferred_notes) = read_all(true, false);
        assert_eq!(n, 4);
        assert_eq!(deferred, serial);
        assert_eq!(deferred_notes.truncated_tail, Some((6, 40)));
        // Past the bad line with skip_bad: the cut-off tail is named.
        let (skipping, n, notes) = read_all(true, true);
        assert_eq!(n, 0);
        assert_eq!(skipping.len(), 4);
        assert_eq!(notes.truncated_tail, Some((6, 40)));
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

    /// A first line without end is refused at the bound: nothing past it
    /// is read (the input may be /dev/zero).
    #[test]
    fn an_endless_first_line_is_refused_at_the_bound() {
        const INPUT: u64 = 64 << 20;
        let mut input = io::BufReader::new(io::repeat(b'x').take(INPUT));
        let mut r = Reader::new(&mut input, "/dev/zero", true, Depth::Full);
        match r.next_item() {
            Err(e @ ReadError::EndlessFirstLine { line: 1, .. }) => assert!(
                e.to_string()
                    .starts_with("/dev/zero:1: more than 4 MiB without a newline"),
                "{e}"
            ),
            other => panic!("{other:?}"),
        }
        let read = INPUT - input.get_ref().limit();
        assert!(read <= MAX_LINE as u64 + (64 << 10), "read {read} bytes");
    }

    /// A line without end is cut at `MAX_LINE`: named as bad, skipped with
    /// `--skip-bad`, never read whole.
    #[test]
    fn an_endless_line_is_refused_not_held() {
        let mut b = write_session(1, false);
        b.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        b.push(b'\n');
        b.extend_from_slice(&serde_json::to_vec(&event(2)).unwrap());
        b.push(b'\n');
        match read_bytes(&b, false) {
            Err(ReadError::Bad { line: 3, why, .. }) => {
                assert!(why.contains("longer than"), "{why}")
            }
            other => panic!("{other:?}"),
        }
        let (s, notes) = read_bytes(&b, true).unwrap();
        assert_eq!(s[0].events.len(), 2);
        assert_eq!(notes.skipped.len(), 1);
    }

    /// A session written through the sink (header, events, end) reads back
    /// whole: its header, its events, its end record.
    #[test]
    fn a_session_written_through_the_sink_reads_back() {
        let mut w = Writer::new(Vec::new());
        let h = Header::new("6.18.0", "tracepoint", vec!["mark_victim".into()]);
        w.header(&h).unwrap();
        Sink::event(&mut w, &Event::new(event(1))).unwrap();
        Sink::end(
            &mut w,
            &Trailer {
                events: 1,
                ..Trailer::default()
            },
        )
        .unwrap();
        let bytes = w.into_inner();
        let (s, _) = read_from(&bytes[..], "mem", false).unwrap();
        assert_eq!(s[0].header, h);
        assert_eq!(s[0].events, [event(1)]);
        assert_eq!(s[0].trailer.as_ref().unwrap().events, 1);
        // At full depth each event keeps its line as written.
        let mut r = Reader::new(&bytes[..], "mem", false, Depth::Full);
        r.next_item().unwrap();
        let Some(Item::Event(ev)) = r.next_item().unwrap() else {
            panic!("no event");
        };
        let line = String::from_utf8(ev.line.unwrap()).unwrap();
        assert_eq!(
            bytes.split(|&b| b == b'\n').nth(1).unwrap(),
            line.as_bytes()
        );
        let mut r = Reader::new(&bytes[..], "mem", false, Depth::Rendered);
        r.next_item().unwrap();
        let Some(Item::Event(ev)) = r.next_item().unwrap() else {
            panic!("no event");
        };
        assert!(ev.line.is_none() && ev.full.is_some());
    }

    /// A line too long to hold is skipped to its end, and the lines after
    /// it keep their numbers.
    #[test]
    fn after_a_line_too_long_the_lines_keep_their_numbers() {
        let mut b = write_session(1, false);
        b.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        b.extend_from_slice(b"\n{oops\n");
        b.extend_from_slice(&serde_json::to_vec(&event(2)).unwrap());
        b.push(b'\n');
        let (s, notes) = read_bytes(&b, true).unwrap();
        let lines: Vec<usize> = notes.skipped.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [3, 4]);
        assert_eq!(s[0].events, [event(1), event(2)]);
    }

    /// A record of a known type that does not parse: skipped with its
    /// reason under `skip_bad`, else the error, naming the line; a last
    /// line cut before its type is a cut-off tail like any other.
    #[test]
    fn a_record_that_does_not_parse_is_named() {
        let mut b = write_session(1, false);
        b.extend_from_slice(b"{\"type\":\"end\",\"events\":\"x\"}\n");
        b.extend_from_slice(&serde_json::to_vec(&event(2)).unwrap());
        b.push(b'\n');
        let e = read_bytes(&b, false).unwrap_err();
        assert!(e.to_string().contains(":3: bad end record: "), "{e}");
        let (s, notes) = read_bytes(&b, true).unwrap();
        assert_eq!(
            notes.skipped,
            [(3, "a end record that does not parse".to_owned())]
        );
        assert_eq!(s[0].events.len(), 2);
        let mut cut = write_session(1, false);
        cut.extend_from_slice(b"{\"ty");
        let (s, notes) = read_bytes(&cut, false).unwrap();
        assert_eq!(notes.truncated_tail, Some((3, 4)));
        assert_eq!(s[0].events.len(), 1);
    }
}
