//! `cargo xtask train-looks [NAME...]`: the shipped looks, each made by `mvgen look new`
//! from free music and artwork in Debian packages, into `looks/<name>/`; and `cargo xtask
//! looks-gallery`: `docs/looks.png`, every look on the same held-out song.
//!
//! The music is the default model's (`default_model::gather_music`, each track's package
//! and licence from its DEP-5 copyright file); none of a look's songs is one the default
//! held out, so all looks can be shown on one song none of them saw. The artwork is
//! downloaded with `apt-get download`, unpacked with `dpkg -x`, and each picture's
//! licence read from its package's copyright file the same way. Every file a look was
//! made from is listed in its `look.json` (`material`), with package, version and licence.
//!
//! The job runs in `target/looks/` (its own XDG data folder, so nothing lands in the
//! user's looks), with `mvgen look new` and the budget each recipe states.

use crate::default_model::{deb, gather_music, licence, mvgen_binary, p, run};
use std::path::PathBuf;
use std::process::Command;

type Result<T> = nice_plug_xtask::Result<T>;

/// A shipped look's recipe.
struct Recipe {
    name: &'static str,
    /// Training songs, by the default model's names for them.
    songs: &'static [&'static str],
    /// Songs it is measured on (`--held-out`), none trained on.
    held_out: &'static [&'static str],
    /// Its budget (`--minutes`).
    minutes: u32,
    /// Where its colours come from (`--colours`): "artwork" or "music".
    colours: &'static str,
    /// Artwork: (package, path in the package, its licence where the package's copyright
    /// file is not machine-readable; `None`: read from the DEP-5 copyright file).
    art: &'static [(&'static str, &'static str, Option<&'static str>)],
}

/// Each look is measured on songs of the same collections as those it learnt from (a
/// look that learnt game electronica, measured on orchestral songs, varied by 18.4 where
/// its own songs gave 26), none of them trained on, and chosen where the directed videos
/// themselves react: held out by position, one Ember song's own directed video coupled at
/// 0.05, below what any look of it could reach (`mvgen dataset direct --measure`).
/// Nightfall's: the wesnoth songs' directed videos vary by 33.8, 34.7 and 42.6 levels and
/// couple at 0.56, 0.54 and 0.45 (without artwork).
const WESNOTH_HELD_OUT: &[&str] = &[
    "wesnoth-the_king_is_dead",
    "wesnoth-traveling_minstrels",
    "wesnoth-vengeful",
];

/// Ember's: the middle 40 s of these, directed with Ember's artwork, vary by 34.1, 34.2
/// and 29.5 and couple at 0.48, 0.43 and 0.78.
const STK_HELD_OUT: &[&str] = &["stk-celtic", "stk-theGreatFair", "stk-valley"];

/// gnome-backgrounds' copyright file is prose: it names licences for some images and
/// puts the package under GPL-2+; images it does not name are under that.
const GNOME_PACKAGE: Option<&str> = Some("GPL-2+ (gnome-backgrounds' licence)");
const GNOME: &str = "gnome-backgrounds";
const DEBIAN: &str = "desktop-base";

