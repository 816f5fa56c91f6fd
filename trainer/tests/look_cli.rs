//! `mvgen look`: `look new` end to end on two short songs and three images (killed during
//! training and resumed), the look it installs in `look list`, `look show` and `render
//! --look`; and bad inputs, each refused in one line with nothing lost.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

mod common;
use common::tmp;

/// `mvgen` with the user's folders under `home`.
fn mvgen_in(home: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(common::MVGEN);
    c.args(args)
        .env("XDG_DATA_HOME", home.join("data"))
        .env_remove("MVGEN_LOOKS_DIR");
    c
}

fn run(home: &Path, args: &[&str]) -> Output {
    let out = mvgen_in(home, args).output().unwrap();
    assert!(
        out.status.success(),
        "mvgen {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn fails_saying(home: &Path, args: &[&str], expected: &str) {
    common::fails_saying_in(&mut mvgen_in(home, args), expected);
}

/// Two short songs: the demo's 20 s excerpt, and the same music a little higher and
/// faster (a song the look trains on; the excerpt is held out, sorting last).
fn songs(dir: &Path) -> PathBuf {
    let songs = dir.join("songs");
    std::fs::create_dir_all(&songs).unwrap();
    let excerpt = common_root().join("assets/demo/xeon-excerpt.ogg");
    std::fs::copy(&excerpt, songs.join("b-excerpt.ogg")).unwrap();
    let ok = Command::new("ffmpeg")
        .args(["-y", "-v", "error", "-i"])
        .arg(&excerpt)
        .args(["-af", "asetrate=44100*1.12,aresample=44100"])
        .arg(songs.join("a-higher.ogg"))
        .status()
        .unwrap()
        .success();
    assert!(ok, "ffmpeg made no test song");
    songs
}

fn common_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Three images: coloured discs on coloured grounds.
fn artwork(dir: &Path) -> PathBuf {
    let art = dir.join("art");
    std::fs::create_dir_all(&art).unwrap();
    for (i, (ground, disc)) in [
        ([200, 40, 40], [250, 230, 90]),
        ([30, 160, 80], [240, 240, 240]),
        ([40, 40, 190], [250, 120, 200]),
    ]
    .into_iter()
    .enumerate()
    {
        let img = image::RgbImage::from_fn(300, 200, |x, y| {
            let (dx, dy) = (x as f32 - 150.0 - 20.0 * i as f32, y as f32 - 100.0);
            image::Rgb(if dx * dx + dy * dy < 70.0 * 70.0 {
                disc
            } else {
                ground
            })
        });
        img.save(art.join(format!("{i}.png"))).unwrap();
    }
    art
}

#[test]
fn a_look_is_made_from_songs_and_artwork_resumes_after_a_kill_and_renders() {
    let home = tmp("look-new");
    let (songs, art) = (songs(&home), artwork(&home));
    let args = [
        "look",
        "new",
        "Test look",
        "--songs",
        songs.to_str().unwrap(),
        "--material",
        art.to_str().unwrap(),
        "--minutes",
        "2",
        "--epochs",
        "4",
        "--author",
        "the test",
        "--licence",
        "CC-BY-SA-3.0",
    ];
    let job = home.join("data/mvgen/look-jobs/test-look");
    let installed = home.join("data/mvgen/looks/test-look");

    // Killed once its first epoch is saved; meanwhile a second job is refused.
    let mut child = mvgen_in(&home, &args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !job.join("videos").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the job never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    fails_saying(
        &home,
        &["look", "new", "Another", "--songs", songs.to_str().unwrap()],
        "another `mvgen look new` is running on this machine",
    );
    while !job.join("run/checkpoint.bin").exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "look new ended before training"
        );
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "no epoch in 5 minutes"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!installed.exists(), "a killed job installs nothing");

    // The same command resumes: the songs are not directed again, training goes on.
    let out = run(&home, &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "resuming \"Test look\"",
        "kept from before: directing 1 songs",
        "kept from before: pairing frames",
        "resuming",
        "the look \"Test look\" is installed",
    ] {
        assert!(stderr.contains(expected), "{expected:?} in {stderr}");
    }
    assert!(
        !job.exists(),
        "the job folder is removed once the look is installed"
    );
    for file in [
        "look.json",
        "generator.onnx",
        "enhancer.onnx",
        "thumbnail.png",
        "sheet.png",
    ] {
        assert!(installed.join(file).is_file(), "{file} installed");
    }
    let description: serde_json::Value =
        serde_json::from_slice(&std::fs::read(installed.join("look.json")).unwrap()).unwrap();
    assert_eq!(description["name"], "Test look");
    assert_eq!(description["author"], "the test");
    assert_eq!(description["licence"], "CC-BY-SA-3.0");
    assert_eq!(description["made"]["epochs"], 4);
    let reactions = description["reactivity"].as_array().unwrap();
    assert_eq!(reactions.len(), 1);
    assert_eq!(reactions[0]["song"], "b-excerpt");
    assert!(
        reactions[0]["variety"].as_f64().unwrap() >= 25.0,
        "{reactions:?}"
    );
    assert!(
        reactions[0]["coupling"].as_f64().unwrap() >= 0.3,
        "{reactions:?}"
    );
    let sheet = image::open(installed.join("sheet.png")).unwrap();
    assert_eq!((sheet.width(), sheet.height()), (4 * 256 + 3 * 4, 256));
    let thumbnail = image::open(installed.join("thumbnail.png")).unwrap();
    assert_eq!((thumbnail.width(), thumbnail.height()), (128, 128));

    let list = String::from_utf8_lossy(&run(&home, &["look", "list"]).stdout).into_owned();
    assert!(
        list.contains("Default") && list.contains("Test look"),
        "{list}"
    );
    assert!(!list.contains("not a look"), "{list}");
    let show =
        String::from_utf8_lossy(&run(&home, &["look", "show", "test LOOK"]).stdout).into_owned();
    assert!(
        show.contains("it reacts to music") && show.contains("b-excerpt"),
        "{show}"
    );

    // It renders, enlarged by its own enhancer, and its frames are not the default's.
    let render = |look: &str, out: &str| {
        let out = home.join(out);
        let o = run(
            &home,
            &[
                "render",
                songs.join("a-higher.ogg").to_str().unwrap(),
                "--look",
                look,
                "--size",
                "512",
                "--aspect",
                "1:1",
                "-o",
                out.to_str().unwrap(),
            ],
        );
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let said = render("Test look", "test.mp4");
    assert!(said.contains("Test look enhancer"), "{said}");
    let default = render("Default", "default.mp4");
    assert!(!default.contains("Test look"), "{default}");
    let frame = |video: &str| {
        let o = Command::new("ffmpeg")
            .args(["-v", "error", "-ss", "5", "-i"])
            .arg(home.join(video))
            .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            .output()
            .unwrap();
        o.stdout
    };
    let (a, b) = (frame("test.mp4"), frame("default.mp4"));
    assert_eq!(a.len(), 512 * 512 * 3);
    let differ = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (*x as i32 - *y as i32).abs() as f64)
        .sum::<f64>()
        / a.len() as f64;
    assert!(differ > 10.0, "the look's frames are its own: {differ}");

    // A look cannot be made twice under one name; it can be removed.
    fails_saying(&home, &args, "a look named \"Test look\" exists already");
    run(&home, &["look", "rm", "Test look"]);
    assert!(!installed.exists());
    fails_saying(&home, &["look", "rm", "Default"], "cannot be removed");
}

