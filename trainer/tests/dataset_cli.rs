//! `mvgen dataset synth | build | show` end to end, with real ffmpeg.
//!
//! Strategy: synthesise short audio-reactive music videos (seeded), build a dataset with
//! a recipe scaled down from the paper's (every 5th frame from 2 s to 10 s), and check it
//! against independent decodes: each spectrogram against the contract computed on audio
//! that ffmpeg decodes separately (within one 8-bit level), each frame against ffmpeg's
//! own decode of that moment (within 2 levels: the same decoder and scaler). Bad inputs
//! are made from the good ones with ffmpeg and must be skipped with a reason, leaving no
//! pair behind. Two builds of the same inputs must be byte-identical.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

mod common;
use common::{mvgen, tmp};

/// Three 12-second synthetic videos, made once.
fn videos() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tmp("synth-videos");
        mvgen(&[
            "dataset",
            "synth",
            "-o",
            dir.to_str().unwrap(),
            "--videos",
            "3",
            "--seconds",
            "12",
        ]);
        dir
    })
}

fn build(inputs: &[&Path], out: &Path) {
    let mut args = vec!["dataset", "build"];
    let inputs: Vec<&str> = inputs.iter().map(|p| p.to_str().unwrap()).collect();
    args.extend(inputs);
    args.extend([
        "-o",
        out.to_str().unwrap(),
        "--start",
        "2",
        "--end",
        "10",
        "--every",
        "5",
    ]);
    mvgen(&args);
}

