//! `mvgen spectrogram` on every common format, through real ffmpeg encodes.
//!
//! Strategy: write one seeded stereo song as a float WAV, have ffmpeg encode it to 16-bit
//! WAV, FLAC, MP3 and Ogg Vorbis, and check each output image against the image of the
//! float WAV. Lossless formats must agree to 16-bit quantisation (2e-2 per pixel, mostly
//! in the quietest bins); lossy ones must keep the picture (mean difference under 0.05:
//! codecs drop inaudible detail and shift timing by their encoder delay). Errors must
//! name the problem.

use std::path::{Path, PathBuf};
use std::process::Command;

const MVGEN: &str = env!("CARGO_BIN_EXE_mvgen");

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_float_wav(path: &Path, rate_hz: u32, left: &[f32], right: &[f32]) {
    let mut bytes = Vec::new();
    let data_len = (left.len() * 8) as u32;
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data_len).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&3u16.to_le_bytes()); // IEEE float
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&rate_hz.to_le_bytes());
    bytes.extend_from_slice(&(rate_hz * 8).to_le_bytes());
    bytes.extend_from_slice(&8u16.to_le_bytes());
    bytes.extend_from_slice(&32u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data_len.to_le_bytes());
    for (l, r) in left.iter().zip(right) {
        bytes.extend_from_slice(&l.to_le_bytes());
        bytes.extend_from_slice(&r.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

fn song(rate_hz: u32, seconds: f64) -> (Vec<f32>, Vec<f32>) {
    let n = (rate_hz as f64 * seconds) as usize;
    let mut state = 42u64;
    let mut noise = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    };
    let tau = std::f64::consts::TAU;
    let left = (0..n)
        .map(|i| {
            let t = i as f64 / rate_hz as f64;
            let beat = (t * 2.0).fract();
            (0.3 * (tau * 220.0 * t).sin() + 0.2 * (tau * 1760.0 * t).sin() * (-beat * 8.0).exp())
                as f32
                + 0.02 * noise()
        })
        .collect::<Vec<_>>();
    let right = left.iter().map(|s| 0.5 * s).collect();
    (left, right)
}

fn spectrogram(audio: &Path, at: f64, out_dir: &Path) -> Vec<f32> {
    let raw = out_dir.join(format!(
        "{}.f32",
        audio.file_name().unwrap().to_string_lossy()
    ));
    let png = raw.with_extension("png");
    let status = Command::new(MVGEN)
        .args([
            "spectrogram".as_ref(),
            audio.as_os_str(),
            "--at".as_ref(),
            at.to_string().as_ref(),
            "-o".as_ref(),
            png.as_os_str(),
            "--raw".as_ref(),
            raw.as_os_str(),
        ])
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "mvgen spectrogram {}: {}",
        audio.display(),
        String::from_utf8_lossy(&status.stderr)
    );
    let png = image::open(&png).unwrap().to_luma8();
    assert_eq!(png.dimensions(), (256, 256));
    std::fs::read(&raw)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn ffmpeg(input: &Path, output: &Path, codec_args: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(input)
        .args(codec_args)
        .arg(output)
        .status()
        .expect("ffmpeg must be installed (scripts/setup.sh installs it)");
    assert!(status.success(), "ffmpeg -> {}", output.display());
}

/// Max and mean absolute difference over the rows below `below_hz`: lossy codecs and
/// resamplers may cut the top octave by design.
fn diff(a: &[f32], b: &[f32], below_hz: f64) -> (f32, f32) {
    let first_row = 256 - (below_hz / (44_100.0 / 510.0)) as usize;
    let (a, b) = (&a[first_row * 256..], &b[first_row * 256..]);
    let max = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    let mean = a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32;
    (max, mean)
}

#[test]
fn reads_wav_flac_mp3_and_ogg() {
    let dir = scratch("formats");
    let source = dir.join("song-float.wav");
    let (left, right) = song(44_100, 4.0);
    write_float_wav(&source, 44_100, &left, &right);
    let reference = spectrogram(&source, 3.0, &dir);

    let cases: [(&str, &[&str], bool); 4] = [
        ("song.wav", &["-c:a", "pcm_s16le"], true),
        ("song.flac", &["-c:a", "flac"], true),
        ("song.mp3", &["-c:a", "libmp3lame", "-b:a", "320k"], false),
        ("song.ogg", &["-c:a", "libvorbis", "-q:a", "8"], false),
    ];
    for (name, args, lossless) in cases {
        let path = dir.join(name);
        ffmpeg(&source, &path, args);
        let (max, mean) = diff(&spectrogram(&path, 3.0, &dir), &reference, 16_000.0);
        if lossless {
            assert!(max < 2e-2 && mean < 1e-3, "{name}: max {max}, mean {mean}");
        } else {
            assert!(mean < 0.05, "{name}: mean {mean}");
        }
    }
}

#[test]
fn reads_other_rates_through_the_resampler() {
    let dir = scratch("rates");
    let (left, right) = song(44_100, 3.0);
    let source = dir.join("song-44k.wav");
    write_float_wav(&source, 44_100, &left, &right);
    let reference = spectrogram(&source, 2.5, &dir);
    for rate in [22_050, 48_000, 96_000] {
        let path = dir.join(format!("song-{rate}.wav"));
        ffmpeg(
            &source,
            &path,
            &[
                "-c:a",
                "pcm_f32le",
                "-af",
                &format!("aresample={rate}:resampler=soxr:precision=28"),
            ],
        );
        // 22.05 kHz audio holds nothing above 11 kHz; compare below 10 kHz there.
        let below_hz = if rate == 22_050 { 10_000.0 } else { 16_000.0 };
        let (_, mean) = diff(&spectrogram(&path, 2.5, &dir), &reference, below_hz);
        // Two different resamplers (soxr there, ours back): they agree in the passband.
        assert!(mean < 1e-3, "{rate} Hz: mean {mean}");
    }
}

#[test]
fn bad_input_gets_a_clear_error() {
    let dir = scratch("bad");
    let not_audio = dir.join("notes.txt");
    std::fs::write(&not_audio, "this is not audio").unwrap();
    let (left, right) = song(44_100, 1.0);
    let short = dir.join("short.wav");
    write_float_wav(&short, 44_100, &left, &right);

    let cases: [(&Path, &str, &str); 4] = [
        (&dir.join("missing.wav"), "1.0", "opening"),
        (&not_audio, "1.0", "not an audio format"),
        (&short, "5.0", "past the end"),
        (&short, "-1", "--at must be"),
    ];
    for (path, at, expected) in cases {
        let out = Command::new(MVGEN)
            .args([
                "spectrogram".as_ref(),
                path.as_os_str(),
                "--at".as_ref(),
                at.as_ref(),
                "-o".as_ref(),
                dir.join("x.png").as_os_str(),
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{}: should fail", path.display());
        assert!(
            stderr.contains(expected),
            "{}: stderr {stderr:?} should say {expected:?}",
            path.display()
        );
    }
}
