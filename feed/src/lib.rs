//! The live feed: every MVGen instance publishes the frames it displays to a slot of its
//! own, a small file in shared memory (tmpfs), and any number of stages (`mvgen stage`)
//! read them.
//!
//! **The plugin never waits for a stage.** An instance's worker writes its slot through a
//! seqlock, with positioned writes; it reads only one word a stage writes (how long it is
//! watched), now and then, so a stage that is slow, frozen or killed costs it nothing.
//! Slots are read and written with `pread`/`pwrite`, never mapped: a file that another
//! process truncates, or a tmpfs that is full, is an error for whoever touches it next,
//! never a `SIGBUS` in a DAW or a stage.
//!
//! **A slot is trusted only after it is checked.** Slots live in a folder only the user can
//! enter (0700, the user's own), each file 0600. A reader checks the file's owner, mode and
//! size, the magic, version and every header field before it reads a frame, and copies a
//! frame out only between two equal, even sequence numbers, so a corrupt, truncated or
//! hostile slot is refused with a reason and never crashes a stage.
//!
//! **Watching is a deadline.** A stage that shows an instance writes `watched until`, a
//! moment on the system's monotonic clock [`WATCH_AHEAD`] ahead, every time it paints. The
//! instance generates live frames while that moment is in the future (and not absurdly
//! far): a stage that closes or dies stops inference within [`WATCH_AHEAD`].
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
//! | 240 | publications so far (u64): a new count is a new frame |
//! | 256 | alive at (u64, ns): the writer's heartbeat |
//! | 264 | watched until (u64, ns): written by stages |
//! | 272 | enhancer path length (u32, 0: none), 276: the path (UTF-8, 1024 bytes): the enhancer of the look the instance runs, for stages that enlarge with it |
//! | 4096 | the frame: 256 x 256 RGBA8, rows top to bottom |
//!
//! A slot is named `mvgen-N.slot` for its instance's number N, claimed with a hard link
//! (which never replaces a file), so two instances starting at once never share a number.
//! Times are `CLOCK_MONOTONIC` nanoseconds ([`now_ns`]), which every process on the machine
//! shares.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The first bytes of every slot.
pub const MAGIC: [u8; 8] = *b"MVGENFD\0";
/// The layout's version; a reader refuses any other.
pub const VERSION: u32 = 3;
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
/// The longest enhancer path kept (bytes of UTF-8); a longer one is not published.
pub const PATH_BYTES: usize = 1024;
/// How far ahead a stage's watch reaches: an instance stops generating for a stage this
/// long after the stage last painted.
pub const WATCH_AHEAD: Duration = Duration::from_millis(800);
/// A writer whose heartbeat is older than this is not feeding (its host stopped calling
/// the plugin, or hangs).
pub const ALIVE_WITHIN: Duration = Duration::from_secs(2);
/// The environment variable that moves the slots' folder (tests, or two users' setups).
pub const DIR_ENV: &str = "MVGEN_FEED_DIR";
/// How long a reader retries a slot whose writer is mid-write before it gives up (a writer
/// killed mid-write leaves the sequence odd for ever).
const READ_PATIENCE: Duration = Duration::from_millis(5);

const OFF_VERSION: usize = 8;
const OFF_HEADER_BYTES: usize = 12;
const OFF_SIDE: usize = 16;
const OFF_BPP: usize = 20;
const OFF_PID: usize = 24;
const OFF_NUMBER: usize = 28;
const OFF_SEQ: usize = 64;
const OFF_FRAME: usize = 72;
const OFF_NAME_LEN: usize = 100;
const OFF_NAME: usize = 104;
const OFF_COUNT: usize = 240;
const OFF_ALIVE_AT: usize = 256;
const OFF_WATCHED_UNTIL: usize = 264;
const OFF_ENHANCER_LEN: usize = 272;
const OFF_ENHANCER: usize = 276;
/// The sequenced fields before the name: frame, sound at, published at, fps.
const META_BYTES: usize = 28;

