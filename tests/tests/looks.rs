//! Looks in a real CLAP host session under Xvfb: the editor's Look chooser shows a look
//! of the user's by its thumbnail; clicking it (a real pointer click, XTEST) makes the
//! next bounce's frames come from that look's generator; the session saves the look, a
//! reopened session restores it, and on a machine without that look the default look
//! runs while the session keeps naming the missing one.
//!
//! The frames' maker is read from each bounce's manifest (the SHA-256 of the generator
//! that made them). The chooser's screenshot is kept in target/test-scratch/looks/.

use mvgen_tests::bounce::{bounces, manifest, Env, RATE};
use mvgen_tests::clap_host::{Host, Run};
use mvgen_tests::editor_host::{EditorWindow, Screenshot, Xvfb};
use mvgen_tests::signals::{bit_exact, stereo};
use mvgen_tests::stage_host::Screen;
use mvgen_tests::{clap_bundle, models, scratch};
use sha2::Digest;
use std::path::Path;
use std::time::{Duration, Instant};

/// The look's thumbnail: a colour nothing else in the editor has.
const MAGENTA: [u8; 3] = [255, 0, 255];

fn sha256(path: &Path) -> String {
    format!("{:x}", sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// The centre of the magenta thumbnail on screen, once the chooser shows it.
fn magenta(shot: &Screenshot) -> Option<(i32, i32)> {
    let (mut n, mut sx, mut sy) = (0u64, 0u64, 0u64);
    for y in 0..shot.height {
        for x in 0..shot.width {
            let [r, g, b] = shot.pixel(x, y);
            if r > 230 && g < 40 && b > 230 {
                n += 1;
                sx += x as u64;
                sy += y as u64;
            }
        }
    }
    // The thumbnail is drawn at about 52x52 points.
    (n > 1500).then(|| ((sx / n) as i32, (sy / n) as i32))
}

/// An offline bounce of `input` by `host`; the generator that made its frames (from the
/// newest bounce's manifest, once the host has gone).
fn bounce(host: &mut Host, input: &[Vec<f32>]) {
    let output = host.run(&Run::offline(RATE, &[512]), input).unwrap();
    assert!(bit_exact(&output, input), "the audio changed");
}

fn newest_bounce_made_by(export: &Path) -> String {
    let dirs = bounces(export);
    let m = manifest(dirs.last().expect("a bounce"));
    m["model"]["sha256"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn the_chooser_switches_looks_and_the_session_keeps_its_look() {
    let dir = scratch("looks");
    let looks = dir.join("looks");
    let tiny = looks.join("tiny");
    std::fs::create_dir_all(&tiny).unwrap();
    std::fs::write(
        tiny.join("look.json"),
        r#"{"format": 1, "name": "Tiny", "author": "the test", "licence": "CC0-1.0"}"#,
    )
    .unwrap();
    std::fs::copy(models().join("tiny.onnx"), tiny.join("generator.onnx")).unwrap();
    image::RgbImage::from_pixel(128, 128, image::Rgb(MAGENTA))
        .save(tiny.join("thumbnail.png"))
        .unwrap();
    let tiny_sha = sha256(&tiny.join("generator.onnx"));
    let export = dir.join("bounces");
    let tap = dir.join("tap");
    let _env = Env::new(&export, &tap, &[("MVGEN_LOOKS_DIR", looks.clone().into())]);
    let _x = Xvfb::start(&dir.join("xvfb.log")).unwrap();
    let input = stereo(RATE, 1.5, 7);

    // The chooser shows the look; a click on its thumbnail chooses it.
    let mut host = Host::load(&clap_bundle()).unwrap();
    let window = EditorWindow::open(&mut host.main_thread(), 1.0).unwrap();
    let started = Instant::now();
    let (x, y) = loop {
        let shot = window.screenshot().unwrap();
        if let Some(at) = magenta(&shot) {
            shot.save_png(&dir.join("chooser.png")).unwrap();
            break at;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the chooser never showed the look's thumbnail (target/test-scratch/looks/)"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    Screen::connect().unwrap().click(x, y).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    bounce(&mut host, &input);
    let session = host.save_state().unwrap();
    window.close(&mut host.main_thread()).unwrap();
    drop(host);
    assert_eq!(
        newest_bounce_made_by(&export),
        tiny_sha,
        "the frames come from the chosen look"
    );
    let saved = String::from_utf8_lossy(&session).into_owned();
    assert!(
        saved.contains("Tiny") && saved.contains(&tiny_sha),
        "the session names the look: {saved}"
    );

    // A reopened session runs its look.
    let mut host = Host::load(&clap_bundle()).unwrap();
    host.load_state(&session).unwrap();
    bounce(&mut host, &input);
    drop(host);
    assert_eq!(
        newest_bounce_made_by(&export),
        tiny_sha,
        "the reopened session runs its look"
    );

    // On a machine without the look, the default runs, and the session still names it.
    let elsewhere = dir.join("no-looks");
    std::fs::create_dir_all(&elsewhere).unwrap();
    // SAFETY (edition 2021 API): this test holds the environment lock (`Env`).
    std::env::set_var("MVGEN_LOOKS_DIR", &elsewhere);
    let mut host = Host::load(&clap_bundle()).unwrap();
    host.load_state(&session).unwrap();
    bounce(&mut host, &input);
    let again = String::from_utf8_lossy(&host.save_state().unwrap()).into_owned();
    drop(host);
    let default_sha = format!("{:x}", sha2::Sha256::digest(mvgen_default_model::ONNX));
    assert_eq!(
        newest_bounce_made_by(&export),
        default_sha,
        "the default runs in its place"
    );
    assert!(
        again.contains("Tiny") && again.contains(&tiny_sha),
        "the session keeps its look: {again}"
    );
}
