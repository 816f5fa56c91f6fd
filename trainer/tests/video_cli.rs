//! Videos in every shape: `mvgen render` in each aspect at 720p has the size, rate,
//! frame count and length asked for; the picture in a 16:9 frame is still the 256
//! render's picture; and each bad format, a folder that is not a bounce, a missing ffmpeg
//! and an enhancer with the wrong contract get a one-line reason. (`mvgen video` of a
//! real bounce, and bounces in the chosen format, are tested with the hosts in
//! `tests/tests/bounce_export.rs` and `tests/python/test_ardour.py`.)

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{fails_saying, mvgen, song, tmp};

/// The default generator: a file in the repository, for the wrong-contract case.
const DEFAULT_GENERATOR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/default.onnx");

/// What ffprobe says of a video's first video stream, and of its audio.
#[derive(Debug)]
struct Probe {
    width: u32,
    height: u32,
    rate: String,
    frames: u64,
    seconds: f64,
    audio_codec: String,
    audio_rate_hz: u32,
}

fn probe(video: &Path) -> Probe {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_streams",
            "-of",
            "json",
        ])
        .arg(video)
        .output()
        .unwrap();
    assert!(out.status.success(), "ffprobe {}", video.display());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let streams = json["streams"].as_array().unwrap();
    let of = |kind: &str| {
        streams
            .iter()
            .find(|s| s["codec_type"] == kind)
            .unwrap_or_else(|| panic!("{} has no {kind} stream", video.display()))
    };
    let (v, a) = (of("video"), of("audio"));
    let number = |s: &serde_json::Value| s.as_str().unwrap().parse::<f64>().unwrap();
    assert_eq!(v["pix_fmt"], "yuv420p");
    assert_eq!(v["codec_name"], "h264");
    Probe {
        width: v["width"].as_u64().unwrap() as u32,
        height: v["height"].as_u64().unwrap() as u32,
        rate: v["r_frame_rate"].as_str().unwrap().to_string(),
        frames: number(&v["nb_read_frames"]) as u64,
        seconds: number(&v["duration"]),
        audio_codec: a["codec_name"].as_str().unwrap().to_string(),
        audio_rate_hz: number(&a["sample_rate"]) as u32,
    }
}

fn render(song: &Path, out: &Path, format: &[&str]) {
    let mut args = vec![
        "render",
        song.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--execution",
        "cpu",
    ];
    args.extend_from_slice(format);
    mvgen(&args);
}

#[test]
fn each_aspect_at_720p_has_its_size_rate_frames_and_length() {
    let dir = tmp("video-aspects");
    let song = song(&dir, 2);
    for (aspect, fill, fps, (width, height)) in [
        ("16:9", "blur", 30, (1280, 720)),
        ("9:16", "mirror", 24, (720, 1280)),
        ("1:1", "blur", 60, (720, 720)),
        ("4:5", "crop", 25, (720, 900)),
    ] {
        let video = dir.join(format!("{}.mp4", aspect.replace(':', "x")));
        let fps_text = fps.to_string();
        render(
            &song,
            &video,
            &[
                "--size", "720p", "--aspect", aspect, "--fill", fill, "--fps", &fps_text,
            ],
        );
        let p = probe(&video);
        let case = format!("{aspect} {fill} at {fps} fps: {p:?}");
        assert_eq!((p.width, p.height), (width, height), "{case}");
        assert_eq!(p.rate, format!("{fps}/1"), "{case}");
        assert_eq!(p.frames, 2 * fps as u64, "{case}: every whole frame of 2 s");
        assert!(
            (p.seconds - 2.0).abs() <= 1.0 / fps as f64,
            "{case}: the video lasts as long as the song, within a frame"
        );
        assert_eq!(
            (p.audio_codec.as_str(), p.audio_rate_hz),
            ("aac", 48_000),
            "{case}"
        );
        assert!(
            !dir.join(format!("{}.part.mp4", aspect.replace(':', "x")))
                .exists(),
            "{case}: the temporary file is gone"
        );
    }
}

/// Decode `video` to RGB after `filter`: the frames one after another.
fn decode(video: &Path, filter: &str) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(video)
        .args(["-vf", filter, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "decoding {}", video.display());
    out.stdout
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mse = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    10.0 * (255.0f64.powi(2) / mse.max(1e-12)).log10()
}

#[test]
fn the_centre_of_a_black_16_9_video_is_the_256_render() {
    let dir = tmp("video-centre");
    let song = song(&dir, 2);
    let frames = dir.join("frames");
    let square = dir.join("square.mp4");
    render(
        &song,
        &square,
        &[
            "--size",
            "256",
            "--aspect",
            "1:1",
            "--frames-dir",
            frames.to_str().unwrap(),
        ],
    );
    let wide = dir.join("wide.mp4");
    render(
        &song,
        &wide,
        &["--size", "720p", "--aspect", "16:9", "--fill", "black"],
    );
    let mut pngs: Vec<PathBuf> = std::fs::read_dir(&frames)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    pngs.sort();
    let generated: Vec<u8> = pngs
        .iter()
        .flat_map(|p| image::open(p).unwrap().to_rgb8().into_raw())
        .collect();
    let centre = decode(&wide, "crop=720:720:280:0,scale=256:256:flags=area");
    let db = psnr(&centre, &generated);
    eprintln!("centre square against the 256 frames: {db:.1} dB");
    assert!(
        db >= 30.0,
        "the enhanced, encoded centre is {db:.1} dB from the generated frames"
    );
    let bars = decode(&wide, "crop=280:720:0:0");
    let brightest = bars.iter().copied().max().unwrap();
    assert!(brightest <= 24, "the bars are black (up to {brightest})");
}

#[test]
fn bad_formats_folders_tools_and_enhancers_get_one_line_reasons() {
    let dir = tmp("video-bad");
    let song = song(&dir, 1);
    let s = song.to_str().unwrap();
    let out = dir.join("out.mp4");
    let o = out.to_str().unwrap();
    let render = |extra: &[&str], expected: &str| {
        let mut args = vec!["render", s, "-o", o];
        args.extend_from_slice(extra);
        fails_saying(&args, expected);
    };
    render(&["--size", "720i"], "unknown size \"720i\"");
    render(&["--size", "big"], "unknown size \"big\"");
    render(&["--aspect", "21:9"], "unknown aspect \"21:9\"");
    render(&["--fill", "stretch"], "unknown fill \"stretch\"");
    render(&["--size", "1281x720"], "1281x720 has an odd side");
    render(&["--size", "4322p"], "above 4320p");
    render(&["--size", "7680x4322"], "above 4320p");
    render(
        &["--size", "720p", "--enhancer", DEFAULT_GENERATOR],
        "shape [1, 3, 256, 256]",
    );
    assert!(!out.exists(), "no video is left by a refused render");

    // `mvgen video` on folders that are not bounces.
    let empty = tmp("video-bad/empty");
    fails_saying(
        &["video", empty.to_str().unwrap(), "-o", o],
        "is not a bounce folder",
    );
    std::fs::write(empty.join("manifest.json"), "{\"frames\": 3}").unwrap();
    fails_saying(
        &["video", empty.to_str().unwrap(), "-o", o],
        "not a bounce manifest",
    );

    // No ffmpeg on PATH.
    let bare = tmp("video-bad/no-path");
    let out = Command::new(common::MVGEN)
        .args(["render", s, "-o", o, "--size", "256", "--aspect", "1:1"])
        .env("PATH", &bare)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.trim().starts_with("error: ffmpeg is not installed")
            && stderr.trim().lines().count() == 1,
        "without ffmpeg, one line says so: {stderr}"
    );
}