/// Why a slot was not read.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{path}: {why}")]
    Slot { path: PathBuf, why: String },
    #[error("the feed folder {path}: {why}")]
    Folder { path: PathBuf, why: String },
}

/// Now, on the monotonic clock all processes share, in nanoseconds. The audio thread calls
/// it: `clock_gettime` through the vDSO, no system call, no lock.
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
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// A slot file, read and written at offsets (never mapped).
struct Words(File);

impl Words {
    fn write(&self, offset: usize, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all_at(bytes, offset as u64)
    }

    fn read(&self, offset: usize, out: &mut [u8]) -> io::Result<()> {
        self.0.read_exact_at(out, offset as u64)
    }

    fn u64_at(&self, offset: usize) -> io::Result<u64> {
        let mut b = [0u8; 8];
        self.read(offset, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn u32_at(&self, offset: usize) -> io::Result<u32> {
        let mut b = [0u8; 4];
        self.read(offset, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }
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

/// An instance's slot, written by its worker (one writer: the worker that holds it).
/// Removed when dropped.
pub struct Publisher {
    words: Words,
    path: PathBuf,
    number: u32,
    name: Mutex<String>,
    /// The writer's sequence and publication count, kept here: the file's copy is only
    /// ever written by us.
    seq: AtomicU64,
    count: AtomicU64,
}

impl Publisher {
    /// Make this instance's slot in [`folder`], named "MVGen N" with the smallest N no
    /// running instance holds. Slots of processes that are gone are removed on the way.
    pub fn create() -> Result<Self, Refused> {
        Self::create_in(&folder()?)
    }

    /// [`Self::create`] in a given folder.
    pub fn create_in(dir: &Path) -> Result<Self, Refused> {
        remove_dead(dir);
        let pid = std::process::id();
        static PARTS: AtomicU64 = AtomicU64::new(0);
        let part = PARTS.fetch_add(1, Ordering::Relaxed);
        let hidden = dir.join(format!(".{pid}-{part}.part"));
        let made = Self::claim(dir, &hidden, pid);
        let _ = std::fs::remove_file(&hidden);
        made.map_err(|(path, e)| Refused::Slot {
            path,
            why: e.to_string(),
        })
    }

    /// Write the slot whole under a hidden name, then link it to the first free number's
    /// name (a hard link never replaces a file): a reader never sees half a header, and a
    /// number is one instance's.
    fn claim(dir: &Path, hidden: &Path, pid: u32) -> Result<Self, (PathBuf, io::Error)> {
        let at = |path: &Path| {
            let path = path.to_path_buf();
            move |e| (path, e)
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(hidden)
            .map_err(at(hidden))?;
        // Reserve the pages now: a full tmpfs fails here, not at a frame.
        // SAFETY: a valid descriptor; offset and length in range.
        let r = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, SLOT_BYTES as i64) };
        if r != 0 {
            return Err((hidden.to_path_buf(), io::Error::from_raw_os_error(r)));
        }
        let words = Words(file);
        let header = (|| {
            words.write(0, &MAGIC)?;
            words.write(OFF_VERSION, &VERSION.to_le_bytes())?;
            words.write(OFF_HEADER_BYTES, &(HEADER_BYTES as u32).to_le_bytes())?;
            words.write(OFF_SIDE, &(SIDE as u32).to_le_bytes())?;
            words.write(OFF_BPP, &(BYTES_PER_PIXEL as u32).to_le_bytes())?;
            words.write(OFF_PID, &pid.to_le_bytes())?;
            words.write(OFF_ALIVE_AT, &now_ns().to_le_bytes())
        })();
        header.map_err(at(hidden))?;
        for number in 1u32..10_000 {
            let name = format!("MVGen {number}");
            words
                .write(OFF_NUMBER, &number.to_le_bytes())
                .and_then(|()| write_name(&words, &name))
                .map_err(at(hidden))?;
            let path = dir.join(format!("mvgen-{number}.slot"));
            match std::fs::hard_link(hidden, &path) {
                Ok(()) => {
                    return Ok(Self {
                        words,
                        path,
                        number,
                        name: Mutex::new(name),
                        seq: AtomicU64::new(0),
                        count: AtomicU64::new(0),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err((path, e)),
            }
        }
        Err((
            dir.to_path_buf(),
            io::Error::other("no free instance number"),
        ))
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
    pub fn set_name(&self, name: &str) -> io::Result<()> {
        let mut end = name.len().min(NAME_BYTES);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        *self.name.lock().unwrap_or_else(|e| e.into_inner()) = name[..end].to_string();
        self.locked(|words| write_name(words, &name[..end]))
    }

    /// Say which enhancer goes with the frames (the look's; `None`: none, as for a path
    /// that is relative, not UTF-8 or longer than [`PATH_BYTES`]).
    pub fn set_enhancer(&self, path: Option<&Path>) -> io::Result<()> {
        let text = path
            .filter(|p| p.is_absolute())
            .and_then(|p| p.to_str())
            .filter(|t| t.len() <= PATH_BYTES)
            .unwrap_or("");
        let mut field = [0u8; PATH_BYTES];
        field[..text.len()].copy_from_slice(text.as_bytes());
        self.locked(|words| {
            words.write(OFF_ENHANCER_LEN, &(text.len() as u32).to_le_bytes())?;
            words.write(OFF_ENHANCER, &field)
        })
    }

    /// Publish a frame: `rgba` is [`FRAME_BYTES`] long. An error (the slot's tmpfs is
    /// full, the file was cut short by someone) means this slot cannot be written.
    pub fn publish(&self, rgba: &[u8], frame: i64, sound_at_ns: u64, fps: f32) -> io::Result<()> {
        assert_eq!(rgba.len(), FRAME_BYTES, "a feed frame is 256x256 RGBA");
        let now = now_ns();
        let count = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let mut meta = [0u8; META_BYTES];
        meta[0..8].copy_from_slice(&frame.to_le_bytes());
        meta[8..16].copy_from_slice(&sound_at_ns.to_le_bytes());
        meta[16..24].copy_from_slice(&now.to_le_bytes());
        meta[24..28].copy_from_slice(&((fps * 1000.0).round() as u32).to_le_bytes());
        self.locked(|words| {
            words.write(OFF_FRAME, &meta)?;
            words.write(OFF_COUNT, &count.to_le_bytes())?;
            words.write(HEADER_BYTES, rgba)
        })?;
        self.words.write(OFF_ALIVE_AT, &now.to_le_bytes())
    }

    /// The writer's heartbeat: the instance is running, with or without new frames.
    pub fn alive(&self) {
        let _ = self.words.write(OFF_ALIVE_AT, &now_ns().to_le_bytes());
    }

    /// Whether a stage watches this instance now: its deadline is ahead, and not further
    /// ahead than a stage sets it (a broken stage's far future is no watch).
    pub fn watched(&self) -> bool {
        let until = self.words.u64_at(OFF_WATCHED_UNTIL).unwrap_or(0);
        let now = now_ns();
        until > now && until - now <= 2 * WATCH_AHEAD.as_nanos() as u64
    }

    /// Write the sequenced fields: the sequence is odd while they change.
    fn locked(&self, write: impl FnOnce(&Words) -> io::Result<()>) -> io::Result<()> {
        let s = self.seq.load(Ordering::Relaxed);
        self.words.write(OFF_SEQ, &(s + 1).to_le_bytes())?;
        let written = write(&self.words);
        // Even again whatever happened: the fields are whole or the slot is useless.
        self.seq.store(s + 2, Ordering::Relaxed);
        self.words.write(OFF_SEQ, &(s + 2).to_le_bytes())?;
        written
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn write_name(words: &Words, name: &str) -> io::Result<()> {
    let mut field = [0u8; NAME_BYTES];
    field[..name.len()].copy_from_slice(name.as_bytes());
    words.write(OFF_NAME_LEN, &(name.len() as u32).to_le_bytes())?;
    words.write(OFF_NAME, &field)
}

/// Remove the slots, and the half-made ones, of processes that are gone.
fn remove_dead(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        let name = path.file_name().map(|n| n.to_string_lossy().to_string());
        let Some(name) = name else { continue };
        let pid = if let Some(part) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".part")) {
            part.split('-').next().and_then(|p| p.parse().ok())
        } else if name.ends_with(".slot") {
            // The pid in the header; a file too short to hold one is not ours to judge.
            File::open(&path)
                .ok()
                .and_then(|f| Words(f).u32_at(OFF_PID).ok())
                .filter(|_| name.starts_with("mvgen-"))
        } else {
            None
        };
        if pid.is_some_and(|pid| !process_runs(pid)) {
            let _ = std::fs::remove_file(&path);
        }
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
    remove_dead(dir);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "slot"))
        .collect();
    paths.sort();
    let mut slots: Vec<_> = paths
        .iter()
        .filter_map(|path| match Slot::open(path) {
            Ok(slot) if !slot.writer_runs() => None,
            Ok(slot) => Some(Ok(slot.info())),
            Err(e) => Some(Err(e)),
        })
        .collect();
    slots.sort_by_key(|s| match s {
        Ok(s) => std::cmp::Reverse(s.alive_at_ns.max(s.published_at_ns)),
        Err(_) => std::cmp::Reverse(0),
    });
    slots
}

/// A slot opened by a stage, checked.
pub struct Slot {
    words: Words,
    path: PathBuf,
    /// The file opened: a new slot under the same name is another instance.
    inode: u64,
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
        let words = Words(file);
        let short = |e: io::Error| format!("unreadable header: {e}");
        let mut magic = [0u8; 8];
        words.read(0, &mut magic).map_err(|e| refuse(short(e)))?;
        if magic != MAGIC {
            return Err(refuse("not an MVGen feed slot (wrong magic)".into()));
        }
        let version = words.u32_at(OFF_VERSION).map_err(|e| refuse(short(e)))?;
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
            let got = words.u32_at(offset).map_err(|e| refuse(short(e)))?;
            if got as usize != expected {
                return Err(refuse(format!("{what} {got}, not {expected}")));
            }
        }
        let pid = words.u32_at(OFF_PID).map_err(|e| refuse(short(e)))?;
        if pid == 0 || pid > i32::MAX as u32 {
            return Err(refuse(format!("a writer pid of {pid}")));
        }
        let number = words.u32_at(OFF_NUMBER).map_err(|e| refuse(short(e)))?;
        let slot = Self {
            words,
            path: path.to_path_buf(),
            inode: meta.ino(),
            pid,
            number,
        };
        // A name and an enhancer path must be UTF-8 of a sane length; one caught
        // mid-write is read later.
        match slot.name().and(slot.enhancer()) {
            Err(why) if !why.contains("mid-write") => Err(refuse(why)),
            _ => Ok(slot),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The writer's process.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the writer's process still runs and the slot is still the one under its
    /// name (an instance made again gets a new file under the same name).
    pub fn writer_runs(&self) -> bool {
        process_runs(self.pid)
            && std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.ino() == self.inode)
    }

    /// The instance's name, or why it cannot be read.
    pub fn name(&self) -> Result<String, String> {
        let mut field = [0u8; NAME_BYTES];
        let (len, _) = self.consistent(|words| {
            words.read(OFF_NAME, &mut field)?;
            words.u32_at(OFF_NAME_LEN)
        })?;
        let len = len as usize;
        if len > NAME_BYTES {
            return Err(format!("a name of {len} bytes (at most {NAME_BYTES})"));
        }
        String::from_utf8(field[..len].to_vec()).map_err(|_| "a name that is not UTF-8".into())
    }

    /// The enhancer of the look the instance runs, if it says one, or why it cannot be
    /// read. Only a path: whoever loads it checks the file as any model.
    pub fn enhancer(&self) -> Result<Option<PathBuf>, String> {
        let mut field = [0u8; PATH_BYTES];
        let (len, _) = self.consistent(|words| {
            words.read(OFF_ENHANCER, &mut field)?;
            words.u32_at(OFF_ENHANCER_LEN)
        })?;
        let len = len as usize;
        if len > PATH_BYTES {
            return Err(format!(
                "an enhancer path of {len} bytes (at most {PATH_BYTES})"
            ));
        }
        let text = std::str::from_utf8(&field[..len])
            .map_err(|_| "an enhancer path that is not UTF-8".to_string())?;
        let path = PathBuf::from(text);
        if !text.is_empty() && !path.is_absolute() {
            return Err(format!("a relative enhancer path ({text:?})"));
        }
        Ok((!text.is_empty()).then_some(path))
    }

    /// What a listing shows of this slot.
    pub fn info(&self) -> SlotInfo {
        let published_at_ns = self
            .consistent(|w| w.u64_at(OFF_FRAME + 16))
            .map_or(0, |(at, _)| at);
        SlotInfo {
            path: self.path.clone(),
            pid: self.pid,
            number: self.number,
            name: self.name().unwrap_or_default(),
            alive_at_ns: self.words.u64_at(OFF_ALIVE_AT).unwrap_or(0),
            published_at_ns,
        }
    }

    /// Copy the newest frame into `rgba` ([`FRAME_BYTES`]), unless it is the one counted
    /// `known`, or the writer is mid-write for longer than a reader waits.
    pub fn read(&self, rgba: &mut [u8], known: u64) -> Option<FrameMeta> {
        assert_eq!(rgba.len(), FRAME_BYTES);
        if self.words.u64_at(OFF_COUNT).ok()? == known {
            return None;
        }
        let mut meta = [0u8; META_BYTES];
        let (count, _) = self
            .consistent(|words| {
                words.read(OFF_FRAME, &mut meta)?;
                words.read(HEADER_BYTES, rgba)?;
                words.u64_at(OFF_COUNT)
            })
            .ok()?;
        let le8 = |i: usize| u64::from_le_bytes(meta[i..i + 8].try_into().unwrap());
        Some(FrameMeta {
            frame: le8(0) as i64,
            sound_at_ns: le8(8),
            published_at_ns: le8(16),
            fps: u32::from_le_bytes(meta[24..28].try_into().unwrap()) as f32 / 1000.0,
            sequence: count,
        })
        .filter(|m| m.sequence != 0 && m.sequence != known)
    }

    /// Say this instance is watched for the next [`WATCH_AHEAD`].
    pub fn watch(&self) {
        let until = now_ns() + WATCH_AHEAD.as_nanos() as u64;
        let _ = self.words.write(OFF_WATCHED_UNTIL, &until.to_le_bytes());
    }

    /// Whether a stage watches this instance now (this one or another).
    pub fn watched(&self) -> bool {
        self.words.u64_at(OFF_WATCHED_UNTIL).unwrap_or(0) > now_ns()
    }

    /// Stop watching at once (a stage that switches away, or closes).
    pub fn unwatch(&self) {
        let _ = self.words.write(OFF_WATCHED_UNTIL, &0u64.to_le_bytes());
    }

    /// Whether the writer feeds frames now (its heartbeat is recent).
    pub fn feeding(&self) -> bool {
        recent(self.words.u64_at(OFF_ALIVE_AT).unwrap_or(0))
    }

    /// Run `read` between two equal, even sequence numbers, retrying for
    /// [`READ_PATIENCE`] while the writer writes. The value and the sequence.
    fn consistent<T>(
        &self,
        mut read: impl FnMut(&Words) -> io::Result<T>,
    ) -> Result<(T, u64), String> {
        let started = Instant::now();
        loop {
            let before = self.words.u64_at(OFF_SEQ).map_err(|e| e.to_string())?;
            if before & 1 == 0 {
                let value = read(&self.words).map_err(|e| e.to_string())?;
                if self.words.u64_at(OFF_SEQ).map_err(|e| e.to_string())? == before {
                    return Ok((value, before));
                }
            }
            if started.elapsed() > READ_PATIENCE {
                return Err("the writer stayed mid-write (it died while writing?)".into());
            }
            std::thread::yield_now();
        }
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
        publisher.publish(&picture(3), 42, sound_at, 30.0).unwrap();
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
        publisher.publish(&picture(5), 43, sound_at, 30.0).unwrap();
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
        c.set_name("Drums \u{1F941} and a name far longer than any track's, cut at a character boundary so that it stays UTF-8 whatever the host sent us").unwrap();
        let info = Slot::open(c.path()).unwrap().info();
        assert!(info.name.starts_with("Drums \u{1F941}") && info.name.len() <= NAME_BYTES);
        assert!(info.feeding());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_looks_enhancer_is_named_to_stages() {
        let dir = folder_for("enhancer");
        let publisher = Publisher::create_in(&dir).unwrap();
        let slot = Slot::open(publisher.path()).unwrap();
        assert_eq!(
            slot.enhancer(),
            Ok(None),
            "none before the instance says one"
        );
        let path = Path::new("/home/me/.local/share/mvgen/looks/nightfall/enhancer.onnx");
        publisher.set_enhancer(Some(path)).unwrap();
        assert_eq!(slot.enhancer(), Ok(Some(path.to_path_buf())));
        // A path too long for the field is not cut short into another path: none.
        let long = PathBuf::from(format!("/{}", "x".repeat(PATH_BYTES)));
        publisher.set_enhancer(Some(&long)).unwrap();
        assert_eq!(slot.enhancer(), Ok(None));
        // Nor is a relative one, which would mean another file in every reader's folder.
        publisher
            .set_enhancer(Some(Path::new("looks/x/enhancer.onnx")))
            .unwrap();
        assert_eq!(slot.enhancer(), Ok(None));
        publisher.set_enhancer(Some(path)).unwrap();
        publisher.set_enhancer(None).unwrap();
        assert_eq!(slot.enhancer(), Ok(None));
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
        // A deadline in the past is not watching: a stage that died stops inference. One
        // absurdly far ahead (a broken stage) is not either.
        for until in [now_ns() - 1, u64::MAX, now_ns() + 3_600_000_000_000] {
            slot.words
                .write(OFF_WATCHED_UNTIL, &until.to_le_bytes())
                .unwrap();
            assert!(!publisher.watched(), "watched until {until}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn slots_of_processes_that_are_gone_are_removed() {
        let dir = folder_for("dead");
        let publisher = Publisher::create_in(&dir).unwrap();
        let dead = dir.join("mvgen-7.slot");
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
        version[OFF_VERSION..OFF_VERSION + 4].copy_from_slice(&99u32.to_le_bytes());
        let mut side = whole.clone();
        side[OFF_SIDE..OFF_SIDE + 4].copy_from_slice(&4096u32.to_le_bytes());
        let mut name = whole.clone();
        name[OFF_NAME_LEN..OFF_NAME_LEN + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut enhancer = whole.clone();
        enhancer[OFF_ENHANCER_LEN..OFF_ENHANCER_LEN + 4].copy_from_slice(&5000u32.to_le_bytes());
        let mut not_utf8 = whole.clone();
        not_utf8[OFF_ENHANCER_LEN..OFF_ENHANCER_LEN + 4].copy_from_slice(&2u32.to_le_bytes());
        not_utf8[OFF_ENHANCER..OFF_ENHANCER + 2].copy_from_slice(&[0xff, 0xfe]);
        let mut relative = whole.clone();
        relative[OFF_ENHANCER_LEN..OFF_ENHANCER_LEN + 4].copy_from_slice(&3u32.to_le_bytes());
        relative[OFF_ENHANCER..OFF_ENHANCER + 3].copy_from_slice(b"x/y");
        let cases = [
            (write("random.slot", &random, 0o600), "wrong magic"),
            (write("version.slot", &version, 0o600), "feed version 99"),
            (write("side.slot", &side, 0o600), "side 4096"),
            (
                write("name.slot", &name, 0o600),
                "a name of 4294967295 bytes",
            ),
            (
                write("enhancer.slot", &enhancer, 0o600),
                "an enhancer path of 5000 bytes",
            ),
            (write("utf8.slot", &not_utf8, 0o600), "not UTF-8"),
            (
                write("relative.slot", &relative, 0o600),
                "a relative enhancer path",
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
        publisher.publish(&picture(1), 1, now_ns(), 30.0).unwrap();
        let slot = Slot::open(publisher.path()).unwrap();
        // Killed inside `locked`: the sequence is odd for ever.
        publisher.words.write(OFF_SEQ, &3u64.to_le_bytes()).unwrap();
        let mut rgba = vec![0u8; FRAME_BYTES];
        assert_eq!(slot.read(&mut rgba, 0), None);
        assert!(slot.name().unwrap_err().contains("died while writing"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A reader never takes a torn frame: a writer publishes frames of one value each,
    /// thousands a second, while a reader copies them; every copy it accepts is one frame,
    /// whole, with that frame's index.
    #[test]
    fn a_reader_takes_only_whole_frames_while_the_writer_writes() {
        let dir = folder_for("seqlock");
        let publisher = Publisher::create_in(&dir).unwrap();
        let slot = Slot::open(publisher.path()).unwrap();
        let writer = std::thread::spawn(move || {
            for i in 0..2000i64 {
                let level = (i % 251) as u8;
                publisher
                    .publish(&vec![level; FRAME_BYTES], i, 0, 30.0)
                    .unwrap();
                // Far faster than any frame rate, with a gap a reader can land in.
                std::thread::sleep(Duration::from_micros(200));
            }
            publisher
        });
        let mut rgba = vec![0u8; FRAME_BYTES];
        let (mut known, mut taken) = (0, 0);
        while !writer.is_finished() {
            if let Some(meta) = slot.read(&mut rgba, known) {
                let level = (meta.frame % 251) as u8;
                assert!(
                    rgba.iter().all(|&v| v == level),
                    "a torn frame at {}",
                    meta.frame
                );
                known = meta.sequence;
                taken += 1;
            }
        }
        let publisher = writer.join().unwrap();
        assert!(taken > 10, "only {taken} frames read");
        drop(publisher);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A slot cut short by someone after it was opened: the reader says so, the writer
    /// gets an error, and neither gets a signal.
    #[test]
    fn a_slot_cut_short_is_an_error_not_a_crash() {
        let dir = folder_for("cut");
        let publisher = Publisher::create_in(&dir).unwrap();
        publisher.publish(&picture(2), 1, 0, 30.0).unwrap();
        let slot = Slot::open(publisher.path()).unwrap();
        OpenOptions::new()
            .write(true)
            .open(publisher.path())
            .unwrap()
            .set_len(100)
            .unwrap();
        let mut rgba = vec![0u8; FRAME_BYTES];
        assert_eq!(slot.read(&mut rgba, 0), None);
        // The writer's next frame writes the file long again (a positioned write): no
        // signal either way.
        publisher.publish(&picture(3), 2, 0, 30.0).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// An instance made again in the same process gets a new file under its number's
    /// name: a stage holding the old one sees it is gone.
    #[test]
    fn a_slot_made_again_under_the_same_name_is_another() {
        let dir = folder_for("again");
        let first = Publisher::create_in(&dir).unwrap();
        let slot = Slot::open(first.path()).unwrap();
        assert!(slot.writer_runs());
        drop(first);
        let second = Publisher::create_in(&dir).unwrap();
        assert_eq!(second.path(), slot.path());
        assert!(!slot.writer_runs());
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
