//! `cargo xtask train-default`: the embedded default model, from nothing but Debian's
//! package archive, through mvgen's own pipeline.
//!
//! 1. Free music from Debian packages (`apt-get download`, unpacked with `dpkg -x`; the
//!    package and licence of every track are recorded). Four songs are held out for
//!    evaluation; songs under 30 s, near-duplicates and unreadable files are left out.
//! 2. `mvgen dataset direct`: a music video for each training song, each frame drawn
//!    from the window before it (trainer/src/dataset/director.rs).
//! 3. `mvgen dataset build`: a pair every three seconds of every video.
//! 4. `mvgen train` (ngf 16: 14 MB, under 10 ms a frame on two CPU threads), then a
//!    second run from its networks (`--init-from`, a warm restart of the schedule);
//!    both resumable: run the command again after an interruption.
//! 5. `mvgen eval` of both runs with the held-out songs, `mvgen export` of the second,
//!    and the director's own reactions to the held-out songs (the ceiling a generator
//!    can reach).
//! 6. `models/default.onnx`, `models/default.json` (recipe, provenance, every number),
//!    `models/default-losses.png`, and `docs/default-look.png` (frames from three
//!    held-out songs).
//!
//! Everything runs under `target/default-model/`; the shipped files name no path of the
//! machine that made them.

use std::path::{Path, PathBuf};
use std::process::Command;

type Result<T> = nice_plug_xtask::Result<T>;

/// Music packages: (package, folder of its tracks inside the package, prefix).
const MUSIC: &[(&str, &str, &str)] = &[
    (
        "wesnoth-1.16-music",
        "usr/share/games/wesnoth/1.16/data/core/music",
        "wesnoth",
    ),
    (
        "hyperrogue-music",
        "usr/share/hyperrogue/music",
        "hyperrogue",
    ),
    (
        "drascula-music",
        "usr/share/scummvm/drascula/audio",
        "drascula",
    ),
    (
        "supertuxkart-data",
        "usr/share/games/supertuxkart/data/music",
        "stk",
    ),
];
/// Songs no training run sees: one per package, of different styles.
const HELD_OUT: &[&str] = &[
    "stk-xeon6",
    "wesnoth-frantic",
    "drascula-track9",
    "hyperrogue-hr3-motion",
];
/// Songs left out: under 30 s, or a near-copy of another (a held-out one included).
const LEFT_OUT: &[&str] = &[
    "drascula-track12",
    "drascula-track17",
    "drascula-track28",
    "stk-lose_theme",
    "stk-race_summary",
    "stk-race_win_theme",
    "wesnoth-defeat",
    "wesnoth-defeat2",
    "wesnoth-elf-land",
    "wesnoth-silence",
    "wesnoth-victory",
    "wesnoth-victory2",
    "wesnoth-frantic-old",
];
/// Faster remixes of other supertuxkart tracks.
const LEFT_OUT_SUFFIXES: &[&str] = &["_fast", "_f"];
/// The held-out songs in the README's picture of the look.
const SHOWN: &[&str] = &["stk-xeon6", "wesnoth-frantic", "hyperrogue-hr3-motion"];
const TRAIN: &[&str] = &[
    "--ngf",
    "16",
    "--ndf",
    "16",
    "--epochs",
    "3",
    "--decay-epochs",
    "3",
    "--snapshots",
    "2,4,6",
    "--seed",
    "1",
];
/// Then on from the first run's networks: its schedule ended with the look still
/// gaining variety epoch by epoch, so a second schedule (a warm restart) continues it.
const TRAIN_ON: &[&str] = &[
    "--ngf",
    "16",
    "--ndf",
    "16",
    "--epochs",
    "4",
    "--decay-epochs",
    "4",
    "--snapshots",
    "4,6,8",
    "--seed",
    "2",
];

