//! Bounce export through the CLAP bundle in our clack-host test host: what an offline
//! render leaves in the export folder, when a bounce starts and ends as the host switches
//! render modes while the plugin stays active, that no frame is lost at any block size and
//! none silently when the worker stalls, and what happens when the folder cannot be
//! written. (The 10 s = 300 frames case, equality with `mvgen render`, and Ardour's own
//! renders run in Python: tests/python/test_bounce_export.py and test_ardour.py.)
//!
//! Strategy: drive the plugin block by block as a DAW would ([`Host::activate`]), switch the
//! render mode through the CLAP render extension between blocks, and read back the bounce
//! folders: the manifest's frames against the frame clock, `audio.wav` against the input
//! bit for bit, the PNGs against each other across block sizes. The export folder, model,
//! tap and stall hook come from environment variables read at activation, so the tests
//! take a lock around each run.

use mvgen_core::Fps;
use mvgen_tests::bounce::{
    assert_complete_bounce, bounce, bounces, decoded, duration, manifest, mvgen, pngs, psnr,
    tap_dir, which, Env, RATE,
};
use mvgen_tests::clap_host::{Block, Host, ParamChange, Run, MAX_BLOCK};
use mvgen_tests::signals::{bit_exact, stereo};
use mvgen_tests::{clap_bundle, models, scratch};
use std::ffi::OsStr;

#[test]
fn a_bounce_that_starts_mid_song_exports_from_its_first_frame() {
    let root = scratch("bounce-mid-song");
    // 2.51 s: between frames 75 (110 250) and 76 (111 720) at 30 fps.
    let start = 110_691u64;
    let input = stereo(RATE, 2.0, 21);
    let run = Run {
        start_sample: start,
        ..Run::offline(RATE, &[512])
    };
    let (output, errors) = bounce(&root, &run, &input);
    assert!(bit_exact(&output, &input), "audio changed");
    assert!(errors.is_empty(), "{errors:?}");

    let dirs = bounces(&root);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let end = start as i64 + input[0].len() as i64;
    assert_complete_bounce(
        &dirs[0],
        Fps::F30,
        &input,
        start as i64,
        (start as i64, end),
    );
    let m = manifest(&dirs[0]);
    assert_eq!(m["frames"][0]["frame"], 76);
    assert_eq!(m["sample_rate_hz"], RATE);
    assert_eq!(m["render_detected_by"], "the host's offline mode");
    let model = std::fs::read(models().join("unet256_ngf8.onnx")).unwrap();
    use sha2::Digest;
    assert_eq!(
        m["model"]["sha256"],
        format!("{:x}", sha2::Sha256::digest(&model))
    );
    assert_eq!(m["model"]["name"], "unet256_ngf8");
    for f in m["frames"].as_array().unwrap() {
        let png = image::open(dirs[0].join(f["file"].as_str().unwrap())).expect("frame PNG");
        assert_eq!((png.width(), png.height()), (256, 256));
    }
    let video = dirs[0].join("bounce.mp4");
    assert!(
        video.metadata().is_ok_and(|m| m.len() > 0),
        "ffmpeg is on PATH in the tests, so the bounce has a video"
    );
}