#[rustfmt::skip]
const LOOKS: &[Recipe] = &[
    Recipe {
        name: "Ember",
        songs: &[
            "stk-Boom_boom_boom", "stk-Lava", "stk-Penguin_Party", "stk-SkyVibe-HighFrequency",
            "stk-West", "stk-alien_signal", "stk-bay", "stk-cocoa_river", "stk-demonhill",
            "stk-egypt", "stk-farm", "stk-garden", "stk-hacienda",
            "stk-jumping_to_the_stars_remake", "stk-kart_grand_prix", "stk-klabauter_dance",
            "stk-menutheme", "stk-overworld", "stk-snowmountain", "stk-subsea",
        ],
        held_out: STK_HELD_OUT,
        minutes: 30,
        // Its artwork's hues lie within a sixth of the wheel: its own colours (red to
        // gold) left its directed videos of the held-out songs varying by 28.9, 28.6
        // (against 33.6, 34.4 with the music's), too little for a look to keep 25.
        colours: "music",
        // GNOME's warm backgrounds: golden pixels, orange hexagons, wood.
        art: &[
            (GNOME, "usr/share/backgrounds/gnome/grid-l.webp", GNOME_PACKAGE),
            (GNOME, "usr/share/backgrounds/gnome/truchet-l.webp", GNOME_PACKAGE),
            (GNOME, "usr/share/backgrounds/gnome/wood-d.webp", GNOME_PACKAGE),
            (GNOME, "usr/share/backgrounds/gnome/wood-l.webp", GNOME_PACKAGE),
        ],
    },
    Recipe {
        name: "Nightfall",
        songs: &[
            "hyperrogue-hr-domina-hunting", "hyperrogue-hr-domina-mountain",
            "hyperrogue-hr-savino-palace", "hyperrogue-hr3-caves", "hyperrogue-hr3-crossroads",
            "hyperrogue-hr3-desert", "hyperrogue-hr3-graveyard", "hyperrogue-hr3-hell",
            "hyperrogue-hr3-icyland", "hyperrogue-hr3-jungle", "hyperrogue-hr3-laboratory",
            "hyperrogue-hr3-mirror", "hyperrogue-hr3-rlyeh", "wesnoth-battle-epic",
            "wesnoth-into_the_shadows", "wesnoth-the_deep_path", "wesnoth-underground",
            "wesnoth-suspense", "wesnoth-northerners", "wesnoth-knalgan_theme",
        ],
        held_out: WESNOTH_HELD_OUT,
        // 45: the shipped run trained 7 epochs in 36.3 minutes and varies by 29.9 over
        // the three whole songs (its director 38.4). 6 epochs had varied by 23.2 on
        // 40 s excerpts, which vary far less (BENCHMARKS.md, "Looks").
        minutes: 45,
        // Navy and teal to lilac, its artwork's own: its directed video of "the king is
        // dead" varies by 38.2 (36.1 with the music's colours).
        colours: "artwork",
        // Debian's desktop themes (their boot screens' pictures), and GNOME's blue and
        // violet backgrounds ("adwaita*" is named in its copyright file: Jakub Steiner).
        art: &[
            (DEBIAN, "usr/share/desktop-base/emerald-theme/grub/grub-16x9.png", None),
            (DEBIAN, "usr/share/desktop-base/homeworld-theme/grub/grub-16x9.png", None),
            (DEBIAN, "usr/share/desktop-base/softwaves-theme/grub/grub-16x9.png", None),
            (DEBIAN, "usr/share/desktop-base/moonlight-theme/grub/grub-16x9.png", None),
            (DEBIAN, "usr/share/desktop-base/spacefun-theme/grub/grub-16x9.png", None),
            (GNOME, "usr/share/backgrounds/gnome/adwaita-d.webp", Some("CC-BY-SA-3.0")),
            (GNOME, "usr/share/backgrounds/gnome/grid-d.webp", GNOME_PACKAGE),
            (GNOME, "usr/share/backgrounds/gnome/truchet-d.webp", GNOME_PACKAGE),
        ],
    },
];

/// The held-out song the gallery shows (no look trained on it), and its moments: 8 s
/// apart from 30 s, at 30 fps.
const GALLERY_SONG: &str = "stk-xeon6";
const GALLERY_FRAMES: [u32; 4] = [900, 1140, 1380, 1620];

fn root() -> Result<()> {
    let root = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(|d| PathBuf::from(d).join(".."))
        .unwrap_or_else(|| PathBuf::from("."));
    std::env::set_current_dir(&root)?;
    Ok(())
}

fn error(message: String) -> anyhow::Error {
    anyhow::Error::msg(message)
}

