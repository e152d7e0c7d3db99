//! Ring-buffer bytes decoded: each record by its kind, and the tasks they
//! carry as the schema has them.

use crate::schema::event::{Task, Victim};
use oomtrace_common::*;

/// One record, copied out of the ring buffer.
pub enum Record {
    Enter(Box<OomEnterRecord>),
    Kill(Box<OomKillRecord>),
    MarkVictim(Box<MarkVictimRecord>),
    Reaper(ReaperRecord),
    ShowFreeAreas(Box<ShowFreeAreasRecord>),
    MemState(Box<MemStateRecord>),
    Raw(Box<RawTracepointRecord>),
    Stack(Box<OomStackRecord>),
    MemcgPrint(MemcgPrintRecord),
    PrintRss(PrintRssRecord),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record of {0} bytes is shorter than its header")]
    Short(usize),
    #[error("unknown record kind {0}")]
    UnknownKind(u32),
    #[error("record kind {kind} has {got} bytes, expected {want}")]
    Size { kind: u32, got: usize, want: usize },
}

pub(super) fn copy<T: Copy>(bytes: &[u8], kind: u32) -> Result<T, DecodeError> {
    let want = size_of::<T>();
    if bytes.len() < want {
        return Err(DecodeError::Size {
            kind,
            got: bytes.len(),
            want,
        });
    }
    // SAFETY: length checked; T is a #[repr(C)] record of plain integers, valid
    // for any bit pattern; read_unaligned copes with the buffer's alignment.
    Ok(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

pub fn parse(bytes: &[u8]) -> Result<Record, DecodeError> {
    if bytes.len() < size_of::<Header>() {
        return Err(DecodeError::Short(bytes.len()));
    }
    let kind = u32::from_ne_bytes(bytes[..4].try_into().unwrap());
    let k = RecordKind::from_u32(kind).ok_or(DecodeError::UnknownKind(kind))?;
    Ok(match k {
        RecordKind::OomEnter => Record::Enter(Box::new(copy(bytes, kind)?)),
        RecordKind::OomKill => Record::Kill(Box::new(copy(bytes, kind)?)),
        RecordKind::MarkVictim => Record::MarkVictim(Box::new(copy(bytes, kind)?)),
        RecordKind::Reaper => Record::Reaper(copy(bytes, kind)?),
        RecordKind::ShowFreeAreas => Record::ShowFreeAreas(Box::new(copy(bytes, kind)?)),
        RecordKind::MemState => Record::MemState(Box::new(copy(bytes, kind)?)),
        RecordKind::RawTracepoint => Record::Raw(Box::new(copy(bytes, kind)?)),
        RecordKind::OomStack => Record::Stack(Box::new(copy(bytes, kind)?)),
        RecordKind::MemcgPrint => Record::MemcgPrint(copy(bytes, kind)?),
        RecordKind::PrintRss => Record::PrintRss(copy(bytes, kind)?),
    })
}

pub(super) fn cstr(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

pub fn cgroup_path(p: &CgroupPath) -> Option<String> {
    if p.ok == 0 {
        return None;
    }
    let depth = (p.depth as usize).min(CGROUP_MAX_DEPTH);
    let mut path = String::new();
    if p.truncated != 0 {
        path.push_str("/...");
    }
    for name in p.names[..depth].iter().rev() {
        path.push('/');
        path.push_str(&cstr(name));
    }
    if path.is_empty() {
        path.push('/');
    }
    Some(path)
}

pub(super) fn has(valid: u32, bit: u32) -> bool {
    valid & bit != 0
}

pub(super) fn task(t: &TaskInfo, cpu: Option<u32>) -> Task {
    let v = t.valid;
    Task {
        pid: has(v, TASK_TGID).then_some(t.tgid),
        tid: has(v, TASK_PID).then_some(t.pid),
        comm: has(v, TASK_COMM).then(|| cstr(&t.comm)),
        oom_score_adj: has(v, TASK_OOM_SCORE_ADJ).then_some(t.oom_score_adj),
        cgroup: cgroup_path(&t.cgroup),
        uid: has(v, TASK_UID).then_some(t.uid),
        cpu,
        workload: None,
    }
}

pub(super) fn victim(t: &TaskInfo) -> Victim {
    let v = t.valid;
    Victim {
        // The kernel names the victim by its thread-group leader's pid.
        pid: if has(v, TASK_TGID) {
            Some(t.tgid)
        } else {
            has(v, TASK_PID).then_some(t.pid)
        },
        comm: has(v, TASK_COMM).then(|| cstr(&t.comm)),
        uid: has(v, TASK_UID).then_some(t.uid),
        total_vm_kb: has(v, TASK_TOTAL_VM).then_some(t.total_vm_kb),
        anon_rss_kb: has(v, TASK_RSS).then_some(t.anon_rss_kb),
        file_rss_kb: has(v, TASK_RSS).then_some(t.file_rss_kb),
        shmem_rss_kb: has(v, TASK_RSS).then_some(t.shmem_rss_kb),
        pgtables_kb: has(v, TASK_PGTABLES).then_some(t.pgtables_kb),
        oom_score_adj: has(v, TASK_OOM_SCORE_ADJ).then_some(t.oom_score_adj),
        points: None,
        cgroup: cgroup_path(&t.cgroup),
        workload: None,
    }
}