pub(crate) fn run(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Result<String> {
    let program = program.as_ref();
    eprintln!("+ {} {}", program.to_string_lossy(), args.join(" "));
    let out = Command::new(program)
        .args(args)
        .stderr(std::process::Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "{} {} failed",
            program.to_string_lossy(),
            args.join(" ")
        ))
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Where `cargo build --release -p mvgen --features torch` puts the binary (it follows
/// CARGO_TARGET_DIR).
pub(crate) fn mvgen_binary() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| PathBuf::from("target"), PathBuf::from)
        .join("release/mvgen")
}

pub(crate) fn p(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Whether `text` matches the glob `pattern` (`*` is any run of characters).
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            text.starts_with(head)
                && (head.len()..=text.len())
                    .filter(|&i| text.is_char_boundary(i))
                    .any(|i| glob(tail, &text[i..]))
        }
    }
}

/// A track's licence from its package's DEP-5 copyright file: the `License:` of the last
/// stanza whose `Files:` patterns match it (patterns are source paths, so they are
/// matched against the installed path's tails; `*` matches everything).
pub(crate) fn licence(copyright: &str, installed: &str) -> String {
    let tails: Vec<&str> = installed
        .match_indices('/')
        .map(|(i, _)| &installed[i + 1..])
        .collect();
    let mut found = String::from("see the package's copyright file");
    for stanza in copyright.split("\n\n") {
        let (mut files, mut licence, mut in_files) = (Vec::new(), None, false);
        for line in stanza.lines() {
            if let Some(v) = line.strip_prefix("Files:") {
                files.extend(v.split_whitespace());
                in_files = true;
            } else if in_files && line.starts_with(' ') {
                files.extend(line.split_whitespace());
            } else {
                in_files = false;
                if let Some(v) = line.strip_prefix("License:") {
                    licence = Some(v.trim().to_string());
                }
            }
        }
        let matched = files
            .iter()
            .any(|f| *f == "*" || tails.iter().any(|t| glob(f, t)));
        if let (true, Some(l)) = (matched, licence) {
            found = l;
        }
    }
    found
}

/// Whether ffmpeg decodes the first second of `song` (a few packaged files are not
/// valid Ogg).
fn decodes(song: &Path) -> bool {
    Command::new("ffmpeg")
        .args(["-v", "quiet", "-nostdin", "-i"])
        .arg(song)
        .args(["-t", "1", "-f", "null", "-"])
        .status()
        .is_ok_and(|s| s.success())
}

/// The package's `.deb` in `debs` (downloaded with `apt-get download` unless it is
/// there), and its version.
pub(crate) fn deb(debs: &Path, package: &str) -> Result<(PathBuf, String)> {
    std::fs::create_dir_all(debs)?;
    let find = || {
        std::fs::read_dir(debs).ok().and_then(|d| {
            d.flatten()
                .find(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(&format!("{package}_"))
                })
                .map(|e| e.path())
        })
    };
    let deb = match find() {
        Some(deb) => deb,
        None => {
            let status = Command::new("apt-get")
                .args(["download", package])
                .current_dir(debs)
                .status()?;
            if !status.success() {
                return Err(std::io::Error::other(format!("apt-get download {package}")).into());
            }
            find().ok_or_else(|| std::io::Error::other(format!("{package}: no .deb")))?
        }
    };
    let version = deb
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .split('_')
                .nth(1)
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_default()
        .replace("%3a", ":");
    Ok((deb, version))
}

