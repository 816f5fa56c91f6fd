//! The live feed: every MVGen instance publishes the frames it displays to a slot of its
//! own, a small file in shared memory, and any number of stages (`mvgen stage`) read them.
//!
//! **The plugin never waits for a stage.** The instance's worker writes a slot through a
//! seqlock: it never reads what a stage wrote except one word (how long it is watched), so
//! a stage that is slow, frozen or killed costs the writer nothing. A reader copies the
//! frame and keeps it only when the sequence number was even and unchanged around the copy.
//!
//! **A slot is trusted only after it is checked.** Slots live in a folder only the user can
//! enter (0700, the user's own), each file 0600. A reader checks the file's owner, mode and
//! size, the magic, version and every header field before it maps it, and copies
//! everything out of the mapping before it reads it, so a corrupt, truncated or hostile
//! slot is refused with a reason and never crashes a stage.
//!
//! **Watching is a deadline.** A stage that shows an instance writes `watched_until`, a
//! moment on the system's monotonic clock about a second ahead, every time it paints. The
//! instance generates live frames while that moment is in the future: a stage that closes
//! or dies stops inference within [`WATCH_AHEAD`].
//!
//! The layout (little-endian, version [`VERSION`]):
//!
//! | offset | field |
//! |---|---|
//! | 0 | magic `MVGENFD\0` |
//! | 8 | version (u32), 12: header bytes (u32, 4096), 16: side (u32, 256), 20: bytes per pixel (u32, 4: RGBA) |
//! | 24 | writer's pid (u32), 28: instance number (u32) |
//! | 64 | sequence (u64): odd while the writer writes the fields below and the frame |
//! | 72 | frame index (i64), 80: when its sound reached the plugin (ns), 88: when it was published (ns) |
//! | 96 | frames per second x 1000 (u32), 100: name length (u32), 104: name (UTF-8, 128 bytes) |
//! | 256 | alive at (u64, ns): the writer's heartbeat |
//! | 264 | watched until (u64, ns): written by stages |
//! | 4096 | the frame: 256 x 256 RGBA8, rows top to bottom |
//!
//! Times are `CLOCK_MONOTONIC` nanoseconds ([`now_ns`]), which every process on the machine
//! shares.

use memmap2::{MmapOptions, MmapRaw};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::time::Duration;

/// The first bytes of every slot.
pub const MAGIC: [u8; 8] = *b"MVGENFD\0";
/// The layout's version; a reader refuses any other.
pub const VERSION: u32 = 1;
/// The header's size: the frame starts here.
pub const HEADER_BYTES: usize = 4096;
/// The frame's side, as generated.
pub const SIDE: usize = 256;
/// RGBA, 8 bits a channel: a GPU texture's upload as is.
pub const BYTES_PER_PIXEL: usize = 4;
/// The frame's bytes.
pub const FRAME_BYTES: usize = SIDE * SIDE * BYTES_PER_PIXEL;
/// A slot's size.
pub const SLOT_BYTES: usize = HEADER_BYTES + FRAME_BYTES;
/// The longest instance name kept (bytes of UTF-8).
pub const NAME_BYTES: usize = 128;
/// How far ahead a stage's watch reaches: an instance stops generating for a stage this
/// long after the stage last painted.
pub const WATCH_AHEAD: Duration = Duration::from_millis(800);
/// A writer whose heartbeat is older than this is not feeding (its host stopped calling
/// the plugin, or hangs).
pub const ALIVE_WITHIN: Duration = Duration::from_secs(2);
/// The environment variable that moves the slots' folder (tests, or two users' setups).
pub const DIR_ENV: &str = "MVGEN_FEED_DIR";
/// A slot file's extension.
const EXTENSION: &str = "slot";

const OFF_VERSION: usize = 8;
const OFF_HEADER_BYTES: usize = 12;
const OFF_SIDE: usize = 16;
const OFF_BPP: usize = 20;
const OFF_PID: usize = 24;
const OFF_NUMBER: usize = 28;
const OFF_SEQ: usize = 64;
const OFF_FRAME: usize = 72;
const OFF_SOUND_AT: usize = 80;
const OFF_PUBLISHED_AT: usize = 88;
const OFF_FPS_MILLI: usize = 96;
const OFF_NAME_LEN: usize = 100;
const OFF_NAME: usize = 104;
const OFF_ALIVE_AT: usize = 256;
const OFF_WATCHED_UNTIL: usize = 264;