/// `cargo xtask train-looks [--keep | --enhancers] [NAME...]` (all of them without names;
/// `--keep`: ship again a look made before, with its provenance, without making it again;
/// `--enhancers`: teach each shipped look's enhancer again, for the generator it ships).
pub fn train_looks(args: &[String]) -> Result<()> {
    let keep = args.iter().any(|a| a == "--keep");
    let enhancers = args.iter().any(|a| a == "--enhancers");
    let names: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    root()?;
    let music_work = PathBuf::from("target/default-model");
    let tracks = gather_music(&music_work)?;
    let track = |song: &str| -> Result<serde_json::Value> {
        tracks
            .as_array()
            .and_then(|t| t.iter().find(|t| t["song"] == song))
            .cloned()
            .ok_or_else(|| error(format!("{song} is not among the gathered music")))
    };
    let work = PathBuf::from("target/looks");
    let debs = work.join("debs");
    for recipe in LOOKS
        .iter()
        .filter(|r| names.is_empty() || names.iter().any(|n| n.eq_ignore_ascii_case(r.name)))
    {
        let slug = recipe.name.to_lowercase();
        let dir = work.join(&slug);
        let _ = std::fs::remove_dir_all(&dir);
        let (songs, held_out, art) = (dir.join("songs"), dir.join("held-out"), dir.join("art"));
        std::fs::create_dir_all(&songs)?;
        std::fs::create_dir_all(&held_out)?;
        std::fs::create_dir_all(&art)?;
        let mut material = Vec::new();
        let all = (recipe.songs.iter().map(|s| (s, &songs)))
            .chain(recipe.held_out.iter().map(|s| (s, &held_out)));
        for (&song, into) in all {
            let t = track(song)?;
            let file = music_work.join("songs/train").join(format!("{song}.ogg"));
            std::os::unix::fs::symlink(
                std::fs::canonicalize(&file)?,
                into.join(format!("{song}.ogg")),
            )?;
            material.push(serde_json::json!({
                "file": t["file"], "package": format!("{} {}", t["package"].as_str().unwrap_or(""), t["version"].as_str().unwrap_or("")),
                "licence": t["licence"],
            }));
        }
        let mut licences: Vec<String> = Vec::new();
        for &(package, file, stated) in recipe.art {
            let (deb, version) = deb(&debs, package)?;
            let unpacked = debs.join(format!("unpacked-{package}"));
            if !unpacked.is_dir() {
                run("dpkg", &["-x", &p(&deb), &p(&unpacked)])?;
            }
            let copyright = std::fs::read_to_string(
                unpacked.join(format!("usr/share/doc/{package}/copyright")),
            )
            .unwrap_or_default();
            let installed = format!("/{file}");
            let l = stated.map_or_else(|| licence(&copyright, &installed), String::from);
            // The director reads PNG and JPEG: other formats become PNG, 1024 wide.
            // Named for the file's last three path parts: desktop-base's themes each
            // have a `grub/grub-16x9.png`.
            let tail: Vec<&str> = file.rsplit('/').take(3).collect();
            let name = format!(
                "{package}-{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("-")
            )
            .replace(".webp", ".png");
            run(
                "ffmpeg",
                &[
                    "-v",
                    "error",
                    "-y",
                    "-i",
                    &p(&unpacked.join(file)),
                    "-vf",
                    "scale=1024:-2",
                    &p(&art.join(&name)),
                ],
            )?;
            if !licences.contains(&l) {
                licences.push(l.clone());
            }
            material.push(serde_json::json!({
                "file": installed, "package": format!("{package} {version}"), "licence": l,
            }));
        }
        if enhancers {
            enhancer_again(recipe, &dir)?;
            continue;
        }
        let data = work.join("data");
        let made = data.join("mvgen/looks").join(&slug);
        if !keep {
            let _ = std::fs::remove_dir_all(&made);
        }
        let shipped = PathBuf::from("looks").join(&slug);
        let _ = std::fs::remove_dir_all(&shipped);
        let licence_words = format!(
            "music under the licences listed per track (CC-BY-SA, GPL-3+, the Drascula licence); artwork under {}",
            licences.join(", ")
        );
        if !(keep && made.is_dir()) {
            let status = Command::new(mvgen_binary())
                .args([
                    "look",
                    "new",
                    recipe.name,
                    "--songs",
                    &p(&songs),
                    "--held-out",
                    &p(&held_out),
                    "--minutes",
                    &recipe.minutes.to_string(),
                ])
                .args([
                    "--material",
                    &p(&art),
                    "--colours",
                    recipe.colours,
                    "--author",
                    "mvgen (cargo xtask train-looks)",
                ])
                .args(["--licence", &licence_words])
                .env("XDG_DATA_HOME", &data)
                .env_remove("MVGEN_LOOKS_DIR")
                .status()?;
            if !status.success() {
                return Err(error(format!("mvgen look new {} failed", recipe.name)));
            }
        }
        // Shipped: the look's files, with every source file's package and licence.
        std::fs::create_dir_all(&shipped)?;
        for entry in std::fs::read_dir(&made)?.flatten() {
            std::fs::copy(entry.path(), shipped.join(entry.file_name()))?;
        }
        let path = shipped.join("look.json");
        let mut look: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
        look["material"] = serde_json::Value::Array(material);
        look["licence"] = licence_words.into();
        look["made"]["command"] = format!("cargo xtask train-looks {}", recipe.name).into();
        look["made"]["recipe"] = "xtask/src/looks.rs".into();
        std::fs::write(&path, serde_json::to_vec_pretty(&look)?)?;
        eprintln!("{} -> {}", recipe.name, shipped.display());
    }
    Ok(())
}