/// The session's Video settings (720p, 9:16, mirror, set as a DAW sets parameters) make
/// `bounce.mp4`; `mvgen video` of the folder later makes the same video and leaves the
/// folder as it was; and `mvgen render` of the bounce's audio makes the same picture.
#[test]
fn a_bounce_is_encoded_in_the_sessions_format_and_mvgen_video_remakes_it() {
    let root = scratch("bounce-format");
    let input = stereo(RATE, 2.0, 31);
    // Enum parameters take their variant's index: 720p, 9:16, mirror.
    let params = [
        ParamChange {
            id: "video_size",
            value: 1.0,
        },
        ParamChange {
            id: "video_aspect",
            value: 1.0,
        },
        ParamChange {
            id: "video_fill",
            value: 1.0,
        },
    ];
    let run = Run {
        params: &params,
        ..Run::offline(RATE, &[512])
    };
    let (_, errors) = bounce(&root, &run, &input);
    assert!(errors.is_empty(), "{errors:?}");
    let dirs = bounces(&root);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let dir = &dirs[0];
    assert_complete_bounce(dir, Fps::F30, &input, 0, (0, input[0].len() as i64));
    let m = manifest(dir);
    assert_eq!(m["video"]["file"], "bounce.mp4");
    assert_eq!(
        (m["video"]["width"].as_u64(), m["video"]["height"].as_u64()),
        (Some(720), Some(1280))
    );
    assert_eq!(m["video"]["fill"], "mirror");
    let (bounced, size) = decoded(&dir.join("bounce.mp4"));
    assert_eq!(size, (720, 1280));
    assert_eq!(bounced.len(), 60 * 720 * 1280 * 3, "60 frames");

    let listing = |dir: &std::path::Path| {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                (
                    p.file_name().unwrap().to_string_lossy().into(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    };
    let before = listing(dir);
    let out = scratch("bounce-format-out");
    let format = ["--size", "720p", "--aspect", "9:16", "--fill", "mirror"].map(OsStr::new);
    let again = out.join("again.mp4");
    let said = mvgen(
        &[
            &[
                OsStr::new("video"),
                dir.as_os_str(),
                OsStr::new("-o"),
                again.as_os_str(),
            ][..],
            &format[..],
        ]
        .concat(),
    );
    assert!(said.contains("60 frames"), "{said}");
    assert_eq!(
        listing(dir),
        before,
        "mvgen video changed the bounce folder"
    );
    // The same frames through the same encoder: x264's threads make its rate control
    // differ a little from run to run (59 dB measured), nothing a viewer could see.
    let db = psnr(&decoded(&again).0, &bounced);
    assert!(
        db >= 50.0,
        "mvgen video of the folder is {db:.1} dB from the bounce's own video"
    );

    let rendered = out.join("rendered.mp4");
    let model = models().join("unet256_ngf8.onnx");
    mvgen(
        &[
            &[
                OsStr::new("render"),
                dir.join("audio.wav").as_os_str(),
                OsStr::new("-o"),
                rendered.as_os_str(),
                OsStr::new("--model"),
                model.as_os_str(),
            ][..],
            &format[..],
        ]
        .concat(),
    );
    let db = psnr(&decoded(&rendered).0, &bounced);
    assert!(
        db >= 40.0,
        "mvgen render of the audio is {db:.1} dB from the bounce's video"
    );
}

#[test]
fn bounces_never_overwrite_each_other() {
    let root = scratch("bounce-twice");
    let input = stereo(RATE, 1.0, 5);
    bounce(&root, &Run::offline(RATE, &[1024]), &input);
    bounce(&root, &Run::offline(RATE, &[1024]), &input);
    let dirs = bounces(&root);
    let names: Vec<String> = dirs
        .iter()
        .map(|d| d.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["bounce-0001", "bounce-0002"]);
    for d in &dirs {
        assert_complete_bounce(d, Fps::F30, &input, 0, (0, RATE as i64));
    }
}

/// The host switches to offline rendering and back while the plugin stays active (as
/// Ardour and CLAP hosts may): one bounce, with exactly the offline blocks' frames and
/// audio, and nothing of the live blocks around it.
#[test]
fn switching_the_render_mode_while_active_bounces_only_the_offline_blocks() {
    let root = scratch("bounce-mode-switch");
    let tap = tap_dir(&root);
    let input = stereo(RATE, 4.0, 31);
    let (live_until, offline_until) = (RATE as usize, 3 * RATE as usize);
    let _env = Env::new(&root, &tap, &[]);
    let mut host = Host::load(&clap_bundle()).unwrap();
    host.set_render_mode(false).unwrap();
    let mut active = host.activate(RATE, 2, MAX_BLOCK).unwrap();
    let mut output = vec![Vec::new(), Vec::new()];
    // 441-frame blocks: the switches fall on block boundaries (1 s and 3 s).
    for pos in (0..input[0].len()).step_by(441) {
        if pos == live_until {
            active.set_render_mode(true).unwrap();
        }
        if pos == offline_until {
            active.set_render_mode(false).unwrap();
        }
        let end = (pos + 441).min(input[0].len());
        let block: Vec<&[f32]> = input.iter().map(|c| &c[pos..end]).collect();
        let out = active
            .process(
                &block,
                Block {
                    position: pos as u64,
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
    drop(host);
    assert!(bit_exact(&output, &input), "audio changed");
    let dirs = bounces(&root);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    assert_complete_bounce(
        &dirs[0],
        Fps::F30,
        &input,
        0,
        (live_until as i64, offline_until as i64),
    );
}

/// A `reset()` between two offline renders in one activation: two bounces, each with its
/// own frames and audio.
#[test]
fn a_reset_between_two_offline_renders_makes_two_bounces() {
    let root = scratch("bounce-reset");
    let tap = tap_dir(&root);
    let input = stereo(RATE, 2.0, 41);
    let _env = Env::new(&root, &tap, &[]);
    let mut host = Host::load(&clap_bundle()).unwrap();
    host.set_render_mode(true).unwrap();
    let mut active = host.activate(RATE, 2, MAX_BLOCK).unwrap();
    // The same song rendered twice from its start, as a host bouncing twice does.
    for render in 0..2 {
        if render == 1 {
            active.reset();
        }
        for pos in (0..input[0].len()).step_by(1000) {
            let end = (pos + 1000).min(input[0].len());
            let block: Vec<&[f32]> = input.iter().map(|c| &c[pos..end]).collect();
            active
                .process(
                    &block,
                    Block {
                        position: pos as u64,
                        playing: true,
                    },
                    &[],
                )
                .unwrap();
        }
    }
    active.deactivate();
    drop(host);
    let dirs = bounces(&root);
    assert_eq!(dirs.len(), 2, "{dirs:?}");
    for d in &dirs {
        assert_complete_bounce(d, Fps::F30, &input, 0, (0, input[0].len() as i64));
    }
    assert_eq!(pngs(&dirs[0]), pngs(&dirs[1]), "the same render twice");
}

/// Blocks of 1 s and 4 s, as a host's offline render may send: every frame, and the same
/// frames as small blocks give.
#[test]
fn huge_offline_blocks_lose_no_frame() {
    let input = stereo(RATE, 9.0, 51);
    let len = input[0].len() as i64;
    let mut frames = Vec::new();
    for (name, block) in [
        ("512", 512),
        ("1s", RATE as usize),
        ("4s", 4 * RATE as usize),
    ] {
        let root = scratch(&format!("bounce-block-{name}"));
        let (output, errors) = bounce(&root, &Run::offline(RATE, &[block]), &input);
        assert!(bit_exact(&output, &input), "{name}: audio changed");
        assert!(errors.is_empty(), "{name}: {errors:?}");
        let dirs = bounces(&root);
        assert_eq!(dirs.len(), 1, "{name}: {dirs:?}");
        assert_complete_bounce(&dirs[0], Fps::F30, &input, 0, (0, len));
        frames.push(pngs(&dirs[0]));
    }
    assert!(
        frames.windows(2).all(|w| w[0] == w[1]),
        "the block size changed the frames"
    );
}

/// The frame rate automated to 60 fps in the middle of a bounce: the bounce keeps the
/// 30 fps it started with, whole.
#[test]
fn a_bounce_keeps_its_first_frame_rate() {
    let root = scratch("bounce-fps-change");
    let tap = tap_dir(&root);
    let input = stereo(RATE, 2.0, 61);
    let _env = Env::new(&root, &tap, &[]);
    let mut host = Host::load(&clap_bundle()).unwrap();
    host.set_render_mode(true).unwrap();
    let mut active = host.activate(RATE, 2, MAX_BLOCK).unwrap();
    for pos in (0..input[0].len()).step_by(441) {
        let end = (pos + 441).min(input[0].len());
        let block: Vec<&[f32]> = input.iter().map(|c| &c[pos..end]).collect();
        // nice-plug exposes an enum parameter to CLAP as its variant index: 4 is 60 fps.
        let params = [ParamChange {
            id: "fps",
            value: 4.0,
        }];
        let change: &[ParamChange] = if pos == RATE as usize { &params } else { &[] };
        active
            .process(
                &block,
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
    let dirs = bounces(&root);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    assert_complete_bounce(&dirs[0], Fps::F30, &input, 0, (0, input[0].len() as i64));
}

/// A worker that stalls past the offline wait limit: the audio flows on, and the bounce
/// says which frames are missing and why, while its video keeps the audio's timing.
#[test]
fn a_stalled_worker_leaves_an_incomplete_bounce_that_keeps_its_timing() {
    let root = scratch("bounce-stall");
    let tap = tap_dir(&root);
    let input = stereo(RATE, 2.0, 71);
    let stall_ms = OFFLINE_WAIT_LIMIT_MS + 500;
    let _env = Env::new(
        &root,
        &tap,
        &[("MVGEN_TEST_STALL", format!("{stall_ms}@20").into())],
    );
    let mut host = Host::load(&clap_bundle()).unwrap();
    let output = host.run(&Run::offline(RATE, &[512]), &input).unwrap();
    drop(host);
    assert!(bit_exact(&output, &input), "audio changed");
    let dirs = bounces(&root);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let m = manifest(&dirs[0]);
    assert_eq!(m["complete"], false, "{m}");
    assert_eq!(m["finished"], true);
    let missing = m["missing_frames"].as_array().unwrap();
    assert!(!missing.is_empty(), "{m}");
    let frames = m["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 60, "every frame has a file, missing ones too");
    for f in missing {
        let k = f["frame"].as_i64().unwrap();
        assert!(k > 20, "frame {k} went missing before the stall");
        assert_eq!(frames[k as usize]["missing"], true);
    }
    let problems = m["problems"].to_string();
    assert!(
        problems.contains("did not answer within 10 s"),
        "the manifest says why: {problems}"
    );
    assert!(
        mvgen_tests::tap::errors(&tap)
            .iter()
            .any(|e| e.contains("is incomplete")),
        "the report says so too"
    );
    let video = dirs[0].join("bounce.mp4");
    let (v, a) = (duration(&video, "v:0"), duration(&video, "a:0"));
    assert!(
        (v - 2.0).abs() < 0.01 && (a - 2.0).abs() < 0.03,
        "the video keeps its timing: video {v} s, audio {a} s"
    );
    // Made again later, it still keeps its timing, and names the frames that are missing.
    let again = scratch("bounce-stall-again").join("again.mp4");
    let said = mvgen(&[
        OsStr::new("video"),
        dirs[0].as_os_str(),
        OsStr::new("-o"),
        again.as_os_str(),
    ]);
    let first = missing[0]["frame"].as_i64().unwrap();
    assert!(
        said.contains("missing frames") && said.contains(&first.to_string()),
        "{said}"
    );
    assert!((duration(&again, "v:0") - 2.0).abs() < 0.01);
}

/// How long a bounce waits for a stalled worker: `OFFLINE_WAIT_LIMIT` in
/// plugin/src/capture.rs (the tests drive the bundle, not the crate).
const OFFLINE_WAIT_LIMIT_MS: u64 = 10_000;

/// The last step of a bounce (the encode) runs on its own thread: deactivation returns
/// while it is still going, and the plugin, when it is destroyed, waits for it to finish.
#[test]
fn finishing_a_bounce_never_blocks_deactivation() {
    let root = scratch("bounce-slow-encode");
    let tap = tap_dir(&root);
    // An ffmpeg that takes 4 s before doing the real work.
    let bin = scratch("bounce-slow-ffmpeg-bin");
    let real = which("ffmpeg");
    let fake = bin.join("ffmpeg");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = -version ] && exec {real} \"$@\"; done\nsleep 4\nexec {real} \"$@\"\n",
            real = real.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = std::env::join_paths(
        std::iter::once(bin.clone())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let input = stereo(RATE, 1.0, 81);
    let env = Env::new(&root, &tap, &[("PATH", path)]);
    let mut host = Host::load(&clap_bundle()).unwrap();
    host.run(&Run::offline(RATE, &[512]), &input).unwrap();
    // Deactivated: the bounce is being encoded, not finished.
    let dirs = bounces(&root);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let m = manifest(&dirs[0]);
    assert_eq!(m["finished"], false, "deactivation waited for the encode");
    assert!(!dirs[0].join("bounce.mp4").exists());
    drop(host);
    drop(env);
    assert_complete_bounce(&dirs[0], Fps::F30, &input, 0, (0, RATE as i64));
    assert!(
        dirs[0].join("bounce.mp4").exists(),
        "the plugin waited for it when destroyed"
    );
}

/// A host that says real time while it renders far faster than that (Ardour's track
/// bounce does): the plugin finds the render by its speed and bounces it from the roll's
/// first sample, the same as when the host says offline.
#[test]
fn a_render_that_says_real_time_is_found_by_its_speed() {
    let root = scratch("bounce-by-speed");
    let input = stereo(RATE, 5.0, 91);
    let len = input[0].len() as i64;
    let run = Run {
        offline: false,
        ..Run::offline(RATE, &[8192])
    };
    let (output, errors) = bounce(&root, &run, &input);
    assert!(bit_exact(&output, &input), "audio changed");
    assert!(errors.is_empty(), "{errors:?}");
    let dirs = bounces(&root);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    assert_complete_bounce(&dirs[0], Fps::F30, &input, 0, (0, len));
    assert_eq!(
        manifest(&dirs[0])["render_detected_by"],
        "the host rendering faster than real time"
    );

    let stated = scratch("bounce-by-mode");
    bounce(&stated, &Run::offline(RATE, &[8192]), &input);
    assert_eq!(
        pngs(&dirs[0]),
        pngs(&bounces(&stated)[0]),
        "the same frames as a render the host announced"
    );
}

#[test]
fn an_unwritable_export_folder_leaves_the_audio_alone_and_says_so() {
    let scratch_dir = scratch("bounce-unwritable");
    // A folder inside a regular file cannot exist, even for root.
    let file = scratch_dir.join("not-a-folder");
    std::fs::write(&file, b"x").unwrap();
    let input = stereo(RATE, 1.0, 9);
    let (output, errors) = bounce(&file.join("exports"), &Run::offline(RATE, &[512]), &input);
    assert!(bit_exact(&output, &input), "audio changed");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("bounce export: cannot create a folder")),
        "the error reaches the report: {errors:?}"
    );
}

/// A full disk (a 96 KiB tmpfs; mounting it needs root, which CI has).
#[test]
fn a_full_disk_leaves_the_audio_alone_and_the_manifest_incomplete() {
    let dir = scratch("bounce-full-disk");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=96k", "tmpfs"])
        .arg(&dir)
        .output();
    assert!(
        mounted.as_ref().is_ok_and(|o| o.status.success()),
        "this test mounts a small tmpfs and needs root (CI runs as root): {mounted:?}"
    );
    let input = stereo(RATE, 2.0, 13);
    let (output, errors) = bounce(&dir, &Run::offline(RATE, &[512]), &input);
    let m = bounces(&dir).first().map(|d| manifest(d));
    let _ = std::process::Command::new("umount").arg(&dir).status();
    assert!(bit_exact(&output, &input), "audio changed");
    assert!(
        errors.iter().any(|e| e.contains("No space left")),
        "the error reaches the report: {errors:?}"
    );
    let m = m.expect("the manifest was written before the disk filled");
    assert_eq!(m["complete"], false, "{m}");
}