/// Download and unpack the music; link training and held-out songs; the provenance.
pub(crate) fn gather_music(work: &Path) -> Result<serde_json::Value> {
    let debs = work.join("debs");
    let unpacked = debs.join("unpacked");
    std::fs::create_dir_all(&unpacked)?;
    let (train, held_out) = (work.join("songs/train"), work.join("songs/held-out"));
    let _ = std::fs::remove_dir_all(work.join("songs"));
    std::fs::create_dir_all(&train)?;
    std::fs::create_dir_all(&held_out)?;
    let mut tracks = Vec::new();
    for &(package, folder, prefix) in MUSIC {
        let (deb, version) = deb(&debs, package)?;
        run("dpkg", &["-x", &p(&deb), &p(&unpacked)])?;
        let copyright =
            std::fs::read_to_string(unpacked.join(format!("usr/share/doc/{package}/copyright")))
                .unwrap_or_default();
        let mut files: Vec<PathBuf> = std::fs::read_dir(unpacked.join(folder))?
            .flatten()
            .map(|e| e.path())
            .filter(|f| f.extension().is_some_and(|e| e == "ogg"))
            .collect();
        files.sort();
        for file in files {
            let stem = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let name = format!("{prefix}-{stem}");
            if LEFT_OUT.contains(&name.as_str())
                || LEFT_OUT_SUFFIXES.iter().any(|s| stem.ends_with(s))
            {
                continue;
            }
            if !decodes(&file) {
                eprintln!("left out {name}: ffmpeg cannot decode it");
                continue;
            }
            let held = HELD_OUT.contains(&name.as_str());
            let link = if held { &held_out } else { &train }.join(format!("{name}.ogg"));
            std::os::unix::fs::symlink(std::fs::canonicalize(&file)?, &link)?;
            let in_package = file
                .strip_prefix(&unpacked)
                .map(|f| format!("/{}", f.display()))
                .unwrap_or_default();
            tracks.push(serde_json::json!({
                "song": name,
                "held_out": held,
                "package": package,
                "version": version,
                "file": in_package,
                "licence": licence(&copyright, &in_package),
            }));
        }
    }
    Ok(serde_json::Value::Array(tracks))
}

pub fn train_default() -> Result<()> {
    let root = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(|d| PathBuf::from(d).join(".."))
        .unwrap_or_else(|| PathBuf::from("."));
    std::env::set_current_dir(&root)?;
    let work = PathBuf::from("target/default-model");
    let (songs, videos, data, first_run, run_dir) = (
        work.join("songs"),
        work.join("videos"),
        // The folder's name is the dataset's name in the model's metadata and the editor.
        work.join("debian-music"),
        work.join("run"),
        work.join("run-2"),
    );
    run(
        "cargo",
        &["build", "--release", "-p", "mvgen", "--features", "torch"],
    )?;
    let bin = mvgen_binary();
    let mvgen = |args: &[&str]| run(&bin, args);
    std::fs::create_dir_all(&work)?;
    let tracks = gather_music(&work)?;
    mvgen(&[
        "dataset",
        "direct",
        &p(&songs.join("train")),
        "-o",
        &p(&videos),
    ])?;
    mvgen(&[
        "dataset",
        "build",
        &p(&videos),
        "-o",
        &p(&data),
        "--every",
        "90",
        "--start",
        "0",
        "--whole",
        "--val-fraction",
        "0.05",
        "--seed",
        "188",
    ])?;
    let (data_arg, first_arg, run_arg) = (p(&data), p(&first_run), p(&run_dir));
    mvgen(&[&["train", &data_arg, "--run", &first_arg], TRAIN].concat())?;
    mvgen(
        &[
            &[
                "train",
                &data_arg,
                "--run",
                &run_arg,
                "--init-from",
                &first_arg,
            ],
            TRAIN_ON,
        ]
        .concat(),
    )?;
    let held_out = p(&songs.join("held-out"));
    for run in [&first_arg, &run_arg] {
        mvgen(&["eval", run, "--songs", &held_out])?;
    }
    std::fs::create_dir_all("models")?;
    mvgen(&[
        "export",
        &run_arg,
        "-o",
        "models/default.onnx",
        "--name",
        "mvgen default (directed)",
    ])?;
    // The director's own reactions: what the generator was taught to do.
    let director = mvgen(&[
        "dataset",
        "direct",
        &held_out,
        "--calibration",
        &p(&videos.join("director.json")),
        "--measure",
        "-o",
        &p(&work.join("director-measure")),
    ])?;
    let whole_songs = contact_sheet(&work, &songs.join("held-out"))?;

    // The paths of the machine that made them say nothing to anyone else.
    let config = |run: &Path| -> Result<serde_json::Value> {
        let mut config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run.join("config.json"))?)?;
        if let Some(c) = config.as_object_mut() {
            c.insert("dataset".into(), p(&data).into());
            if c.contains_key("init_from") {
                c.insert("init_from".into(), first_arg.clone().into());
            }
        }
        Ok(config)
    };
    let eval = |run: &Path| -> Result<serde_json::Value> {
        Ok(serde_json::from_slice(&std::fs::read(
            run.join("eval.json"),
        )?)?)
    };
    let record = serde_json::json!({
        "command": "cargo xtask train-default",
        "recipe": "xtask/src/default_model.rs",
        "config": config(&run_dir)?,
        "first_run_config": config(&first_run)?,
        "eval": eval(&run_dir)?,
        "first_run_eval": eval(&first_run)?,
        "director_on_held_out": director.lines().map(|l| {
            l.rsplit_once('/').map_or(l, |(_, song)| song).to_string()
        }).collect::<Vec<_>>(),
        "held_out_whole_songs": whole_songs,
        "music": tracks,
    });
    std::fs::write("models/default.json", serde_json::to_vec_pretty(&record)?)?;
    std::fs::copy(run_dir.join("losses.png"), "models/default-losses.png")?;
    eprintln!("models/default.onnx, models/default.json, docs/default-look.png written");
    Ok(())
}