/// Why a slot was not read.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{path}: {why}")]
    Slot { path: PathBuf, why: String },
    #[error("the feed folder {path}: {why}")]
    Folder { path: PathBuf, why: String },
}

/// Now, on the monotonic clock all processes share, in nanoseconds.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid pointer to a timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The folder of the slots: [`DIR_ENV`], else `$XDG_RUNTIME_DIR/mvgen-feed` (the user's
/// own tmpfs), else `/dev/shm/mvgen-feed-UID`. Created 0700 when missing; refused when it
/// is not the user's own or others may enter it.
pub fn folder() -> Result<PathBuf, Refused> {
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    let path = if let Some(dir) = std::env::var_os(DIR_ENV) {
        PathBuf::from(dir)
    } else if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| Path::new(d).is_dir())
    {
        Path::new(&run).join("mvgen-feed")
    } else {
        PathBuf::from(format!("/dev/shm/mvgen-feed-{uid}"))
    };
    let refuse = |why: String| Refused::Folder {
        path: path.clone(),
        why,
    };
    match std::fs::DirBuilder::new().mode(0o700).create(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(refuse(e.to_string())),
    }
    let meta = std::fs::symlink_metadata(&path).map_err(|e| refuse(e.to_string()))?;
    if !meta.is_dir() {
        return Err(refuse("not a folder".into()));
    }
    if meta.uid() != uid {
        return Err(refuse(format!(
            "owned by uid {}, not this user",
            meta.uid()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(refuse(format!(
            "mode {:o}: others may enter it (it must be 700)",
            meta.mode() & 0o777
        )));
    }
    Ok(path)
}

/// Whether process `pid` is running.
fn process_runs(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The mapping's words, read and written as atomics (another process shares them).
struct Words(MmapRaw);

impl Words {
    fn atomic(&self, offset: usize) -> &AtomicU64 {
        debug_assert!(offset.is_multiple_of(8) && offset + 8 <= HEADER_BYTES);
        // SAFETY: the mapping is SLOT_BYTES long, page-aligned, and lives as long as self;
        // the offset is 8-aligned inside the header. Other processes touch these words
        // only atomically (or, for a hostile writer, arbitrarily: any u64 is valid).
        unsafe { &*(self.0.as_mut_ptr().add(offset) as *const AtomicU64) }
    }

    fn write(&self, offset: usize, bytes: &[u8]) {
        assert!(offset + bytes.len() <= SLOT_BYTES);
        // SAFETY: in bounds (checked); the bytes are plain data.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.0.as_mut_ptr().add(offset),
                bytes.len(),
            )
        }
    }

    fn read(&self, offset: usize, out: &mut [u8]) {
        assert!(offset + out.len() <= SLOT_BYTES);
        // SAFETY: in bounds (checked). Another process may write these bytes meanwhile:
        // the seqlock around the copy tells a torn copy from a whole one, and any bytes
        // are valid for u8.
        unsafe {
            std::ptr::copy_nonoverlapping(self.0.as_ptr().add(offset), out.as_mut_ptr(), out.len())
        }
    }

    fn u32_at(&self, offset: usize) -> u32 {
        let mut b = [0u8; 4];
        self.read(offset, &mut b);
        u32::from_le_bytes(b)
    }
}

fn map(file: &File) -> io::Result<Words> {
    Ok(Words(MmapOptions::new().len(SLOT_BYTES).map_raw(file)?))
}

/// One frame as published.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameMeta {
    /// The frame's index on the instance's frame clock.
    pub frame: i64,
    /// When the audio that ends the frame's window reached the plugin ([`now_ns`]).
    pub sound_at_ns: u64,
    /// When the frame was published ([`now_ns`]).
    pub published_at_ns: u64,
    /// The instance's frame rate.
    pub fps: f32,
    /// Counts publications: a new number is a new frame.
    pub sequence: u64,
}

