//! `mvgen stage` against two DAWs playing at once, as at a gig: two processes
//! (`clap-play`), each with MVGen on a named track, feeding one stage on an X server with
//! two monitors (Xorg's dummy driver, `tests/stage/two-monitors.conf`), drawn by lavapipe.
//!
//! The picture is checked against the frames the instance publishes (read from its feed
//! slot by the test, as a second reader): the stage's square, scaled back to 256, must be
//! nearer the frame of the instance it shows than the other's. The screenshots are kept in
//! target/test-scratch/stage/; with `MVGEN_UPDATE_SCREENSHOT=1` the first also replaces
//! docs/stage.png (README).
//!
//! A second test has OBS Studio stream the stage as a streamer would set it up: the stage
//! fullscreen on the second monitor, OBS capturing that monitor (tests/src/obs.rs).
//!
//! Each test has its X server, and they take turns: `DISPLAY` and the feed folder are the
//! process's.

use mvgen_feed::{list_in, Slot, SlotInfo, DIR_ENV, FRAME_BYTES, SIDE};
use mvgen_stage::picture::Layout;
use mvgen_tests::bounce::psnr;
use mvgen_tests::editor_host::{Screenshot, Xvfb};
use mvgen_tests::obs::Obs;
use mvgen_tests::stage_host::{Placement, Screen};
use mvgen_tests::{clap_bundle, mvgen, private_dir, scratch};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Held by each test for its whole run: one X server and feed folder at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The second monitor, where the stage goes fullscreen.
const MONITOR_1: Placement = Placement {
    x: 1280,
    y: 0,
    width: 1280,
    height: 720,
};
/// X11's keysym for Tab.
const TAB: u32 = 0xff09;
/// Stage start/stop cycles, and the growth of the plugin's resident memory allowed over
/// the last 40 of them.
const CYCLES: usize = 50;
const RSS_BOUND_MIB: f64 = 8.0;
/// How near the stage's square, scaled back to 256, is to the frame it shows: the frame
/// enlarged 2.8 times and shrunk again, possibly mid-fade. Two frames 33 ms apart of this
/// music are about 30 dB apart, a second apart about 14.
const MATCH_DB: f64 = 24.0;

fn play(track: &str, seconds: u32, seed: u32, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_clap-play"))
        .arg(clap_bundle())
        .args([track, &seconds.to_string(), &seed.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("clap-play")
}

fn stage(args: &[&str], log: &Path) -> Child {
    Command::new(mvgen())
        .arg("stage")
        .args(args)
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("mvgen stage")
}

/// Wait up to `limit` for `done`, polling.
fn wait_for<T>(limit: Duration, what: &str, mut done: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = done() {
            return v;
        }
        assert!(started.elapsed() < limit, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn instance(feed: &Path, name: &str) -> Option<SlotInfo> {
    list_in(feed)
        .into_iter()
        .filter_map(Result::ok)
        .find(|s| s.name == name)
}

/// The newest frame an instance published (RGB, 256x256).
fn frame_of(feed: &Path, name: &str) -> Vec<u8> {
    let info = instance(feed, name).unwrap_or_else(|| panic!("{name} is not running"));
    let slot = Slot::open(&info.path).unwrap();
    let mut rgba = vec![0u8; FRAME_BYTES];
    slot.read(&mut rgba, 0)
        .unwrap_or_else(|| panic!("{name} has published no frame"));
    rgba.chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect()
}

/// The frame's square of a monitor's screenshot, scaled to 256x256 (RGB).
fn square_of(shot: &Screenshot) -> Vec<u8> {
    let (x, y, side) = Layout::new(shot.width, shot.height, None, Default::default()).square();
    let image = image::RgbImage::from_raw(shot.width, shot.height, shot.rgb.clone()).unwrap();
    let square = image::imageops::crop_imm(&image, x as u32, y as u32, side as u32, side as u32);
    image::imageops::resize(
        &square.to_image(),
        SIDE as u32,
        SIDE as u32,
        image::imageops::FilterType::Triangle,
    )
    .into_raw()
}

fn mean_difference(a: &[u8], b: &[u8]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).abs())
        .sum::<f64>()
        / a.len() as f64
}

/// The share of pixels darker than 12 in every channel.
fn black_share(shot: &Screenshot) -> f64 {
    let dark = shot
        .rgb
        .chunks_exact(3)
        .filter(|p| p.iter().all(|&c| c < 12))
        .count();
    dark as f64 / (shot.width * shot.height) as f64
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb / 1024.0
}

/// Collect the frames an instance publishes for a second and a half, then shoot the
/// stage: the frame it shows is among them (the stage shows a frame within a paint of its
/// publication). The frames come with their publication times.
fn shoot_after_frames(
    screen: &Screen,
    dir: &Path,
    name: &str,
    slot: &Slot,
) -> (Screenshot, Vec<(u64, Vec<u8>)>) {
    after_frames(slot, || shoot(screen, dir, name))
}

/// The frames `slot` publishes over a second and a half, then `shoot()`.
fn after_frames(
    slot: &Slot,
    shoot: impl FnOnce() -> Screenshot,
) -> (Screenshot, Vec<(u64, Vec<u8>)>) {
    let mut seen = Vec::new();
    let mut rgba = vec![0u8; FRAME_BYTES];
    let mut known = 0;
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        if let Some(meta) = slot.read(&mut rgba, known) {
            known = meta.sequence;
            let rgb = rgba
                .chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]])
                .collect();
            seen.push((meta.published_at_ns, rgb));
        }
        std::thread::sleep(Duration::from_millis(4));
    }
    assert!(seen.len() > 10, "{} frames published in 1.5 s", seen.len());
    (shoot(), seen)
}