/// Steps of the default enhancer's training.
const ENHANCER_STEPS: &str = "4000";

/// `cargo xtask train-default-enhancer`: the default look's enhancer, for the default
/// model as it is: the same songs (held-out ones held out), the director's calibration
/// measured on the same training songs (so its pictures are the ones the model learned),
/// a pair every 15 s of every training song, `mvgen train-enhancer`, and its quality on
/// the held-out songs. Resumable, as the model's recipe is.
pub fn train_default_enhancer() -> Result<()> {
    let root = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(|d| PathBuf::from(d).join(".."))
        .unwrap_or_else(|| PathBuf::from("."));
    std::env::set_current_dir(&root)?;
    let work = PathBuf::from("target/default-model");
    let (songs, videos, run_dir) = (
        work.join("songs"),
        work.join("videos"),
        work.join("enhancer"),
    );
    run(
        "cargo",
        &["build", "--release", "-p", "mvgen", "--features", "torch"],
    )?;
    let bin = mvgen_binary();
    let mvgen = |args: &[&str]| run(&bin, args);
    std::fs::create_dir_all(&work)?;
    gather_music(&work)?;
    let calibration = videos.join("director.json");
    mvgen(&[
        "dataset",
        "direct",
        &p(&songs.join("train")),
        "-o",
        &p(&videos),
        "--calibrate",
    ])?;
    mvgen(&[
        "train-enhancer",
        "--songs",
        &p(&songs.join("train")),
        "--calibration",
        &p(&calibration),
        "--generator",
        "models/default.onnx",
        "--run",
        &p(&run_dir),
        "--output",
        "models/default-enhancer.onnx",
        "--every",
        "15",
        "--from",
        "15",
        "--steps",
        ENHANCER_STEPS,
        "--name",
        "mvgen default enhancer",
        "--held-out",
        &p(&songs.join("held-out")),
    ])?;
    let quality: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("quality.json"))?)?;
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("config.json"))?)?;
    // The paths of the machine that made it say nothing to anyone else.
    if let Some(data) = config.get_mut("data").and_then(|d| d.as_object_mut()) {
        data.insert("songs".into(), p(&songs.join("train")).into());
        data.insert("calibration".into(), p(&calibration).into());
        data.insert("generator".into(), "models/default.onnx".into());
    }
    let path = Path::new("models/default.json");
    let mut record: serde_json::Value = serde_json::from_slice(&std::fs::read(path)?)?;
    if let Some(r) = record.as_object_mut() {
        r.insert(
            "enhancer".into(),
            serde_json::json!({
                "command": "cargo xtask train-default-enhancer",
                "file": "models/default-enhancer.onnx",
                "config": config,
                "quality": quality,
            }),
        );
    }
    std::fs::write(path, serde_json::to_vec_pretty(&record)?)?;
    eprintln!("models/default-enhancer.onnx and models/default.json written");
    Ok(())
}