/// Teach the enhancer of the shipped look `recipe` again, for the generator it ships, as
/// `mvgen look new` teaches one (`trainer/src/look.rs`, stage "enhance"): the director's
/// calibration measured on its training songs, pairs every 3 s from 2 s of its training
/// and held-out songs with its artwork and colours, and the steps it was made with (the
/// pairs come in another order, so its crops are drawn otherwise). The songs and artwork
/// are in `dir` (set up as for a whole run); the run in `dir/enhancer`.
fn enhancer_again(recipe: &Recipe, dir: &std::path::Path) -> Result<()> {
    let shipped = PathBuf::from("looks").join(recipe.name.to_lowercase());
    let path = shipped.join("look.json");
    let mut look: serde_json::Value = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| {
            error(format!(
                "{} is not a shipped look: make it first",
                path.display()
            ))
        })?;
    let made = &look["made"];
    let held_out: Vec<String> = recipe.held_out.iter().map(|s| format!("{s}.ogg")).collect();
    if made["colours"] != recipe.colours || made["held_out"] != serde_json::json!(held_out) {
        return Err(error(format!(
            "{} was made with other colours or held-out songs than its recipe: make it again whole",
            path.display()
        )));
    }
    let steps = made["enhancer_steps"].as_u64().ok_or_else(|| {
        error(format!(
            "{} does not say its enhancer's steps",
            path.display()
        ))
    })?;
    let (videos, run_dir) = (dir.join("videos"), dir.join("enhancer"));
    let mvgen = |args: &[&str]| run(mvgen_binary(), args);
    mvgen(&[
        "dataset",
        "direct",
        &p(&dir.join("songs")),
        "-o",
        &p(&videos),
        "--calibrate",
    ])?;
    let name = format!("{} enhancer", recipe.name);
    mvgen(&[
        "train-enhancer",
        "--songs",
        &p(&dir.join("songs")),
        &p(&dir.join("held-out")),
        "--calibration",
        &p(&videos.join("director.json")),
        "--material",
        &p(&dir.join("art")),
        "--colours",
        recipe.colours,
        "--generator",
        &p(&shipped.join("generator.onnx")),
        "--run",
        &p(&run_dir),
        "--output",
        &p(&shipped.join("enhancer.onnx")),
        "--every",
        "3",
        "--from",
        "2",
        "--steps",
        &steps.to_string(),
        "--name",
        &name,
    ])?;
    let record = serde_json::json!({
        "command": format!("cargo xtask train-looks --enhancers {}", recipe.name),
        "quality": serde_json::from_slice::<serde_json::Value>(
            &std::fs::read(run_dir.join("quality.json"))?
        )?,
    });
    look["made"]["enhancer"] = record.clone();
    std::fs::write(&path, serde_json::to_vec_pretty(&look)?)?;
    // The look as `look new` installed it, which `--keep` ships again, gets it too.
    let made = dir
        .join("../data/mvgen/looks")
        .join(recipe.name.to_lowercase());
    if made.is_dir() {
        std::fs::copy(shipped.join("enhancer.onnx"), made.join("enhancer.onnx"))?;
        let path = made.join("look.json");
        let mut look: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
        look["made"]["enhancer"] = record;
        std::fs::write(&path, serde_json::to_vec_pretty(&look)?)?;
    }
    eprintln!("{name} -> {}", shipped.join("enhancer.onnx").display());
    Ok(())
}