fn manifest(dataset: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(dataset.join("manifest.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(String::from).collect())
        .collect()
}

fn ffmpeg(args: &[&str]) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn pairs_follow_the_recipe_and_match_independent_decodes() {
    let out = tmp("dataset");
    build(&[videos()], &out);
    let rows = manifest(&out);
    // 25 fps: frames 50, 55, ..., 245 lie in [2 s, 10 s): 40 per video.
    assert_eq!(rows.len(), 3 * 40);
    let mut per_split: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in &rows {
        per_split
            .entry(r[1].as_str())
            .or_default()
            .push(r[2].as_str());
    }
    let val: std::collections::BTreeSet<_> = per_split["val"].iter().collect();
    let train: std::collections::BTreeSet<_> = per_split["train"].iter().collect();
    assert_eq!(val.len(), 1, "one video held out");
    assert!(val.is_disjoint(&train), "split by video: no video in both");

    for r in rows.iter().step_by(17) {
        let (file, video, time_s): (&str, &str, f64) = (&r[0], &r[2], r[4].parse().unwrap());
        let pair = image::open(out.join(file)).unwrap().to_rgb8();
        assert_eq!(pair.dimensions(), (512, 256));
        let src = videos().join(format!("{video}.mp4"));

        // Right half: ffmpeg's own decode of that moment.
        let rgb = ffmpeg(&[
            "-ss",
            &format!("{:.6}", time_s - 0.01),
            "-i",
            src.to_str().unwrap(),
            "-frames:v",
            "1",
            "-vf",
            "scale=256:256:flags=area",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ]);
        let mut worst = 0i32;
        for y in 0..256u32 {
            for x in 0..256u32 {
                let p = pair.get_pixel(256 + x, y);
                let i = 3 * (y * 256 + x) as usize;
                for c in 0..3 {
                    worst = worst.max((p[c] as i32 - rgb[i + c] as i32).abs());
                }
            }
        }
        assert!(worst <= 2, "{file}: frame differs from ffmpeg by {worst}");

        // Left half: the contract on audio decoded separately.
        let raw = ffmpeg(&[
            "-i",
            src.to_str().unwrap(),
            "-map",
            "0:a:0",
            "-f",
            "f32le",
            "-acodec",
            "pcm_f32le",
            "-",
        ]);
        let mono: Vec<f32> = raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let signal = mvgen_core::resample::StreamResampler::resample_all(44_100, &mono).unwrap();
        let end = mvgen_core::FrameClock::window_end_at_seconds(time_s, 44_100);
        assert_eq!(end.samples().to_string(), r[5], "{file}: window end");
        let expected = mvgen_core::spectrogram::window_from_signal(
            &signal,
            end,
            &mut mvgen_core::spectrogram::ColumnAnalyser::new(),
        )
        .to_gray8();
        let worst = (0..256 * 256)
            .map(|i| {
                (pair.get_pixel((i % 256) as u32, (i / 256) as u32)[0] as i32 - expected[i] as i32)
                    .abs()
            })
            .max()
            .unwrap();
        assert!(worst <= 1, "{file}: spectrogram differs by {worst} levels");
    }

    let sheet = out.join("sheet.png");
    mvgen(&[
        "dataset",
        "show",
        out.to_str().unwrap(),
        "-o",
        sheet.to_str().unwrap(),
        "--pairs",
        "6",
    ]);
    assert_eq!(
        image::open(&sheet).unwrap().to_rgb8().dimensions(),
        (1024, 768)
    );
}

#[test]
fn builds_are_deterministic_and_reruns_skip_finished_videos() {
    let (a, b) = (tmp("det-a"), tmp("det-b"));
    build(&[videos()], &a);
    build(&[videos()], &b);
    let files = |dir: &Path| -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        for split in ["train", "val"] {
            for e in std::fs::read_dir(dir.join(split)).unwrap().flatten() {
                out.insert(
                    format!("{split}/{}", e.file_name().to_string_lossy()),
                    std::fs::read(e.path()).unwrap(),
                );
            }
        }
        out.insert(
            "manifest.csv".into(),
            std::fs::read(dir.join("manifest.csv")).unwrap(),
        );
        out
    };
    assert_eq!(files(&a), files(&b), "same inputs, same bytes");

    let pair = a.join(&manifest(&a)[0][0]);
    let before = std::fs::metadata(&pair).unwrap().modified().unwrap();
    build(&[videos()], &a);
    assert_eq!(
        std::fs::metadata(&pair).unwrap().modified().unwrap(),
        before,
        "a finished video is not redone"
    );
}

#[test]
fn bad_videos_are_skipped_with_a_reason_and_leave_nothing_behind() {
    let dir = tmp("bad-videos");
    let good = videos().join("synth_000.mp4");
    let g = good.to_str().unwrap();
    std::fs::write(dir.join("notes.mp4"), "not a video").unwrap();
    let path = |n: &str| dir.join(n).to_str().unwrap().to_string();
    ffmpeg(&["-i", g, "-an", "-c", "copy", &path("silent.mp4")]);
    ffmpeg(&["-i", g, "-vn", "-c", "copy", &path("audio_only.mp4")]);
    ffmpeg(&["-i", g, "-t", "6", "-c", "copy", &path("short.mp4")]);
    ffmpeg(&[
        "-i",
        g,
        "-vf",
        "scale=101:77",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv444p",
        "-c:a",
        "copy",
        &path("odd_size.mp4"),
    ]);
    // Variable frame rate: frames after the 100th come half as often.
    ffmpeg(&[
        "-i",
        g,
        "-vf",
        "setpts='if(lt(N,100),N/25/TB,(100+(N-100)*2)/25/TB)'",
        "-fps_mode",
        "vfr",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-c:a",
        "copy",
        &path("vfr.mp4"),
    ]);
    // Corrupt mid-file: the first 40 % of the bytes.
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(dir.join("truncated.mp4"), &bytes[..bytes.len() * 2 / 5]).unwrap();

    let out = tmp("bad-dataset");
    build(&[&dir], &out);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let reason = |video: &str| -> String {
        let v = summary["videos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["video"] == video)
            .unwrap_or_else(|| panic!("{video} missing from the summary"));
        v["skipped"].as_str().unwrap_or("").to_string()
    };
    assert!(
        reason("notes").contains("not a media file"),
        "{}",
        reason("notes")
    );
    assert!(
        reason("silent").contains("no audio track"),
        "{}",
        reason("silent")
    );
    assert!(
        reason("audio_only").contains("no video track"),
        "{}",
        reason("audio_only")
    );
    assert!(
        reason("short").contains("shorter than the window")
            && reason("short").contains("--start/--end"),
        "{}",
        reason("short")
    );
    assert!(
        !reason("truncated").is_empty(),
        "a truncated file is skipped"
    );
    assert_eq!(
        reason("odd_size"),
        "",
        "odd sizes are squashed, not refused"
    );

    let rows = manifest(&out);
    assert!(
        rows.iter().all(|r| r[2] == "odd_size"),
        "only the good video has pairs"
    );
    assert_eq!(rows.len(), 40);
    for split in ["train", "val"] {
        for e in std::fs::read_dir(out.join(split)).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            assert!(
                name.starts_with("odd_size_") && name.ends_with(".png"),
                "left behind: {name}"
            );
        }
    }
}

#[test]
fn every_frame_mode_takes_every_frame_of_the_clip() {
    let out = tmp("every-frame");
    let video = videos().join("synth_001.mp4");
    mvgen(&[
        "dataset",
        "build",
        video.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--every-frame",
        "--start",
        "3",
        "--seconds",
        "4",
    ]);
    let rows = manifest(&out);
    assert_eq!(rows.len(), 100, "4 s at 25 fps");
    let frames: Vec<u64> = rows.iter().map(|r| r[3].parse().unwrap()).collect();
    assert_eq!(frames, (75..175).collect::<Vec<_>>());
}

#[test]
fn whole_takes_frames_through_to_each_videos_end() {
    let out = tmp("whole");
    let video = videos().join("synth_002.mp4");
    mvgen(&[
        "dataset",
        "build",
        video.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--whole",
        "--start",
        "2",
        "--every",
        "25",
    ]);
    let frames: Vec<u64> = manifest(&out)
        .iter()
        .map(|r| r[3].parse().unwrap())
        .collect();
    // 12 s at 25 fps, to half a second before the end: 2 s, 3 s, ... 11 s.
    assert_eq!(frames, (2..12).map(|s| s * 25).collect::<Vec<_>>());
}

/// A dataset in pix2pix's aligned layout that we did not write (JPEG pairs of another
/// size, as the official datasets ship, made here by ffmpeg) reads and shows.
#[test]
fn reads_an_aligned_dataset_made_elsewhere() {
    let dir = tmp("foreign");
    for (split, size, ext) in [("train", "600x300", "jpg"), ("val", "512x256", "png")] {
        std::fs::create_dir_all(dir.join(split)).unwrap();
        let pattern = dir.join(split).join(format!("%03d.{ext}"));
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=s={size}:r=5"),
            "-frames:v",
            "3",
            pattern.to_str().unwrap(),
        ]);
    }
    let sheet = dir.join("sheet.png");
    mvgen(&[
        "dataset",
        "show",
        dir.to_str().unwrap(),
        "-o",
        sheet.to_str().unwrap(),
        "--pairs",
        "6",
    ]);
    let sheet = image::open(&sheet).unwrap().to_rgb8();
    assert_eq!(sheet.dimensions(), (1024, 768));
    let distinct: std::collections::BTreeSet<[u8; 3]> = sheet.pixels().map(|p| p.0).collect();
    assert!(
        distinct.len() > 50,
        "the sheet shows the pictures, not a blank"
    );
}
