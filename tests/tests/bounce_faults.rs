//! A bounce that never hangs and never lies, through the CLAP bundle in our test host.
//!
//! - Faults stay bounded: a generator that hangs on every frame costs one wait, not one
//!   per frame; a worker that stalls costs missing frames and silence, never lost timing.
//! - "Export on bounce" off costs analysis only: nothing is generated or waited for.
//! - One render makes one bounce: position jitter is tolerated, a jump ends the bounce and
//!   says so, and the bounces one render is cut into share its id; a jump right after the
//!   audio thread gave up loses nothing of the next bounce.
//! - Instances that bounce at once into one folder each get their own folder and name.
//! - A render that says real time is found at every supported rate, and a live host that
//!   processes a second ahead is never taken for one (nor waited for).
//! - The manifest names the model bytes that were loaded, and the parameters as they
//!   changed.
//!
//! Strategy: drive the plugin as a DAW would, make the fault happen through the plugin's
//! test hooks (`MVGEN_TEST_STALL` stalls the worker, `MVGEN_TEST_STALL_GENERATOR` the
//! generator) or through the host's own behaviour (positions, render modes, pacing), then
//! read what the bounce left: the manifest against the frame clock, `audio.wav` against
//! the input sample by sample. Bounds on time are generous: each one separates "waits once"
//! from "waits per frame", which differ by minutes.

use mvgen_core::Fps;
use mvgen_tests::bounce::{
    assert_complete_bounce, bounces, duration, manifest, pngs, tap_dir, wav, Env, RATE,
};
use mvgen_tests::clap_host::{Block, Host, ParamChange, Run, MAX_BLOCK};
use mvgen_tests::signals::{bit_exact, stereo};
use mvgen_tests::{clap_bundle, models, scratch, tap};
use std::time::{Duration, Instant};

/// How long the audio thread waits for a stalled worker (`capture::OFFLINE_WAIT_LIMIT`;
/// the tests drive the bundle, not the crate).
const OFFLINE_WAIT_LIMIT: Duration = Duration::from_secs(10);

/// Process `input` from timeline `positions[i]` for block `i` of `block` samples, with the
/// render mode set once; returns the output.
fn play(
    host: &mut Host,
    input: &[Vec<f32>],
    block: usize,
    offline: bool,
    positions: impl Fn(usize) -> u64,
) -> Vec<Vec<f32>> {
    host.set_render_mode(offline).unwrap();
    let mut active = host.activate(RATE, input.len(), MAX_BLOCK).unwrap();
    let mut output = vec![Vec::new(); input.len()];
    for (i, pos) in (0..input[0].len()).step_by(block).enumerate() {
        let end = (pos + block).min(input[0].len());
        let chunk: Vec<&[f32]> = input.iter().map(|c| &c[pos..end]).collect();
        let out = active
            .process(
                &chunk,
                Block {
                    position: positions(i),
                    playing: true,
                },
                &[],
            )
            .unwrap();
        for (o, b) in output.iter_mut().zip(out) {
            o.extend(b);
        }
    }
    active.deactivate();
    output
}