/// `cargo xtask looks-gallery`: `docs/looks.png`, a row per look (the embedded one and
/// the shipped ones) of the same moments of a held-out song, with its name and numbers.
pub fn gallery() -> Result<()> {
    root()?;
    let song =
        PathBuf::from("target/default-model/songs/held-out").join(format!("{GALLERY_SONG}.ogg"));
    if !song.exists() {
        return Err(error(format!(
            "{} is missing: run `cargo xtask train-looks` first (it gathers the music)",
            song.display()
        )));
    }
    let work = PathBuf::from("target/looks/gallery");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let mut names = vec!["Default".to_string()];
    let mut shipped: Vec<PathBuf> = std::fs::read_dir("looks")?
        .flatten()
        .map(|e| e.path())
        .collect();
    shipped.sort();
    for dir in &shipped {
        let look: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("look.json"))?)?;
        names.push(look["name"].as_str().unwrap_or_default().to_string());
    }
    let font = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
    let mut rows = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let frames = work.join(format!("frames-{i}"));
        let out = Command::new(mvgen_binary())
            .args([
                "render",
                &p(&song),
                "--look",
                name,
                "--size",
                "256",
                "--aspect",
                "1:1",
            ])
            .args([
                "-o",
                &p(&work.join(format!("{i}.mp4"))),
                "--frames-dir",
                &p(&frames),
                "--execution",
                "cpu",
            ])
            .env_remove("MVGEN_LOOKS_DIR")
            .output()?;
        if !out.status.success() {
            return Err(error(String::from_utf8_lossy(&out.stderr).into_owned()));
        }
        let said = String::from_utf8_lossy(&out.stderr);
        let reacts = said
            .lines()
            .find_map(|l| l.strip_prefix("reacts: "))
            .unwrap_or("")
            .to_string();
        // "motion 4.9, variety 29.2 (levels of 255), coupling 0.55 over 5000 frames"
        let number = |key: &str| {
            reacts
                .split(key)
                .nth(1)
                .and_then(|r| r.split([',', ' ']).nth(1))
                .unwrap_or("?")
                .to_string()
        };
        let label = format!(
            "{name}\nvariety {}\ncoupling {}\nmotion {}",
            number("variety"),
            number("coupling"),
            number("motion")
        );
        let label_file = work.join(format!("label-{i}.txt"));
        std::fs::write(&label_file, label)?;
        let mut args: Vec<String> = vec!["-v".into(), "error".into(), "-y".into()];
        for f in GALLERY_FRAMES {
            args.extend(["-i".into(), p(&frames.join(format!("{f:06}.png")))]);
        }
        args.extend([
            "-filter_complex".into(),
            format!(
                "hstack=inputs={},pad=iw+220:ih:220:0:color=0x202020,drawtext=fontfile={font}:textfile={}:x=14:y=24:fontsize=24:fontcolor=white:line_spacing=10",
                GALLERY_FRAMES.len(),
                p(&label_file)
            ),
        ]);
        let row = work.join(format!("row-{i}.png"));
        args.push(p(&row));
        run(
            "ffmpeg",
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        )?;
        rows.push(row);
    }
    let mut args: Vec<String> = vec!["-v".into(), "error".into(), "-y".into()];
    for r in &rows {
        args.extend(["-i".into(), p(r)]);
    }
    args.extend([
        "-filter_complex".into(),
        format!("vstack=inputs={}", rows.len()),
        "docs/looks.png".into(),
    ]);
    run(
        "ffmpeg",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    )?;
    eprintln!(
        "docs/looks.png: {} looks on {GALLERY_SONG} at 30, 38, 46 and 54 s",
        rows.len()
    );
    Ok(())
}
