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

/// Frame `n` of `video` as 256x256 RGB.
fn frame(video: &Path, n: u32) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(video)
        .args(["-vf", &format!("select=eq(n\\,{n})"), "-frames:v", "1"])
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert_eq!(out.stdout.len(), 256 * 256 * 3, "{}", video.display());
    out.stdout
}

/// Mean absolute difference of two pictures, in 8-bit levels.
fn mean_difference(a: &[u8], b: &[u8]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .sum::<f64>()
        / a.len() as f64
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
    let (fa, fb) = (frame(&out.join("a.mp4"), 60), frame(&out.join("b.mp4"), 60));
    let diff = mean_difference(&fa, &fb);
    assert!(
        diff > 2.0,
        "different music, different pictures ({diff:.2})"
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

/// A folder of the artist's images changes the pictures; a folder without images is an
/// error that says so.
#[test]
fn material_is_blended_into_the_pictures() {
    let dir = tmp("direct-material");
    let songs = dir.join("songs");
    let art = dir.join("art");
    std::fs::create_dir_all(&songs).unwrap();
    std::fs::create_dir_all(&art).unwrap();
    song(&songs.join("a.wav"), 8, 220); // long enough to calibrate on alone
    for (name, colour) in [("1.png", "red"), ("2.jpg", "yellow")] {
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i"])
            .arg(format!("color=c={colour}:s=64x48"))
            .args(["-frames:v", "1"])
            .arg(art.join(name))
            .status()
            .unwrap();
        assert!(status.success());
    }
    let (plain, blended) = (dir.join("plain"), dir.join("blended"));
    let s = songs.to_str().unwrap();
    mvgen(&["dataset", "direct", s, "-o", plain.to_str().unwrap()]);
    mvgen(&[
        "dataset",
        "direct",
        s,
        "-o",
        blended.to_str().unwrap(),
        "--material",
        art.to_str().unwrap(),
    ]);
    let (p, b) = (
        frame(&plain.join("a.mp4"), 45),
        frame(&blended.join("a.mp4"), 45),
    );
    assert!(mean_difference(&p, &b) > 2.0, "the material shows");

    let empty = dir.join("no-art");
    std::fs::create_dir_all(&empty).unwrap();
    let out = Command::new(MVGEN)
        .args([
            "dataset",
            "direct",
            s,
            "-o",
            dir.join("x").to_str().unwrap(),
            "--material",
        ])
        .arg(&empty)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("holds no PNG or JPEG images"), "{err}");
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