fn missing_frames(m: &serde_json::Value) -> Vec<i64> {
    m["missing_frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["frame"].as_i64().unwrap())
        .collect()
}

/// A generator that hangs for 11 s on every frame (past the wait limit): the render ends
/// in about one wait limit, not 600 of them, with every frame listed as missing and the
/// audio whole.
#[test]
fn a_generator_that_hangs_on_every_frame_costs_one_wait_not_one_per_frame() {
    let root = scratch("fault-hung-generator");
    let tap_folder = tap_dir(&root);
    let input = stereo(RATE, 20.0, 101);
    let env = Env::new(
        &root,
        &tap_folder,
        &[("MVGEN_TEST_STALL_GENERATOR", "11000".into())],
    );
    let mut host = Host::load(&clap_bundle()).unwrap();
    let started = Instant::now();
    let output = host.run(&Run::offline(RATE, &[4096]), &input).unwrap();
    let render = started.elapsed();
    drop(host);
    drop(env);
    assert!(bit_exact(&output, &input), "audio changed");
    assert!(
        render < OFFLINE_WAIT_LIMIT + Duration::from_secs(5),
        "the 20 s render took {render:?}: a hung generator must cost one wait, not one per frame"
    );
    let dirs = bounces(&root);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let m = manifest(&dirs[0]);
    assert_eq!(m["complete"], false);
    assert_eq!(m["finished"], true);
    let frames = m["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 600, "every frame has a file");
    assert_eq!(
        missing_frames(&m),
        (0..600).collect::<Vec<_>>(),
        "every frame is listed"
    );
    for f in m["missing_frames"].as_array().unwrap() {
        let why = f["why"].as_str().unwrap();
        assert!(why.contains("generator"), "frame {}: {why}", f["frame"]);
    }
    assert!(
        m["problems"].to_string().contains("not generated"),
        "{}",
        m["problems"]
    );
    assert!(
        bit_exact(&wav(&dirs[0].join("audio.wav")), &input),
        "the audio is whole: the worker kept draining while the generator hung"
    );
}

/// "Export on bounce" off: an offline render costs analysis only. The worker here takes
/// 0.5 s a frame, so a render that waited for it would take 300 s.
#[test]
fn with_export_off_an_offline_render_is_never_paced() {
    let root = scratch("fault-export-off");
    let tap_folder = tap_dir(&root);
    let input = stereo(RATE, 20.0, 102);
    let env = Env::new(&root, &tap_folder, &[("MVGEN_TEST_STALL", "500".into())]);
    let mut host = Host::load(&clap_bundle()).unwrap();
    let off = [ParamChange {
        id: "export",
        value: 0.0,
    }];
    let run = Run {
        params: &off,
        ..Run::offline(RATE, &[1024])
    };
    let started = Instant::now();
    let output = host.run(&run, &input).unwrap();
    let render = started.elapsed();
    drop(host);
    drop(env);
    assert!(bit_exact(&output, &input), "audio changed");
    assert!(
        render < Duration::from_secs(60),
        "a render with export off took {render:?}: it was paced by the generator"
    );
    assert!(bounces(&root).is_empty(), "nothing is exported");
    // Analysed as live audio is: every frame is sent, or dropped when the worker is busy.
    let counters = tap::counters(&tap_folder);
    assert_eq!(
        counters["windows_sent"] + counters["windows_dropped"],
        600,
        "{counters:?}"
    );
    assert_eq!(counters["offline_waits"], 0, "nothing waited: {counters:?}");
    let generated = tap::generated(&tap_folder).unwrap();
    assert!(!generated.is_empty(), "the worker received windows");
    assert!(generated.iter().all(|g| !g), "no frame is generated");
    assert!(
        tap::errors(&tap_folder)
            .iter()
            .any(|e| e.contains("Export on bounce is off")),
        "the render says why it exported nothing"
    );
}

/// A worker that stalls past the wait limit while the host renders on: the audio it had
/// no room for is missing, and `audio.wav` has silence in its place, listed, so every
/// frame after it keeps its time and the video and the audio still end together.
#[test]
fn audio_lost_to_a_stall_is_padded_and_listed() {
    let root = scratch("fault-audio-gap");
    let tap_folder = tap_dir(&root);
    // Longer than the export ring (about 3 s at 44.1 kHz stereo), so audio is lost; the
    // worker stalls well past the audio thread's 10 s, however loaded the machine.
    let input = stereo(RATE, 6.0, 103);
    let env = Env::new(
        &root,
        &tap_folder,
        &[("MVGEN_TEST_STALL", "15000@20".into())],
    );
    let mut host = Host::load(&clap_bundle()).unwrap();
    let output = host.run(&Run::offline(RATE, &[512]), &input).unwrap();
    drop(host);
    drop(env);
    assert!(bit_exact(&output, &input), "audio changed");
    let dirs = bounces(&root);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let m = manifest(&dirs[0]);
    assert_eq!(m["complete"], false, "{m}");
    let gaps: Vec<(usize, usize)> = m["audio_gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let from = g["sample"].as_u64().unwrap() as usize;
            (from, from + g["samples"].as_u64().unwrap() as usize)
        })
        .collect();
    assert!(!gaps.is_empty(), "the lost audio is listed: {m}");
    assert!(
        m["problems"].to_string().contains("silence"),
        "{}",
        m["problems"]
    );
    // Every frame of the 6 s has a file, and the audio spans them all.
    assert_eq!(m["frames"].as_array().unwrap().len(), 180);
    assert_eq!(m["audio_samples"], input[0].len());
    let written = wav(&dirs[0].join("audio.wav"));
    for (c, (got, want)) in written.iter().zip(&input).enumerate() {
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            let in_gap = gaps.iter().any(|&(a, b)| (a..b).contains(&i));
            let expected = if in_gap { 0.0 } else { *w };
            assert_eq!(
                g.to_bits(),
                expected.to_bits(),
                "channel {c}, sample {i} (in a gap: {in_gap})"
            );
        }
    }
    let video = dirs[0].join("bounce.mp4");
    let (v, a) = (duration(&video, "v:0"), duration(&video, "a:0"));
    assert!(
        (v - 6.0).abs() < 0.04 && (a - 6.0).abs() < 0.04,
        "video {v} s and audio {a} s still end together"
    );
}

