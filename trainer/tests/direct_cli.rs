//! `mvgen dataset direct` end to end, with real ffmpeg: songs in, music videos out, each
//! as long as its song at 30 fps with the song's audio; the calibration saved and kept on
//! a re-run; `--measure` writes nothing; bad inputs are clear errors or named skips.

use std::path::Path;
use std::process::Command;

mod common;
use common::{mvgen, tmp, MVGEN};

/// A `seconds`-long song: a tone whose level and pitch change every second, with a kick.
fn song(path: &Path, seconds: u32, pitch: u32) {
    let expr = format!(
        "(0.2+0.15*mod(floor(t),3))*sin(2*PI*{pitch}*(1+0.5*mod(floor(t),2))*t)\
         +0.6*sin(2*PI*60*t)*exp(-12*mod(t,0.5))"
    );
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i"])
        .arg(format!("aevalsrc='{expr}':s=44100:d={seconds}"))
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

fn probe(video: &Path, entries: &str, stream: &str) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", stream, "-count_frames"])
        .args(["-show_entries", entries, "-of", "csv=p=0"])
        .arg(video)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn songs_become_music_videos_and_a_rerun_keeps_the_calibration() {
    let dir = tmp("direct");
    let songs = dir.join("songs");
    std::fs::create_dir_all(&songs).unwrap();
    song(&songs.join("a.wav"), 4, 220);
    song(&songs.join("b.wav"), 3, 440);
    std::fs::write(songs.join("notes.txt"), "not a song").unwrap();
    let out = dir.join("videos");
    let (s, o) = (songs.to_str().unwrap(), out.to_str().unwrap());

    mvgen(&["dataset", "direct", s, "-o", o]);
    for (name, seconds) in [("a", 4), ("b", 3)] {
        let video = out.join(format!("{name}.mp4"));
        assert_eq!(probe(&video, "stream=width,height", "v:0"), "256,256");
        assert_eq!(probe(&video, "stream=r_frame_rate", "v:0"), "30/1");
        let frames: u32 = probe(&video, "stream=nb_read_frames", "v:0")
            .parse()
            .unwrap();
        assert_eq!(
            frames,
            30 * seconds,
            "{name}: a frame per 1/30 s of the song"
        );
        assert_eq!(probe(&video, "stream=codec_type", "a:0"), "audio");
    }
    let calibration = std::fs::read_to_string(out.join("director.json")).unwrap();
    assert!(calibration.contains("\"a\"") && calibration.contains("\"b\""));

    // Each frame depends on the music: the two songs' videos differ.
    let first_frame = |name: &str| {
        Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-i"])
            .arg(out.join(format!("{name}.mp4")))
            .args(["-vf", "select=eq(n\\,60)", "-frames:v", "1"])
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            .output()
            .unwrap()
            .stdout
    };
    let (fa, fb) = (first_frame("a"), first_frame("b"));
    assert_eq!(fa.len(), 256 * 256 * 3);
    let mean_diff = fa
        .iter()
        .zip(&fb)
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .sum::<f64>()
        / fa.len() as f64;
    assert!(
        mean_diff > 2.0,
        "different music, different pictures ({mean_diff:.2})"
    );

    // A re-run keeps the videos and the calibration measured on the same songs.
    let before = std::fs::metadata(out.join("a.mp4"))
        .unwrap()
        .modified()
        .unwrap();
    let again = mvgen(&["dataset", "direct", s, "-o", o]);
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(said.contains("the folder's own"), "{said}");
    assert_eq!(
        std::fs::metadata(out.join("a.mp4"))
            .unwrap()
            .modified()
            .unwrap(),
        before
    );
    assert_eq!(
        std::fs::read_to_string(out.join("director.json")).unwrap(),
        calibration
    );

    // --measure prints each song's reaction and writes no video.
    let measured = dir.join("measured");
    let m = mvgen(&[
        "dataset",
        "direct",
        s,
        "-o",
        measured.to_str().unwrap(),
        "--calibration",
        out.join("director.json").to_str().unwrap(),
        "--measure",
    ]);
    let printed = String::from_utf8_lossy(&m.stdout);
    assert_eq!(
        printed.lines().filter(|l| l.contains("variety")).count(),
        2,
        "{printed}"
    );
    assert!(!measured.join("a.mp4").exists());
}

#[test]
fn bad_inputs_are_clear_errors() {
    let dir = tmp("direct-bad");
    let run = |args: &[&str]| {
        let out = Command::new(MVGEN).args(args).output().unwrap();
        assert!(!out.status.success(), "mvgen {args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let o = dir.join("out");
    let err = run(&[
        "dataset",
        "direct",
        "/nonexistent/song.wav",
        "-o",
        o.to_str().unwrap(),
    ]);
    assert!(
        err.contains("/nonexistent/song.wav does not exist"),
        "{err}"
    );

    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let err = run(&[
        "dataset",
        "direct",
        empty.to_str().unwrap(),
        "-o",
        o.to_str().unwrap(),
    ]);
    assert!(err.contains("no songs"), "{err}");

    // An unreadable song is named and skipped; with nothing left, that is an error.
    let broken = dir.join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("x.ogg"), b"OggS but not really").unwrap();
    let err = run(&[
        "dataset",
        "direct",
        broken.to_str().unwrap(),
        "-o",
        o.to_str().unwrap(),
    ]);
    assert!(err.contains("x.ogg"), "{err}");
}