/// Renders every held-out song whole with the new default model; `docs/default-look.png`
/// is eight frames, 4 s apart, of each song in `SHOWN` (one row per song). Returns what
/// `mvgen render` said of each song's reactions.
fn contact_sheet(work: &Path, held_out: &Path) -> Result<serde_json::Value> {
    let frames = work.join("look");
    let _ = std::fs::remove_dir_all(&frames);
    std::fs::create_dir_all(&frames)?;
    let mut rows = Vec::new();
    let mut said = Vec::new();
    for song in HELD_OUT {
        let dir = frames.join(song);
        let out = Command::new(mvgen_binary())
            .args(["render", &p(&held_out.join(format!("{song}.ogg")))])
            .args([
                "--model",
                "models/default.onnx",
                "-o",
                &p(&frames.join(format!("{song}.mp4"))),
            ])
            .args(["--frames-dir", &p(&dir), "--execution", "cpu"])
            .output()?;
        if !out.status.success() {
            return Err(
                std::io::Error::other(String::from_utf8_lossy(&out.stderr).into_owned()).into(),
            );
        }
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        said.push(serde_json::json!({
            "song": song,
            "render": stderr.lines().find(|l| l.starts_with("reacts:")).unwrap_or(""),
        }));
        if !SHOWN.contains(song) {
            continue;
        }
        // Frames 20 s to 48 s, 4 s apart.
        let row = frames.join(format!("row{}.png", rows.len()));
        run(
            "ffmpeg",
            &[
                "-v",
                "error",
                "-y",
                "-start_number",
                "600",
                "-i",
                &p(&dir.join("%06d.png")),
                "-vf",
                "select=not(mod(n\\,120)),scale=160:160,tile=8x1",
                "-frames:v",
                "1",
                &p(&row),
            ],
        )?;
        rows.push(row);
    }
    let mut args = vec!["-v".to_string(), "error".into(), "-y".into()];
    for r in &rows {
        args.extend(["-i".into(), p(r)]);
    }
    args.extend([
        "-filter_complex".into(),
        format!("vstack=inputs={}", rows.len()),
        "docs/default-look.png".into(),
    ]);
    run(
        "ffmpeg",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    )?;
    Ok(serde_json::Value::Array(said))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licences_come_from_the_most_specific_stanza() {
        let copyright = "Format: x\n\nFiles: *\nLicence-ish: no\nLicense: GPL-3+\n\n\
            Files: data/music/bay.ogg\n data/music/celtic*.ogg\nCopyright: someone\n\
            License: CC-BY-SA-3.0\n\nFiles: data/sfx/*\nLicense: CC0\n";
        let at = |f: &str| licence(copyright, &format!("/usr/share/games/stk/{f}"));
        assert_eq!(at("data/music/bay.ogg"), "CC-BY-SA-3.0");
        assert_eq!(at("data/music/celtic_fast.ogg"), "CC-BY-SA-3.0");
        assert_eq!(at("data/music/xeon6.ogg"), "GPL-3+");
        assert_eq!(at("data/sfx/boom.ogg"), "CC0");
        assert!(glob("a*c*e", "abcde") && !glob("a*c", "abcd") && glob("*", ""));
    }
}