/// Hosts round positions (and rebuild them from beats in tempo ramps): a render whose
/// blocks start up to 10 ms early or late (441 samples here) is still one bounce, the same
/// as a clean one; 500 samples off is a jump.
#[test]
fn position_jitter_does_not_split_a_render() {
    let input = stereo(RATE, 3.0, 104);
    let mut frames = Vec::new();
    for (name, jitter) in [
        ("clean", [0i64, 0, 0]),
        ("one-sample", [0, 1, -1]),
        ("ramp", [0, 400, -400]),
    ] {
        let root = scratch(&format!("fault-jitter-{name}"));
        let tap_folder = tap_dir(&root);
        let env = Env::new(&root, &tap_folder, &[]);
        let mut host = Host::load(&clap_bundle()).unwrap();
        let output = play(&mut host, &input, 500, true, |i| {
            (i as i64 * 500 + jitter[i % 3]).max(0) as u64
        });
        drop(host);
        drop(env);
        assert!(bit_exact(&output, &input), "{name}: audio changed");
        let dirs = bounces(&root);
        assert_eq!(dirs.len(), 1, "{name}: one render, one bounce: {dirs:?}");
        assert_complete_bounce(&dirs[0], Fps::F30, &input, 0, (0, input[0].len() as i64));
        frames.push(pngs(&dirs[0]));
    }
    assert!(
        frames.windows(2).all(|w| w[0] == w[1]),
        "jitter changed the frames"
    );
    let root = scratch("fault-jitter-jump");
    let tap_folder = tap_dir(&root);
    let env = Env::new(&root, &tap_folder, &[]);
    let mut host = Host::load(&clap_bundle()).unwrap();
    // Block 3 starts 500 samples late: past the tolerance, a jump.
    play(&mut host, &input, 500, true, |i| {
        (i * 500 + if i == 3 { 500 } else { 0 }) as u64
    });
    drop(host);
    drop(env);
    let dirs = bounces(&root);
    assert_eq!(
        dirs.len(),
        2,
        "a 500-sample jump splits the render: {dirs:?}"
    );
    assert!(manifest(&dirs[0])["ended_by"]
        .as_str()
        .unwrap()
        .contains("jumped from sample 1500 to sample 2000"));
}