#[test]
fn bad_inputs_each_give_one_line_and_lose_nothing() {
    let home = tmp("look-bad");
    let songs = songs(&home);
    let songs = songs.to_str().unwrap();

    // A budget too short for one epoch: said, with what to give; the work is kept.
    fails_saying(
        &home,
        &[
            "look",
            "new",
            "Quick",
            "--songs",
            songs,
            "--minutes",
            "0.05",
        ],
        "the budget is too short to train a single epoch",
    );
    let job = home.join("data/mvgen/look-jobs/quick");
    assert!(job.join("dataset/train").is_dir() && job.join("videos/a-higher.mp4").is_file());

    // One song cannot be both trained on and held out.
    let one = home.join("one");
    std::fs::create_dir_all(&one).unwrap();
    std::fs::copy(Path::new(songs).join("a-higher.ogg"), one.join("a.ogg")).unwrap();
    fails_saying(
        &home,
        &["look", "new", "One", "--songs", one.to_str().unwrap()],
        "give at least 2",
    );
    fails_saying(
        &home,
        &["look", "new", "Default", "--songs", songs],
        "exists already",
    );
    fails_saying(
        &home,
        &["look", "new", "X", "--songs", songs, "--from", "Nope"],
        "there is no look named \"Nope\"",
    );

    // Broken looks in the folder: each named with its reason, the others still there.
    let looks = home.join("data/mvgen/looks");
    let make = |slug: &str, json: &str, generator: &[u8], enhancer: Option<&[u8]>| {
        let dir = looks.join(slug);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("look.json"), json).unwrap();
        std::fs::write(dir.join("generator.onnx"), generator).unwrap();
        if let Some(e) = enhancer {
            std::fs::write(dir.join("enhancer.onnx"), e).unwrap();
        }
    };
    let json = |name: &str| format!("{{\"format\": 1, \"name\": \"{name}\"}}");
    make("plain", &json("Plain"), mvgen_default_model::ONNX, None);
    make(
        "corrupt",
        "{\"format\": 1, \"name\":",
        mvgen_default_model::ONNX,
        None,
    );
    make("wrong", &json("Wrong"), mvgen_default_model::ENHANCER, None);
    // Another generator under a taken name (its metadata's name changed).
    let mut other = mvgen_default_model::ONNX.to_vec();
    let at = other
        .windows(13)
        .rposition(|w| w == b"mvgen default")
        .unwrap();
    other[at] = b'M';
    make("twin", &json("plain"), &other, None);
    let list = String::from_utf8_lossy(&run(&home, &["look", "list"]).stdout).into_owned();
    assert!(
        list.contains("Plain") && list.contains("no (classical filter)"),
        "{list}"
    );
    let refused: Vec<&str> = list
        .lines()
        .filter(|l| l.starts_with("not a look: "))
        .collect();
    assert_eq!(refused.len(), 3, "{list}");
    assert!(refused
        .iter()
        .any(|l| l.contains("corrupt") && l.contains("look.json is not a look description")));
    assert!(refused
        .iter()
        .any(|l| l.contains("wrong") && l.contains("generator.onnx: ")));
    assert!(refused
        .iter()
        .any(|l| l.contains("twin") && l.contains("already named \"Plain\"")));
    fails_saying(
        &home,
        &["render", "x.ogg", "--look", "Corrupt"],
        "look.json is not a look description",
    );
    for slug in ["plain", "corrupt", "wrong", "twin"] {
        assert!(
            looks.join(slug).join("generator.onnx").is_file(),
            "{slug} kept"
        );
    }
}