/// The nearest of `frames` to `square`: PSNR, and how long before now it was published.
fn best_match(square: &[u8], frames: &[(u64, Vec<u8>)]) -> (f64, f64) {
    let now = mvgen_feed::now_ns();
    frames
        .iter()
        .map(|(at, rgb)| (psnr(square, rgb), now.saturating_sub(*at) as f64 / 1e6))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap()
}

/// Wait for the stage showing `instance` to cover monitor 1.
fn on_monitor_1(screen: &Screen, instance: &str) {
    wait_for(Duration::from_secs(30), "the stage on monitor 1", || {
        let windows = screen.windows(&format!("MVGen stage: {instance}")).unwrap();
        windows.first().filter(|w| w.1 == MONITOR_1).map(|_| ())
    });
}

/// Close the stage, end the DAW's song, and check that the DAW ended well.
fn finish(mut stage: Child, mut daw: Child, log: &Path) {
    stage.kill().unwrap();
    stage.wait().unwrap();
    drop(daw.stdin.take());
    let done = daw.wait_with_output().unwrap();
    assert!(
        done.status.success(),
        "the DAW failed: see {}",
        log.display()
    );
}

fn shoot(screen: &Screen, dir: &Path, name: &str) -> Screenshot {
    let m = MONITOR_1;
    let shot = screen.shot(m.x, m.y, m.width, m.height).unwrap();
    let path = dir.join(name);
    shot.save_png(&path).unwrap();
    eprintln!("screenshot {}", path.display());
    shot
}

/// A test's X server with two monitors, scratch folder and feed folder, held for its whole
/// run (the tests take turns: `DISPLAY` and the feed folder are the process's).
struct Rig {
    dir: std::path::PathBuf,
    screen: Screen,
    feed: std::path::PathBuf,
    _x: Xvfb,
    _turn: std::sync::MutexGuard<'static, ()>,
}

impl Rig {
    fn start(name: &str) -> Self {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let dir = scratch(name);
        let x = Xvfb::two_monitors(&dir.join("x.log")).unwrap();
        let screen = Screen::connect().unwrap();
        let feed = private_dir(&dir.join("feed"));
        // The DAWs and the stages the test starts inherit it: its own feed folder.
        std::env::set_var(DIR_ENV, &feed);
        std::env::remove_var("MVGEN_MODEL"); // the embedded default model
        Self {
            dir,
            screen,
            feed,
            _x: x,
            _turn: turn,
        }
    }
}