/// A real jump on the timeline ends the bounce and its manifest says so; the next one
/// starts where the host jumped to, and both carry the render's id.
#[test]
fn a_jump_ends_a_bounce_and_links_the_next_to_the_same_render() {
    let root = scratch("fault-jump");
    let tap_folder = tap_dir(&root);
    let input = stereo(RATE, 3.0, 105);
    let (jump_at, jump_to) = (2 * RATE as usize, 10 * RATE as u64);
    let env = Env::new(&root, &tap_folder, &[]);
    let mut host = Host::load(&clap_bundle()).unwrap();
    let output = play(&mut host, &input, 441, true, |i| {
        let pos = i * 441;
        if pos < jump_at {
            pos as u64
        } else {
            jump_to + (pos - jump_at) as u64
        }
    });
    drop(host);
    drop(env);
    assert!(bit_exact(&output, &input), "audio changed");
    let dirs = bounces(&root);
    assert_eq!(dirs.len(), 2, "{dirs:?}");
    let (first, second) = (manifest(&dirs[0]), manifest(&dirs[1]));
    assert_complete_bounce(&dirs[0], Fps::F30, &input, 0, (0, jump_at as i64));
    let after: Vec<Vec<f32>> = input.iter().map(|c| c[jump_at..].to_vec()).collect();
    assert_complete_bounce(
        &dirs[1],
        Fps::F30,
        &after,
        jump_to as i64,
        (jump_to as i64, jump_to as i64 + after[0].len() as i64),
    );
    assert_eq!(
        first["ended_by"],
        format!("the timeline jumped from sample {jump_at} to sample {jump_to}")
    );
    assert_eq!(first["render_id"], second["render_id"], "one render");
    assert_eq!(second["ended_by"], "the host deactivated the plugin");
}

/// The worker stalls just before a jump: the audio thread gives up, the jump closes the
/// bounce, and the next bounce still starts with the very block after the jump (its
/// audio padded where the stalled worker could not take it).
#[test]
fn a_jump_after_a_give_up_does_not_drop_the_next_block() {
    let root = scratch("fault-jump-after-give-up");
    let tap_folder = tap_dir(&root);
    let input = stereo(RATE, 3.0, 106);
    let (jump_at, jump_to) = (2 * RATE as usize, 10 * RATE as u64);
    // Frame 40 of the first 60: the queue fills, the audio thread gives up, then the jump.
    let env = Env::new(
        &root,
        &tap_folder,
        &[("MVGEN_TEST_STALL", "15000@40".into())],
    );
    let mut host = Host::load(&clap_bundle()).unwrap();
    play(&mut host, &input, 441, true, |i| {
        let pos = i * 441;
        if pos < jump_at {
            pos as u64
        } else {
            jump_to + (pos - jump_at) as u64
        }
    });
    drop(host);
    drop(env);
    let dirs = bounces(&root);
    assert_eq!(dirs.len(), 2, "{dirs:?}");
    let (first, second) = (manifest(&dirs[0]), manifest(&dirs[1]));
    assert_eq!(
        first["complete"], false,
        "the stall cost the first bounce frames"
    );
    assert!(
        !first["missing_frames"].as_array().unwrap().is_empty(),
        "{first}"
    );
    assert!(first["ended_by"].as_str().unwrap().contains("jumped"));
    assert_eq!(first["render_id"], second["render_id"], "one render");
    assert_eq!(
        second["start_sample"], jump_to,
        "the block after the jump was dropped"
    );
    // The worker was still stalled as the second bounce began: what it lost is listed,
    // not silently shortened.
    let listed = second["missing_frames"].as_array().unwrap().len()
        + second["audio_gaps"].as_array().unwrap().len();
    assert!(
        second["complete"] == true || listed > 0,
        "an incomplete second bounce says what it lost: {second}"
    );
    assert_eq!(
        second["audio_samples"], RATE,
        "the second bounce's audio spans its second, padded where it was lost"
    );
    assert_eq!(second["frames"][0]["frame"], 300);
    assert_eq!(second["frames"].as_array().unwrap().len(), 30);
}