/// An instance's slot, written by its worker. Removed when dropped.
pub struct Publisher {
    words: Words,
    path: PathBuf,
    number: u32,
    name: std::sync::Mutex<String>,
    /// Kept open for the mapping's life.
    _file: File,
}

impl Publisher {
    /// Make this instance's slot in [`folder`], named "MVGen N" with the smallest N no
    /// running instance uses. Slots of processes that are gone are removed on the way.
    pub fn create() -> Result<Self, Refused> {
        Self::create_in(&folder()?)
    }

    /// [`Self::create`] in a given folder.
    pub fn create_in(dir: &Path) -> Result<Self, Refused> {
        let taken: Vec<u32> = scan(dir, true)
            .into_iter()
            .filter_map(|s| s.ok().map(|s| s.number))
            .collect();
        let number = (1..).find(|n| !taken.contains(n)).expect("a free number");
        let pid = std::process::id();
        let refuse = |path: &Path, e: io::Error| Refused::Slot {
            path: path.to_path_buf(),
            why: e.to_string(),
        };
        // Written whole under a hidden name, then renamed: a reader never sees half a header.
        let hidden = dir.join(format!(".{pid}-{number}.part"));
        let path = dir.join(format!("{pid}-{number}.{EXTENSION}"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&hidden)
            .map_err(|e| refuse(&hidden, e))?;
        file.set_len(SLOT_BYTES as u64)
            .map_err(|e| refuse(&hidden, e))?;
        let words = map(&file).map_err(|e| refuse(&hidden, e))?;
        words.write(0, &MAGIC);
        words.write(OFF_VERSION, &VERSION.to_le_bytes());
        words.write(OFF_HEADER_BYTES, &(HEADER_BYTES as u32).to_le_bytes());
        words.write(OFF_SIDE, &(SIDE as u32).to_le_bytes());
        words.write(OFF_BPP, &(BYTES_PER_PIXEL as u32).to_le_bytes());
        words.write(OFF_PID, &pid.to_le_bytes());
        words.write(OFF_NUMBER, &number.to_le_bytes());
        let publisher = Self {
            words,
            path: path.clone(),
            number,
            name: Default::default(),
            _file: file,
        };
        publisher.set_name(&format!("MVGen {number}"));
        publisher.alive();
        std::fs::rename(&hidden, &path).map_err(|e| refuse(&path, e))?;
        Ok(publisher)
    }

    /// Where the slot is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The instance's number, N in "MVGen N".
    pub fn number(&self) -> u32 {
        self.number
    }

    /// The name stages show (the host's track name where it tells one).
    pub fn name(&self) -> String {
        self.name.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Rename the instance (truncated to [`NAME_BYTES`] at a character boundary).
    pub fn set_name(&self, name: &str) {
        let mut end = name.len().min(NAME_BYTES);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        *self.name.lock().unwrap_or_else(|e| e.into_inner()) = name[..end].to_string();
        self.locked(|words| {
            let mut field = [0u8; NAME_BYTES];
            field[..end].copy_from_slice(&name.as_bytes()[..end]);
            words.write(OFF_NAME_LEN, &(end as u32).to_le_bytes());
            words.write(OFF_NAME, &field);
        });
    }

    /// Publish a frame: `rgba` is [`FRAME_BYTES`] long.
    pub fn publish(&self, rgba: &[u8], frame: i64, sound_at_ns: u64, fps: f32) {
        assert_eq!(rgba.len(), FRAME_BYTES, "a feed frame is 256x256 RGBA");
        let now = now_ns();
        self.locked(|words| {
            words.write(OFF_FRAME, &frame.to_le_bytes());
            words.write(OFF_SOUND_AT, &sound_at_ns.to_le_bytes());
            words.write(OFF_PUBLISHED_AT, &now.to_le_bytes());
            words.write(
                OFF_FPS_MILLI,
                &((fps * 1000.0).round() as u32).to_le_bytes(),
            );
            words.write(HEADER_BYTES, rgba);
        });
        self.words
            .atomic(OFF_ALIVE_AT)
            .store(now, Ordering::Release);
    }

    /// The writer's heartbeat: the instance is running, with or without new frames.
    pub fn alive(&self) {
        self.words
            .atomic(OFF_ALIVE_AT)
            .store(now_ns(), Ordering::Release);
    }

    /// Whether a stage watches this instance now.
    pub fn watched(&self) -> bool {
        self.words.atomic(OFF_WATCHED_UNTIL).load(Ordering::Acquire) > now_ns()
    }

    /// Write the sequenced fields: the sequence is odd while they change.
    fn locked(&self, write: impl FnOnce(&Words)) {
        let seq = self.words.atomic(OFF_SEQ);
        let s = seq.load(Ordering::Relaxed);
        // Even is whole; a hostile reader cannot make it odd (it cannot write this file's
        // sequence without being this user, who could write anything anyway).
        let s = s + (s & 1);
        seq.store(s + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        write(&self.words);
        seq.store(s + 2, Ordering::Release);
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What a listing knows of a slot.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotInfo {
    pub path: PathBuf,
    pub pid: u32,
    pub number: u32,
    pub name: String,
    /// When the writer last said it is alive ([`now_ns`]).
    pub alive_at_ns: u64,
    /// The newest frame's publication, 0 before the first.
    pub published_at_ns: u64,
}

impl SlotInfo {
    /// Whether the instance feeds frames now (its heartbeat is recent).
    pub fn feeding(&self) -> bool {
        recent(self.alive_at_ns)
    }
}

fn recent(at_ns: u64) -> bool {
    now_ns().saturating_sub(at_ns) < ALIVE_WITHIN.as_nanos() as u64
}

/// The slots in the folder of running processes, newest activity first, and the files
/// that were refused (with why). Slots whose process is gone are removed.
pub fn list() -> Result<Vec<Result<SlotInfo, Refused>>, Refused> {
    Ok(list_in(&folder()?))
}

/// [`list`] of a given folder.
pub fn list_in(dir: &Path) -> Vec<Result<SlotInfo, Refused>> {
    let mut slots = scan(dir, true);
    slots.sort_by_key(|s| match s {
        Ok(s) => std::cmp::Reverse(s.alive_at_ns.max(s.published_at_ns)),
        Err(_) => std::cmp::Reverse(0),
    });
    slots
}

fn scan(dir: &Path, remove_dead: bool) -> Vec<Result<SlotInfo, Refused>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == EXTENSION))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        match Slot::open(&path) {
            Ok(slot) if !process_runs(slot.pid) => {
                if remove_dead {
                    let _ = std::fs::remove_file(&path);
                }
            }
            Ok(slot) => out.push(Ok(slot.info())),
            Err(e) => out.push(Err(e)),
        }
    }
    out
}

/// A slot opened by a stage, checked.
pub struct Slot {
    words: Words,
    path: PathBuf,
    pid: u32,
    number: u32,
}

impl Slot {
    /// Open and check a slot: the user's own file, 0600, [`SLOT_BYTES`] long, with this
    /// version's header.
    pub fn open(path: &Path) -> Result<Self, Refused> {
        let refuse = |why: String| Refused::Slot {
            path: path.to_path_buf(),
            why,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(|e| refuse(e.to_string()))?;
        let meta = file.metadata().map_err(|e| refuse(e.to_string()))?;
        // SAFETY: getuid cannot fail.
        let uid = unsafe { libc::getuid() };
        if !meta.is_file() {
            return Err(refuse("not a file".into()));
        }
        if meta.uid() != uid {
            return Err(refuse(format!("owned by uid {}", meta.uid())));
        }
        if meta.mode() & 0o077 != 0 {
            return Err(refuse(format!(
                "mode {:o}: others may read it (a slot is 600)",
                meta.mode() & 0o777
            )));
        }
        if meta.len() != SLOT_BYTES as u64 {
            return Err(refuse(format!(
                "{} bytes where a slot has {SLOT_BYTES} (truncated, or not a slot)",
                meta.len()
            )));
        }
        let words = map(&file).map_err(|e| refuse(e.to_string()))?;
        let mut magic = [0u8; 8];
        words.read(0, &mut magic);
        if magic != MAGIC {
            return Err(refuse("not an MVGen feed slot (wrong magic)".into()));
        }
        let version = words.u32_at(OFF_VERSION);
        if version != VERSION {
            return Err(refuse(format!(
                "feed version {version}, this stage reads version {VERSION}: use the mvgen of the same release as the plugin"
            )));
        }
        for (offset, expected, what) in [
            (OFF_HEADER_BYTES, HEADER_BYTES, "header bytes"),
            (OFF_SIDE, SIDE, "side"),
            (OFF_BPP, BYTES_PER_PIXEL, "bytes per pixel"),
        ] {
            let got = words.u32_at(offset);
            if got as usize != expected {
                return Err(refuse(format!("{what} {got}, not {expected}")));
            }
        }
        let pid = words.u32_at(OFF_PID);
        let number = words.u32_at(OFF_NUMBER);
        let slot = Self {
            words,
            path: path.to_path_buf(),
            pid,
            number,
        };
        // The name must be readable whole and be UTF-8 of a sane length.
        slot.name().map_err(refuse)?;
        Ok(slot)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The writer's process.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the writer's process still runs.
    pub fn writer_runs(&self) -> bool {
        process_runs(self.pid)
    }

    /// The instance's name, or why it cannot be read.
    pub fn name(&self) -> Result<String, String> {
        let mut field = [0u8; NAME_BYTES];
        let (len, _) = self.consistent(|words| {
            words.read(OFF_NAME, &mut field);
            words.u32_at(OFF_NAME_LEN)
        })?;
        let len = len as usize;
        if len > NAME_BYTES {
            return Err(format!("a name of {len} bytes (at most {NAME_BYTES})"));
        }
        String::from_utf8(field[..len].to_vec()).map_err(|_| "a name that is not UTF-8".into())
    }

    /// What a listing shows of this slot.
    pub fn info(&self) -> SlotInfo {
        let published_at_ns = self
            .consistent(|w| {
                let mut b = [0u8; 8];
                w.read(OFF_PUBLISHED_AT, &mut b);
                u64::from_le_bytes(b)
            })
            .map_or(0, |(at, _)| at);
        SlotInfo {
            path: self.path.clone(),
            pid: self.pid,
            number: self.number,
            name: self.name().unwrap_or_default(),
            alive_at_ns: self.words.atomic(OFF_ALIVE_AT).load(Ordering::Acquire),
            published_at_ns,
        }
    }

    /// Copy the newest frame into `rgba` ([`FRAME_BYTES`]), if the writer is not in the
    /// middle of writing it for long. A frame whose sequence equals `known` is not copied.
    pub fn read(&self, rgba: &mut [u8], known: u64) -> Option<FrameMeta> {
        assert_eq!(rgba.len(), FRAME_BYTES);
        let seq = self.words.atomic(OFF_SEQ).load(Ordering::Acquire);
        if seq == known {
            return None;
        }
        let mut meta = [0u8; 28];
        self.consistent(|words| {
            words.read(OFF_FRAME, &mut meta);
            words.read(HEADER_BYTES, rgba);
        })
        .ok()
        .map(|((), sequence)| FrameMeta {
            frame: i64::from_le_bytes(meta[0..8].try_into().unwrap()),
            sound_at_ns: u64::from_le_bytes(meta[8..16].try_into().unwrap()),
            published_at_ns: u64::from_le_bytes(meta[16..24].try_into().unwrap()),
            fps: u32::from_le_bytes(meta[24..28].try_into().unwrap()) as f32 / 1000.0,
            sequence,
        })
        .filter(|m| m.published_at_ns != 0)
    }

    /// Say this instance is watched for the next [`WATCH_AHEAD`].
    pub fn watch(&self) {
        let until = now_ns() + WATCH_AHEAD.as_nanos() as u64;
        self.words
            .atomic(OFF_WATCHED_UNTIL)
            .fetch_max(until, Ordering::AcqRel);
    }

    /// Whether a stage watches this instance now (this one or another).
    pub fn watched(&self) -> bool {
        self.words.atomic(OFF_WATCHED_UNTIL).load(Ordering::Acquire) > now_ns()
    }

    /// Stop watching at once (a stage that switches away, or closes).
    pub fn unwatch(&self) {
        self.words
            .atomic(OFF_WATCHED_UNTIL)
            .store(0, Ordering::Release);
    }

    /// Whether the writer feeds frames now (its heartbeat is recent).
    pub fn feeding(&self) -> bool {
        recent(self.words.atomic(OFF_ALIVE_AT).load(Ordering::Acquire))
    }

    /// Run `read` between two equal, even sequence numbers (a few tries, then give up: a
    /// writer killed mid-write leaves the sequence odd for ever). The copy's sequence.
    fn consistent<T>(&self, mut read: impl FnMut(&Words) -> T) -> Result<(T, u64), String> {
        let seq = self.words.atomic(OFF_SEQ);
        for _ in 0..100 {
            let before = seq.load(Ordering::Acquire);
            if before & 1 == 1 {
                std::thread::yield_now();
                continue;
            }
            let value = read(&self.words);
            fence(Ordering::Acquire);
            if seq.load(Ordering::Relaxed) == before {
                return Ok((value, before));
            }
        }
        Err("the writer never finished a write (it died while writing)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A private folder for one test.
    fn folder_for(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mvgen-feed-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
        dir
    }

    fn picture(seed: u8) -> Vec<u8> {
        (0..FRAME_BYTES)
            .map(|i| (i as u8).wrapping_mul(seed))
            .collect()
    }

    #[test]
    fn a_published_frame_is_read_whole_with_its_times_once() {
        let dir = folder_for("round-trip");
        let publisher = Publisher::create_in(&dir).unwrap();
        assert_eq!(publisher.name(), "MVGen 1");
        let slot = Slot::open(publisher.path()).unwrap();
        let mut rgba = vec![0u8; FRAME_BYTES];
        assert_eq!(slot.read(&mut rgba, 0), None, "nothing published yet");
        let sound_at = now_ns();
        publisher.publish(&picture(3), 42, sound_at, 30.0);
        let meta = slot.read(&mut rgba, 0).expect("a frame");
        assert_eq!(rgba, picture(3));
        assert_eq!(
            (meta.frame, meta.sound_at_ns, meta.fps),
            (42, sound_at, 30.0)
        );
        assert!(meta.published_at_ns >= sound_at && meta.published_at_ns <= now_ns());
        assert_eq!(
            slot.read(&mut rgba, meta.sequence),
            None,
            "the same frame again"
        );
        publisher.publish(&picture(5), 43, sound_at, 30.0);
        let next = slot.read(&mut rgba, meta.sequence).expect("the next frame");
        assert_eq!((next.frame, rgba == picture(5)), (43, true));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn instances_are_numbered_apart_and_their_slots_go_with_them() {
        let dir = folder_for("names");
        let (a, b) = (
            Publisher::create_in(&dir).unwrap(),
            Publisher::create_in(&dir).unwrap(),
        );
        assert_eq!([a.name(), b.name()], ["MVGen 1", "MVGen 2"]);
        let mut listed: Vec<String> = list_in(&dir).into_iter().map(|s| s.unwrap().name).collect();
        listed.sort();
        assert_eq!(listed, ["MVGen 1", "MVGen 2"]);
        let a_path = a.path().to_path_buf();
        drop(a);
        assert!(!a_path.exists());
        let c = Publisher::create_in(&dir).unwrap();
        assert_eq!(c.name(), "MVGen 1", "the smallest free number");
        c.set_name("Drums \u{1F941} and a name far longer than any track's, cut at a character boundary so that it stays UTF-8 whatever the host sent us");
        let info = Slot::open(c.path()).unwrap().info();
        assert!(info.name.starts_with("Drums \u{1F941}") && info.name.len() <= NAME_BYTES);
        assert!(info.feeding());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_stage_watches_until_its_deadline_or_until_it_lets_go() {
        let dir = folder_for("watch");
        let publisher = Publisher::create_in(&dir).unwrap();
        let slot = Slot::open(publisher.path()).unwrap();
        assert!(!publisher.watched());
        slot.watch();
        assert!(publisher.watched());
        slot.unwatch();
        assert!(!publisher.watched());
        // A deadline in the past is not watching: a stage that died stops inference.
        slot.words
            .atomic(OFF_WATCHED_UNTIL)
            .store(now_ns() - 1, Ordering::Release);
        assert!(!publisher.watched());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn slots_of_processes_that_are_gone_are_removed() {
        let dir = folder_for("dead");
        let publisher = Publisher::create_in(&dir).unwrap();
        let dead = dir.join(format!("999999999-7.{EXTENSION}"));
        std::fs::copy(publisher.path(), &dead).unwrap();
        std::fs::set_permissions(&dead, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut file = OpenOptions::new().write(true).open(&dead).unwrap();
        use std::io::{Seek, Write};
        file.seek(io::SeekFrom::Start(OFF_PID as u64)).unwrap();
        file.write_all(&999_999_999u32.to_le_bytes()).unwrap();
        drop(file);
        let listed = list_in(&dir);
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert!(!dead.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Random bytes, a wrong version, a truncated file, a slot others may read, a name
    /// that claims more bytes than it has, a link: each refused with its reason.
    #[test]
    fn corrupt_and_hostile_slots_are_refused_with_a_reason() {
        let dir = folder_for("corrupt");
        let good = Publisher::create_in(&dir).unwrap();
        let whole = std::fs::read(good.path()).unwrap();
        let write = |name: &str, bytes: &[u8], mode: u32| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            path
        };
        let mut random = vec![0u8; SLOT_BYTES];
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for b in &mut random {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        let mut version = whole.clone();
        version[OFF_VERSION..OFF_VERSION + 4].copy_from_slice(&2u32.to_le_bytes());
        let mut side = whole.clone();
        side[OFF_SIDE..OFF_SIDE + 4].copy_from_slice(&4096u32.to_le_bytes());
        let mut name = whole.clone();
        name[OFF_NAME_LEN..OFF_NAME_LEN + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let cases = [
            (write("random.slot", &random, 0o600), "wrong magic"),
            (write("version.slot", &version, 0o600), "feed version 2"),
            (write("side.slot", &side, 0o600), "side 4096"),
            (
                write("name.slot", &name, 0o600),
                "a name of 4294967295 bytes",
            ),
            (write("short.slot", &whole[..1000], 0o600), "1000 bytes"),
            (write("empty.slot", &[], 0o600), "0 bytes"),
            (write("open.slot", &whole, 0o644), "mode 644"),
        ];
        let link = dir.join("link.slot");
        std::os::unix::fs::symlink(good.path(), &link).unwrap();
        for (path, why) in cases
            .iter()
            .map(|(p, w)| (p.clone(), *w))
            .chain([(link, "")])
        {
            let Err(e) = Slot::open(&path) else {
                panic!("{} was accepted", path.display());
            };
            let said = e.to_string();
            assert!(
                said.contains(why) && said.contains(&*path.to_string_lossy()),
                "{said}"
            );
        }
        // The listing names each refused file and still finds the good one.
        let listed = list_in(&dir);
        assert_eq!(listed.iter().filter(|s| s.is_ok()).count(), 1);
        assert_eq!(
            listed.iter().filter(|s| s.is_err()).count(),
            cases.len() + 1
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_writer_that_died_mid_write_leaves_no_frame_to_read() {
        let dir = folder_for("torn");
        let publisher = Publisher::create_in(&dir).unwrap();
        publisher.publish(&picture(1), 1, now_ns(), 30.0);
        let slot = Slot::open(publisher.path()).unwrap();
        // Killed inside `locked`: the sequence is odd for ever.
        let seq = publisher.words.atomic(OFF_SEQ);
        seq.fetch_add(1, Ordering::AcqRel);
        let mut rgba = vec![0u8; FRAME_BYTES];
        assert_eq!(slot.read(&mut rgba, 0), None);
        assert!(slot.name().unwrap_err().contains("died while writing"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_folder_others_may_enter_is_refused() {
        let dir = folder_for("open-folder");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        // SAFETY (of the test): no other test reads DIR_ENV.
        std::env::set_var(DIR_ENV, &dir);
        let said = folder().unwrap_err().to_string();
        std::env::remove_var(DIR_ENV);
        assert!(said.contains("mode 755"), "{said}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