#[test]
fn a_stage_shows_an_instance_on_a_second_monitor_switches_and_costs_the_plugin_nothing() {
    let rig = Rig::start("stage");
    let (dir, screen, feed) = (&rig.dir, &rig.screen, &rig.feed);

    // Two DAWs, different music; Drums plays through every step below.
    let mut drums = play("Drums", 600, 1, &dir.join("drums.log"));
    let mut keys = play("Keys", 60, 9, &dir.join("keys.log"));
    wait_for(Duration::from_secs(30), "both instances' slots", || {
        (instance(feed, "Drums").is_some() && instance(feed, "Keys").is_some()).then_some(())
    });

    // Slots that are not slots: refused by name, and no stage crashes on them.
    let mut wrong_version = std::fs::read(instance(feed, "Keys").unwrap().path).unwrap();
    wrong_version[8] = 99;
    for (name, bytes) in [
        (
            "random.slot",
            (0..mvgen_feed::SLOT_BYTES)
                .map(|i| (i * 7919 % 251) as u8)
                .collect(),
        ),
        ("version.slot", wrong_version),
        ("truncated.slot", vec![0u8; 100]),
    ] {
        let path = feed.join(name);
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
    }

    // --list names both instances (by track) and both monitors, and refuses the rest.
    let listed = Command::new(mvgen())
        .args(["stage", "--list"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    for expected in [
        "Drums  (#",
        "Keys  (#",
        "0: DUMMY0 1280x720 at 0,0",
        "1: DUMMY1 1280x720 at 1280,0",
        "random.slot: not an MVGen feed slot",
        "version.slot: feed version 99",
        "truncated.slot: 100 bytes",
    ] {
        assert!(
            text.contains(expected),
            "--list lacks {expected:?}:\n{text}"
        );
    }

    // Fullscreen on the second monitor, showing Drums: it covers that monitor exactly.
    let mut shown = stage(
        &["--monitor", "1", "--fullscreen", "--instance", "Drums"],
        &dir.join("stage.log"),
    );
    let placement = wait_for(Duration::from_secs(30), "the stage on monitor 1", || {
        let windows = screen.windows("MVGen stage: Drums").unwrap();
        windows.first().map(|w| w.1).filter(|p| *p == MONITOR_1)
    });
    assert_eq!(placement, MONITOR_1);
    std::thread::sleep(Duration::from_secs(2));
    let drums_slot = Slot::open(&instance(feed, "Drums").unwrap().path).unwrap();
    let (first, seen) = shoot_after_frames(screen, dir, "drums-1.png", &drums_slot);
    if std::env::var_os("MVGEN_UPDATE_SCREENSHOT").is_some() {
        first
            .save_png(&mvgen_tests::root().join("docs/stage.png"))
            .unwrap();
    }
    let (near, age_ms) = best_match(&square_of(&first), &seen);
    eprintln!("Drums on the stage: {near:.1} dB from a frame published {age_ms:.0} ms before");
    assert!(
        near >= MATCH_DB,
        "the stage's square is not Drums' frame: {near:.1} dB"
    );
    std::thread::sleep(Duration::from_secs(1));
    let second = shoot(screen, dir, "drums-2.png");
    let moved = mean_difference(&square_of(&first), &square_of(&second));
    assert!(
        moved > 2.0,
        "the picture did not change with the music: {moved:.2}"
    );
    let other = screen.shot(0, 0, 1280, 720).unwrap();
    assert!(
        black_share(&other) > 0.99,
        "the stage spilled onto monitor 0"
    );

    // Tab: the next instance (by name), Keys. The pointer puts the keyboard on the stage.
    screen
        .point_at(MONITOR_1.x + 640, MONITOR_1.y + 360)
        .unwrap();
    screen.press(TAB).unwrap();
    wait_for(Duration::from_secs(10), "Tab to switch to Keys", || {
        (!screen.windows("MVGen stage: Keys").unwrap().is_empty()).then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    let keys_slot = Slot::open(&instance(feed, "Keys").unwrap().path).unwrap();
    let (on_keys, seen) = shoot_after_frames(screen, dir, "keys.png", &keys_slot);
    let on_keys = square_of(&on_keys);
    let (to_keys, _) = best_match(&on_keys, &seen);
    let to_drums = psnr(&on_keys, &frame_of(feed, "Drums"));
    eprintln!("after Tab: {to_keys:.1} dB from Keys' frames, {to_drums:.1} dB from Drums' last");
    assert!(
        to_keys >= MATCH_DB && to_keys > to_drums + 3.0,
        "after Tab the stage does not show Keys: {to_keys:.1} dB from Keys, {to_drums:.1} from Drums"
    );

    // Keys' DAW is killed: the stage takes its picture down and says it waits.
    keys.kill().unwrap();
    keys.wait().unwrap();
    wait_for(Duration::from_secs(5), "the stage to wait for Keys", || {
        let shot = screen
            .shot(MONITOR_1.x, MONITOR_1.y, MONITOR_1.width, MONITOR_1.height)
            .unwrap();
        (black_share(&shot) > 0.9).then_some(())
    });
    let waiting = shoot(screen, dir, "waiting.png");
    assert!(
        waiting.distinct_colours() > 2,
        "the stage shows nothing at all, not even that it waits"
    );
    assert!(shown.try_wait().unwrap().is_none(), "the stage died");
    shown.kill().unwrap();
    shown.wait().unwrap();

    // A stage killed: Drums stops generating within a second (its slot stops getting
    // frames), and the audio goes on untouched.
    // By its number this time (#N), as the editor's Open stage names it.
    let number = format!("#{}", instance(feed, "Drums").unwrap().number);
    let mut watcher = stage(&["--instance", &number], &dir.join("stage-2.log"));
    let mut rgba = vec![0u8; FRAME_BYTES];
    let mut known = drums_slot.read(&mut rgba, 0).unwrap().sequence;
    wait_for(
        Duration::from_secs(30),
        "frames for the second stage",
        || {
            let fresh = drums_slot.read(&mut rgba, known).map(|m| m.sequence);
            fresh.map(|s| known = s).filter(|_| drums_slot.watched())
        },
    );
    // Frozen (SIGSTOP), the stage stops renewing its watch: Drums stops generating
    // within a second as well, and goes on when the stage does.
    let signal = |child: &Child, sig: i32| {
        // SAFETY: a signal to our own child process.
        assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
    };
    signal(&watcher, libc::SIGSTOP);
    let frozen_at = mvgen_feed::now_ns();
    std::thread::sleep(Duration::from_secs(3));
    let last = drums_slot.read(&mut rgba, 0).unwrap().published_at_ns;
    let after_ms = last.saturating_sub(frozen_at) as f64 / 1e6;
    eprintln!("last frame {after_ms:.0} ms after the stage froze");
    assert!(
        after_ms <= 1000.0,
        "inference ran {after_ms:.0} ms after the stage froze"
    );
    signal(&watcher, libc::SIGCONT);
    let mut known = drums_slot.read(&mut rgba, 0).unwrap().sequence;
    wait_for(
        Duration::from_secs(10),
        "frames once the stage thawed",
        || {
            drums_slot
                .read(&mut rgba, known)
                .map(|m| known = m.sequence)
        },
    );

    // Killed, likewise.
    watcher.kill().unwrap();
    let killed_at = mvgen_feed::now_ns();
    watcher.wait().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let last = drums_slot.read(&mut rgba, 0).unwrap().published_at_ns;
    let after_ms = last.saturating_sub(killed_at) as f64 / 1e6;
    eprintln!("last frame {after_ms:.0} ms after the stage was killed");
    assert!(
        after_ms <= 1000.0,
        "inference ran {after_ms:.0} ms after the stage died"
    );

    // 50 stages started and stopped: the plugin's memory stays flat.
    let pid = drums.id();
    let mut rss = Vec::new();
    for cycle in 1..=CYCLES {
        let mut s = stage(&["--instance", "Drums"], &dir.join("cycle.log"));
        wait_for(Duration::from_secs(30), "a cycle's stage to watch", || {
            drums_slot.watched().then_some(())
        });
        s.kill().unwrap();
        s.wait().unwrap();
        if cycle % 10 == 0 {
            wait_for(Duration::from_secs(5), "the watch to run out", || {
                (!drums_slot.watched()).then_some(())
            });
            rss.push(rss_mib(pid));
        }
    }
    eprintln!("Drums' DAW, resident MiB every 10 stage cycles: {rss:.1?}");
    let growth = rss.last().unwrap() - rss[0];
    assert!(
        growth < RSS_BOUND_MIB,
        "the plugin grew {growth:.1} MiB over {} stage cycles",
        CYCLES - 10
    );

    // Drums' DAW stops (its input closes): its audio came back bit for bit, and the debug
    // bundle (which aborts on any allocation on the audio thread) did not abort.
    drop(drums.stdin.take());
    let done = drums.wait_with_output().unwrap();
    assert!(
        done.status.success(),
        "Drums' DAW failed: see {}",
        dir.join("drums.log").display()
    );
    assert_eq!(String::from_utf8_lossy(&done.stdout).trim(), "bit-exact");
}

/// OBS Studio streams the stage as a streamer sets it up (README, "On stage"): the stage
/// fullscreen on the second monitor, OBS's Screen Capture (XSHM) of that monitor. What OBS
/// would stream is the instance's frame, and it moves with the music.
///
/// Window Capture (Xcomposite) is not tested: it needs a GL driver that can bind an X
/// pixmap (EGL_KHR_image_pixmap), which Mesa's software driver here lacks.
#[test]
fn obs_streams_the_stage_from_the_second_monitor() {
    let rig = Rig::start("stage-obs");
    let (dir, screen, feed) = (&rig.dir, &rig.screen, &rig.feed);

    // OBS first, capturing monitor 1 at 10 fps (light on llvmpipe): the stage, mapped
    // after OBS's window, is above it.
    let size = (MONITOR_1.width, MONITOR_1.height);
    let mut obs = Obs::start(dir, 1, size, 10).unwrap();
    let drums = play("Drums", 120, 1, &dir.join("drums.log"));
    wait_for(Duration::from_secs(30), "Drums' slot", || {
        instance(feed, "Drums").map(|_| ())
    });
    let shown = stage(
        &["--monitor", "1", "--fullscreen", "--instance", "Drums"],
        &dir.join("stage.log"),
    );
    on_monitor_1(screen, "Drums");
    let captured = wait_for(
        Duration::from_secs(30),
        "OBS's capture of monitor 1",
        || {
            let (w, h) = obs.source_size().unwrap();
            (w > 0.0).then_some((w, h))
        },
    );
    assert_eq!(
        captured,
        (MONITOR_1.width as f64, MONITOR_1.height as f64),
        "OBS captures monitor 1, all of it"
    );
    std::thread::sleep(Duration::from_secs(2));

    let slot = Slot::open(&instance(feed, "Drums").unwrap().path).unwrap();
    let streamed = |obs: &mut Obs, name: &str| {
        let shot = obs.screenshot(size.0, size.1).unwrap();
        shot.save_png(&dir.join(name)).unwrap();
        eprintln!("OBS's picture {}", dir.join(name).display());
        shot
    };
    let (first, seen) = after_frames(&slot, || streamed(&mut obs, "obs-1.png"));
    let (near, age_ms) = best_match(&square_of(&first), &seen);
    eprintln!("OBS streams Drums: {near:.1} dB from a frame published {age_ms:.0} ms before");
    assert!(
        near >= MATCH_DB,
        "what OBS streams is not Drums' frame: {near:.1} dB"
    );
    std::thread::sleep(Duration::from_secs(1));
    let second = streamed(&mut obs, "obs-2.png");
    let moved = mean_difference(&square_of(&first), &square_of(&second));
    assert!(
        moved > 2.0,
        "what OBS streams did not change with the music: {moved:.2}"
    );

    drop(obs);
    finish(shown, drums, &dir.join("drums.log"));
}

/// The stage enlarges with the look's own enhancer where it is asked to (`--enhance
/// always`: on this machine's CPU; `auto` does it on a GPU): the instance names its look's
/// enhancer in its slot, the stage loads it, and the picture is still the instance's
/// frame, and still moves with the music.
#[test]
fn a_stage_enlarges_with_the_looks_enhancer() {
    let rig = Rig::start("stage-enhancer");
    let (dir, screen, feed) = (&rig.dir, &rig.screen, &rig.feed);
    let drums = play("Drums", 120, 1, &dir.join("drums.log"));
    let info = wait_for(Duration::from_secs(30), "Drums' slot", || {
        instance(feed, "Drums")
    });
    let slot = Slot::open(&info.path).unwrap();
    let enhancer = wait_for(
        Duration::from_secs(30),
        "Drums to name its enhancer",
        || slot.enhancer().unwrap(),
    );
    assert_eq!(
        enhancer,
        mvgen_default_model::enhancer_path().unwrap(),
        "the default look's enhancer"
    );
    let log = dir.join("stage.log");
    let shown = stage(
        &[
            "--monitor",
            "1",
            "--fullscreen",
            "--instance",
            "Drums",
            "--enhance",
            "always",
        ],
        &log,
    );
    wait_for(Duration::from_secs(60), "the stage to enlarge", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(!text.contains("is not used"), "{text}");
        (text.contains("stage: enlarging with the look's enhancer")
            && text.contains("stage: showing the enhancer's 1024x1024 frames"))
        .then_some(())
    });
    on_monitor_1(screen, "Drums");
    std::thread::sleep(Duration::from_secs(2));
    let (first, seen) = shoot_after_frames(screen, dir, "enhanced-1.png", &slot);
    let (near, age_ms) = best_match(&square_of(&first), &seen);
    eprintln!(
        "enlarged by the enhancer: {near:.1} dB from a frame published {age_ms:.0} ms before"
    );
    assert!(
        near >= MATCH_DB,
        "the enlarged picture is not Drums' frame: {near:.1} dB"
    );
    std::thread::sleep(Duration::from_secs(1));
    let second = shoot(screen, dir, "enhanced-2.png");
    let moved = mean_difference(&square_of(&first), &square_of(&second));
    assert!(moved > 2.0, "the enlarged picture did not move: {moved:.2}");
    finish(shown, drums, &dir.join("drums.log"));
}