/// Two instances on two tracks bounce at the same time into one export folder: each gets a
/// folder of its own, named for its track (CLAP track-info), complete, with its own
/// render; an instance the host names no track for is "MVGen N".
#[test]
fn two_instances_bouncing_at_once_into_one_folder() {
    let root = scratch("fault-two-instances");
    let tap_folder = tap_dir(&root);
    let drums = stereo(RATE, 3.0, 107);
    let bass = stereo(RATE, 3.0, 108);
    let env = Env::new(&root, &tap_folder, &[]);
    std::thread::scope(|s| {
        for (track, input) in [("Drums", &drums), ("Bass", &bass)] {
            s.spawn(move || {
                let mut host = Host::load_on_track(&clap_bundle(), Some(track)).unwrap();
                let output = host.run(&Run::offline(RATE, &[512]), input).unwrap();
                assert!(bit_exact(&output, input), "{track}: audio changed");
            });
        }
    });
    let mut unnamed = Host::load(&clap_bundle()).unwrap();
    unnamed.run(&Run::offline(RATE, &[512]), &drums).unwrap();
    drop(unnamed);
    drop(env);
    let dirs = bounces(&root);
    assert_eq!(dirs.len(), 3, "{dirs:?}");
    let mut ids = Vec::new();
    let mut names = Vec::new();
    for d in &dirs {
        let m = manifest(d);
        let name = m["instance"].as_str().unwrap().to_string();
        let input = if name == "Bass" { &bass } else { &drums };
        assert_complete_bounce(d, Fps::F30, input, 0, (0, input[0].len() as i64));
        ids.push(m["render_id"].clone());
        names.push(name);
    }
    names.sort();
    assert_eq!(&names[..2], ["Bass", "Drums"], "{names:?}");
    assert!(
        names[2].starts_with("MVGen ") && names[2][6..].parse::<u32>().is_ok(),
        "an instance on no named track: {}",
        names[2]
    );
    ids.sort_by_key(|v| v.to_string());
    ids.dedup();
    assert_eq!(ids.len(), 3, "three renders");
}

/// A render that says real time at 192 kHz, delivered at twice real time: found by its
/// speed after 3 s, and bounced from its first sample (the held audio covers 4 s at every
/// rate).
#[test]
fn a_render_that_says_real_time_is_found_at_192_khz() {
    const HIGH: u32 = 192_000;
    let root = scratch("fault-by-speed-192k");
    let tap_folder = tap_dir(&root);
    let input = stereo(HIGH, 6.0, 109);
    let env = Env::new(&root, &tap_folder, &[]);
    let mut host = Host::load(&clap_bundle()).unwrap();
    host.set_render_mode(false).unwrap();
    let mut active = host.activate(HIGH, 2, MAX_BLOCK).unwrap();
    let started = Instant::now();
    for pos in (0..input[0].len()).step_by(8192) {
        // Twice real time: this block's start is due at half its timeline time.
        let due = Duration::from_secs_f64(pos as f64 / HIGH as f64 / 2.0);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            std::thread::sleep(wait);
        }
        let end = (pos + 8192).min(input[0].len());
        let chunk: Vec<&[f32]> = input.iter().map(|c| &c[pos..end]).collect();
        active
            .process(
                &chunk,
                Block {
                    position: pos as u64,
                    playing: true,
                },
                &[],
            )
            .unwrap();
    }
    active.deactivate();
    drop(host);
    drop(env);
    let dirs = bounces(&root);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let m = manifest(&dirs[0]);
    assert_eq!(
        m["render_detected_by"],
        "the host rendering faster than real time"
    );
    assert_eq!(m["complete"], true, "{m}");
    assert_eq!(m["start_sample"], 0, "bounced from the roll's first sample");
    assert_eq!(m["frames"].as_array().unwrap().len(), 180);
}

/// A live host that processes a second ahead (anticipative processing) and then keeps
/// real time: no bounce, and the audio thread never waits.
#[test]
fn a_live_host_that_processes_ahead_is_not_a_render() {
    let root = scratch("fault-ahead");
    let tap_folder = tap_dir(&root);
    let input = stereo(RATE, 3.5, 110);
    let env = Env::new(&root, &tap_folder, &[]);
    let mut host = Host::load(&clap_bundle()).unwrap();
    host.set_render_mode(false).unwrap();
    let mut active = host.activate(RATE, 2, MAX_BLOCK).unwrap();
    let started = Instant::now();
    for pos in (0..input[0].len()).step_by(512) {
        // The first second at once, then each block when real time reaches it, a second
        // ahead of it.
        let due = Duration::from_secs_f64((pos as f64 / RATE as f64 - 1.0).max(0.0));
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            std::thread::sleep(wait);
        }
        let end = (pos + 512).min(input[0].len());
        let chunk: Vec<&[f32]> = input.iter().map(|c| &c[pos..end]).collect();
        active
            .process(
                &chunk,
                Block {
                    position: pos as u64,
                    playing: true,
                },
                &[],
            )
            .unwrap();
    }
    active.deactivate();
    drop(host);
    drop(env);
    assert!(
        bounces(&root).is_empty(),
        "a live host was taken for a render"
    );
    let counters = tap::counters(&tap_folder);
    assert_eq!(
        counters["offline_waits"], 0,
        "the real-time thread waited: {counters:?}"
    );
    assert_eq!(
        counters["windows_sent"] + counters["windows_dropped"],
        105,
        "every frame of the 3.5 s was live, sent or (in the burst) dropped: {counters:?}"
    );
}

/// The manifest names the model that made the frames by the bytes that were loaded: a
/// file rewritten on disk while the instance keeps running its model changes nothing
/// about which model that was. Automated parameters are recorded as they change.
#[test]
fn the_manifest_names_the_loaded_model_and_the_parameters_as_they_changed() {
    use sha2::Digest;
    let root = scratch("fault-manifest-truth");
    let tap_folder = tap_dir(&root);
    let model = root.join("look.onnx");
    let original = std::fs::read(models().join("unet256_ngf8.onnx")).unwrap();
    std::fs::write(&model, &original).unwrap();
    let input = stereo(RATE, 2.0, 111);
    let env = Env::new(
        &root.join("exports"),
        &tap_folder,
        &[("MVGEN_MODEL", model.clone().into())],
    );
    let mut host = Host::load(&clap_bundle()).unwrap();
    host.run(&Run::offline(RATE, &[512]), &input).unwrap();
    // Another model written over the file: the instance still runs the one it loaded.
    std::fs::copy(models().join("tiny.onnx"), &model).unwrap();
    // Smoothing automated to 0.5 one second in.
    host.set_render_mode(true).unwrap();
    let mut active = host.activate(RATE, 2, MAX_BLOCK).unwrap();
    for pos in (0..input[0].len()).step_by(441) {
        let end = (pos + 441).min(input[0].len());
        let chunk: Vec<&[f32]> = input.iter().map(|c| &c[pos..end]).collect();
        let smoothing = [ParamChange {
            id: "smoothing",
            value: 0.5,
        }];
        let change: &[ParamChange] = if pos == RATE as usize {
            &smoothing
        } else {
            &[]
        };
        active
            .process(
                &chunk,
                Block {
                    position: pos as u64,
                    playing: true,
                },
                change,
            )
            .unwrap();
    }
    active.deactivate();
    drop(host);
    drop(env);
    let dirs = bounces(&root.join("exports"));
    assert_eq!(dirs.len(), 2, "{dirs:?}");
    let loaded = format!("{:x}", sha2::Sha256::digest(&original));
    for d in &dirs {
        assert_eq!(manifest(d)["model"]["sha256"], loaded, "{}", d.display());
    }
    let second = manifest(&dirs[1]);
    assert_eq!(second["params"]["smoothing"], 0.0);
    let changes = second["param_changes"].as_array().expect("param_changes");
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["smoothing"], 0.5);
    let at = changes[0]["frame"].as_i64().unwrap();
    assert!(
        (29..=31).contains(&at),
        "the change is recorded with the first frame sent after it (1 s is frame 30), not {at}"
    );
    assert_ne!(
        pngs(&dirs[0])[40..],
        pngs(&dirs[1])[40..],
        "the frames after the change are smoothed"
    );
    assert_eq!(
        pngs(&dirs[0])[..20],
        pngs(&dirs[1])[..20],
        "and not before it"
    );
}

/// Offline audio with the transport stopped that the host follows with real-time blocks
/// (no roll, no deactivation): it cannot be analysed inside a real-time callback, so it is
/// not bounced, nothing waits, and the plugin says why.
#[test]
fn held_offline_audio_followed_in_real_time_is_not_bounced_and_never_waits() {
    let root = scratch("fault-untimed-then-live");
    let tap_folder = tap_dir(&root);
    let input = stereo(RATE, 3.0, 112);
    let env = Env::new(&root, &tap_folder, &[]);
    let mut host = Host::load(&clap_bundle()).unwrap();
    host.set_render_mode(true).unwrap();
    let mut active = host.activate(RATE, 2, MAX_BLOCK).unwrap();
    let mut slowest = Duration::ZERO;
    let live_from = 2 * RATE as usize;
    for pos in (0..input[0].len()).step_by(441) {
        if pos == live_from {
            active.set_render_mode(false).unwrap();
        }
        let end = (pos + 441).min(input[0].len());
        let chunk: Vec<&[f32]> = input.iter().map(|c| &c[pos..end]).collect();
        let started = Instant::now();
        active
            .process(
                &chunk,
                Block {
                    position: 0,
                    playing: false,
                },
                &[],
            )
            .unwrap();
        if pos >= live_from {
            slowest = slowest.max(started.elapsed());
        }
    }
    active.deactivate();
    drop(host);
    drop(env);
    assert!(bounces(&root).is_empty(), "{:?}", bounces(&root));
    assert_eq!(tap::counters(&tap_folder)["offline_waits"], 0);
    assert!(
        slowest < Duration::from_millis(100),
        "a real-time block took {slowest:?}"
    );
    let errors = tap::errors(&tap_folder);
    assert!(
        errors.iter().any(|e| e.contains("went back to real time")),
        "{errors:?}"
    );
}

/// A roll delivered far ahead of the clock is taken for a render; when the host then
/// plays at real-time pace (not counting the time the plugin made it wait), it was a live
/// host after all: the bounce ends, says why, and the plugin stops holding it up.
#[test]
fn a_render_found_by_speed_ends_when_the_host_plays_in_real_time() {
    let root = scratch("fault-speed-then-live");
    let tap_folder = tap_dir(&root);
    let input = stereo(RATE, 9.0, 113);
    let env = Env::new(&root, &tap_folder, &[]);
    let mut host = Host::load(&clap_bundle()).unwrap();
    host.set_render_mode(false).unwrap();
    let mut active = host.activate(RATE, 2, MAX_BLOCK).unwrap();
    let burst = 3 * RATE as usize;
    let mut live_from = None;
    for pos in (0..input[0].len()).step_by(1024) {
        // The first 3 s at once (a render by its speed), then each block when real time
        // reaches it.
        if pos >= burst {
            let t0 = *live_from.get_or_insert_with(Instant::now);
            let due = t0 + Duration::from_secs_f64((pos - burst) as f64 / RATE as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let end = (pos + 1024).min(input[0].len());
        let chunk: Vec<&[f32]> = input.iter().map(|c| &c[pos..end]).collect();
        active
            .process(
                &chunk,
                Block {
                    position: pos as u64,
                    playing: true,
                },
                &[],
            )
            .unwrap();
    }
    active.deactivate();
    drop(host);
    drop(env);
    let dirs = bounces(&root);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let m = manifest(&dirs[0]);
    assert_eq!(
        m["render_detected_by"],
        "the host rendering faster than real time"
    );
    assert_eq!(m["ended_by"], "the host went back to real time", "{m}");
    let frames = m["frames"].as_array().unwrap().len();
    assert!(
        (90..250).contains(&frames),
        "it ends within the real-time part (at 3 s to 9 s), not at the end: {frames} frames"
    );
}
