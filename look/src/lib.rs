//! Looks: what the picture looks like, as one thing a musician chooses.
//!
//! A look is a folder:
//! - `look.json`: its [`Description`] (name, author, the licence of its material, the
//!   network's width, its dataset, how it reacts on songs it never saw, how it was made);
//! - `generator.onnx`: the generator (the model contract, `mvgen_core::model::GENERATOR`);
//! - `enhancer.onnx` (optional): its enhancer (`mvgen_core::model::ENHANCER`); without
//!   one, frames are enlarged with a classical filter;
//! - `thumbnail.png` (optional): a frame of it, for choosers;
//! - `sheet.png` (optional): its contact sheet (`mvgen look show`).
//!
//! A bare pix2pix generator `NAME.onnx` dropped into a look folder is a look too, named
//! for its file, with `NAME.enhancer.onnx` beside it as its enhancer if there is one.
//!
//! Looks are found in three places, in this order: the embedded default (the one look
//! that is compiled in), the shipped looks (files in the bundle's resources, beside the
//! binary that contains this code, or in the project's `looks/` folder in development),
//! and the user's folder ([`user_folder`]). Names are unique, compared without case; a
//! second look with a name already taken is refused with a [`Problem`] saying where the
//! first is (the same look found twice, same name and generator, is simply the first). Nothing here runs a model: files are checked against the contracts only.

use mvgen_core::model::{self, ModelError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The `look.json` format this mvgen reads and writes.
pub const FORMAT: u32 = 1;
pub const DESCRIPTION: &str = "look.json";
pub const GENERATOR: &str = "generator.onnx";
pub const ENHANCER: &str = "enhancer.onnx";
pub const THUMBNAIL: &str = "thumbnail.png";
pub const SHEET: &str = "sheet.png";
/// The embedded look's name.
pub const DEFAULT_NAME: &str = "Default";
/// Overrides the user's look folder.
pub const LOOKS_DIR_ENV: &str = "MVGEN_LOOKS_DIR";

/// A look reacts to music when, on songs it never saw, its picture varies by at least
/// this much (mean per-pixel standard deviation, levels of 255)...
pub const MIN_VARIETY: f64 = 25.0;
/// ...with at least this coupling to the music (similar music, similar picture)...
pub const MIN_COUPLING: f64 = 0.3;
/// ...and without flicker: at most this mean change from one frame to the next (the
/// director's own videos move 3.8 to 8.4, the default look 1.0 to 6.4).
pub const MAX_MOTION: f64 = 10.0;

/// How a video reacts to its music (measured by `mvgen`'s `reactivity` module; README,
/// "How a look is measured").
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Reactivity {
    /// Mean change per frame at 32x32, levels of 255: high means flicker.
    pub motion: f64,
    /// Mean per-pixel standard deviation over the song.
    pub variety: f64,
    /// Spearman correlation of picture distance against music distance, frames > 1 s
    /// apart.
    pub coupling: f64,
    pub frames: usize,
}

impl std::fmt::Display for Reactivity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "motion {:.1}, variety {:.1} (levels of 255), coupling {:.2} over {} frames",
            self.motion, self.variety, self.coupling, self.frames
        )
    }
}

/// One song's reaction, in `look.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Reaction {
    pub song: String,
    #[serde(flatten)]
    pub numbers: Reactivity,
}

/// What falls short of the gates ([`MIN_VARIETY`], [`MIN_COUPLING`], [`MAX_MOTION`]) in
/// the mean over `reactions`, one clause each; empty when the look reacts.
pub fn shortfalls(reactions: &[Reaction]) -> Vec<String> {
    if reactions.is_empty() {
        return vec!["it was measured on no song".into()];
    }
    let n = reactions.len() as f64;
    let mean = |f: fn(&Reactivity) -> f64| reactions.iter().map(|r| f(&r.numbers)).sum::<f64>() / n;
    let (variety, coupling, motion) = (
        mean(|r| r.variety),
        mean(|r| r.coupling),
        mean(|r| r.motion),
    );
    let mut out = Vec::new();
    if variety < MIN_VARIETY {
        out.push(format!(
            "variety {variety:.1} where {MIN_VARIETY} is needed ({:.1} short)",
            MIN_VARIETY - variety
        ));
    }
    if coupling < MIN_COUPLING {
        out.push(format!(
            "coupling {coupling:.2} where {MIN_COUPLING} is needed ({:.2} short)",
            MIN_COUPLING - coupling
        ));
    }
    if motion > MAX_MOTION {
        out.push(format!(
            "motion {motion:.1} a frame where at most {MAX_MOTION} is calm (it flickers)"
        ));
    }
    out
}

/// A file a look was made from, and its licence.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Source {
    pub file: String,
    /// The package it came from, where it came from one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub package: String,
    #[serde(default)]
    pub licence: String,
}

/// `look.json`. Fields this mvgen does not know are kept out of its way (ignored).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Description {
    pub format: u32,
    pub name: String,
    #[serde(default)]
    pub author: String,
    /// The licence of the material it was made from (its songs and artwork), in words.
    #[serde(default)]
    pub licence: String,
    /// Every file of that material, with its licence, where it is known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub material: Vec<Source>,
    /// The generator's width.
    #[serde(default)]
    pub ngf: Option<u32>,
    /// The dataset it was trained on, in words.
    #[serde(default)]
    pub dataset: String,
    /// How it reacts on songs it never saw.
    #[serde(default)]
    pub reactivity: Vec<Reaction>,
    /// How it was made: the command, its budget, its stages (free form).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub made: serde_json::Value,
}

impl Description {
    /// A description with only a name: for a bare model in a look folder.
    pub fn named(name: &str) -> Self {
        Self {
            format: FORMAT,
            name: name.into(),
            author: String::new(),
            licence: String::new(),
            material: Vec::new(),
            ngf: None,
            dataset: String::new(),
            reactivity: Vec::new(),
            made: serde_json::Value::Null,
        }
    }

    /// Parse and check `look.json`'s text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let d: Self = serde_json::from_str(text)
            .map_err(|e| format!("{DESCRIPTION} is not a look description: {e}"))?;
        if d.format > FORMAT {
            return Err(format!(
                "{DESCRIPTION} is format {}, and this mvgen reads format {FORMAT}: it was made by a newer mvgen",
                d.format
            ));
        }
        if d.name.trim().is_empty() {
            return Err(format!("{DESCRIPTION} gives the look no name"));
        }
        Ok(d)
    }
}

/// Where a look comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    /// Compiled into the binary.
    Embedded,
    /// Shipped in the bundle's (or the project's) look folder.
    Shipped,
    /// The user's look folder.
    User,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Origin::Embedded => "embedded",
            Origin::Shipped => "shipped",
            Origin::User => "yours",
        })
    }
}

/// A look that was found and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Look {
    pub description: Description,
    pub origin: Origin,
    /// The look's folder, the bare model's file, or `None` for the embedded look.
    pub location: Option<PathBuf>,
    pub generator: PathBuf,
    /// `None`: frames are enlarged with a classical filter (and `notes` says why).
    pub enhancer: Option<PathBuf>,
    pub thumbnail: Option<PathBuf>,
    pub sheet: Option<PathBuf>,
    /// The SHA-256 of the generator's bytes, hex.
    pub sha256: String,
    /// What a user should know: no enhancer, a refused enhancer.
    pub notes: Vec<String>,
}

impl Look {
    pub fn name(&self) -> &str {
        &self.description.name
    }

    /// The look as a session saves it.
    pub fn id(&self) -> LookId {
        LookId {
            name: self.name().into(),
            sha256: self.sha256.clone(),
        }
    }

    /// The embedded default look (its files written to the cache folder on first use).
    pub fn embedded() -> Result<Self, Problem> {
        let problem = |reason: String| Problem {
            path: mvgen_default_model::cache_dir(),
            reason,
        };
        let generator = mvgen_default_model::path()
            .map_err(|e| problem(format!("writing the default look: {e}")))?;
        let info = model::inspect(&generator).map_err(|e| problem(e.to_string()))?;
        let mut description = Description::parse(mvgen_default_model::LOOK)
            .map_err(|e| problem(format!("the embedded look: {e}")))?;
        description.name = DEFAULT_NAME.into();
        Ok(Self {
            description,
            origin: Origin::Embedded,
            location: None,
            generator,
            enhancer: mvgen_default_model::enhancer_path().ok(),
            thumbnail: mvgen_default_model::thumbnail_path().ok(),
            sheet: None,
            sha256: info.sha256,
            notes: Vec::new(),
        })
    }

    /// Delete a look of the user's: its folder, or a bare model and its enhancer.
    pub fn remove(&self) -> Result<(), Problem> {
        let location = match (&self.location, self.origin) {
            (Some(l), Origin::User) => l,
            _ => {
                return Err(Problem {
                    path: self.location.clone().unwrap_or_default(),
                    reason: format!(
                        "\"{}\" is {} with mvgen, not one of yours: it cannot be removed",
                        self.name(),
                        if self.origin == Origin::Embedded {
                            "embedded"
                        } else {
                            "shipped"
                        }
                    ),
                })
            }
        };
        let removed = if location.is_dir() {
            std::fs::remove_dir_all(location)
        } else {
            std::fs::remove_file(location).and_then(|()| match &self.enhancer {
                Some(e) => std::fs::remove_file(e),
                None => Ok(()),
            })
        };
        removed.map_err(|e| Problem {
            path: location.clone(),
            reason: format!("removing it: {e}"),
        })
    }
}

/// A look as a session saves it: by name, and by the hash of its generator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookId {
    pub name: String,
    pub sha256: String,
}

/// Why a file or folder in a look folder is not a look, in one line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct Problem {
    pub path: PathBuf,
    pub reason: String,
}

/// Every look that was found, and every problem met on the way.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    pub looks: Vec<Look>,
    pub problems: Vec<Problem>,
}

/// What became of a saved look.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution<'a> {
    /// The same name and generator.
    Found(&'a Look),
    /// The same generator under another name (the look was renamed).
    Renamed(&'a Look),
    /// The same name with another generator (the look was remade).
    Changed(&'a Look),
    /// Not on this machine.
    Missing,
}

impl Catalogue {
    /// The embedded look, the shipped ones, then the user's.
    pub fn load() -> Self {
        let mut folders: Vec<(Origin, PathBuf)> = shipped_folders()
            .into_iter()
            .map(|f| (Origin::Shipped, f))
            .collect();
        folders.push((Origin::User, user_folder()));
        let mut catalogue = Self::default();
        match Look::embedded() {
            Ok(look) => catalogue.looks.push(look),
            Err(p) => catalogue.problems.push(p),
        }
        catalogue.scan(&folders);
        catalogue
    }

    /// Add the looks in `folders`, in order (a missing folder has none).
    pub fn scan(&mut self, folders: &[(Origin, PathBuf)]) {
        for (origin, folder) in folders {
            let Ok(entries) = std::fs::read_dir(folder) else {
                continue;
            };
            let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            paths.sort();
            for path in paths {
                let name = path
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                // Hidden entries are work in progress (`.NAME.part` while installing).
                if name.starts_with('.') {
                    continue;
                }
                let found = if path.is_dir() {
                    Some(read_folder(&path, *origin))
                } else if name.ends_with(".onnx") && !name.ends_with(".enhancer.onnx") {
                    Some(read_bare(&path, *origin))
                } else {
                    None
                };
                match found {
                    Some(Ok(look)) => self.add(look),
                    Some(Err(p)) => self.problems.push(p),
                    None => {}
                }
            }
        }
    }

    fn add(&mut self, look: Look) {
        if let Some(first) = self.get(look.name()) {
            if first.sha256 == look.sha256 {
                // The same look found twice (a bundle's copy beside the project's, or a
                // user's copy of a shipped one): the first counts.
                return;
            }
            self.problems.push(Problem {
                path: look.location.clone().unwrap_or_default(),
                reason: format!(
                    "another look is already named \"{}\" ({}); rename one in its {DESCRIPTION}",
                    first.name(),
                    first
                        .location
                        .as_ref()
                        .map_or_else(|| "the embedded one".into(), |p| p.display().to_string())
                ),
            });
        } else {
            self.looks.push(look);
        }
    }

    /// The look named `name` (case and surrounding space aside).
    pub fn get(&self, name: &str) -> Option<&Look> {
        let name = name.trim();
        self.looks
            .iter()
            .find(|l| l.name().trim().eq_ignore_ascii_case(name))
    }

    /// The look named `name`, or why there is none, in one line.
    pub fn find(&self, name: &str) -> Result<&Look, String> {
        self.get(name).ok_or_else(|| {
            let problem = self
                .problems
                .iter()
                .find(|p| {
                    p.path
                        .file_stem()
                        .is_some_and(|s| s.to_string_lossy().eq_ignore_ascii_case(&slug(name)))
                })
                .map(|p| format!(" ({p})"))
                .unwrap_or_default();
            format!(
                "there is no look named \"{name}\"{problem}; the looks are: {}",
                self.looks
                    .iter()
                    .map(|l| format!("\"{}\"", l.name()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    }

    /// Where a session's saved look is now.
    pub fn resolve(&self, saved: &LookId) -> Resolution<'_> {
        let by_name = self.get(&saved.name);
        if let Some(look) = by_name.filter(|l| l.sha256 == saved.sha256) {
            return Resolution::Found(look);
        }
        if let Some(look) = self.looks.iter().find(|l| l.sha256 == saved.sha256) {
            return Resolution::Renamed(look);
        }
        by_name.map_or(Resolution::Missing, Resolution::Changed)
    }

    /// The look whose generator is the file at `generator`, if any.
    pub fn by_generator(&self, generator: &Path) -> Option<&Look> {
        self.looks.iter().find(|l| l.generator == generator)
    }
}

/// A look folder.
fn read_folder(dir: &Path, origin: Origin) -> Result<Look, Problem> {
    let problem = |reason: String| Problem {
        path: dir.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(dir.join(DESCRIPTION)).map_err(|e| {
        problem(match e.kind() {
            std::io::ErrorKind::NotFound => format!(
                "no {DESCRIPTION}: a look folder holds {DESCRIPTION} and {GENERATOR} (`mvgen look new` makes one)"
            ),
            _ => format!("reading {DESCRIPTION}: {e}"),
        })
    })?;
    let description = Description::parse(&text).map_err(problem)?;
    let generator = dir.join(GENERATOR);
    let info = model::inspect(&generator).map_err(|e| problem(format!("{GENERATOR}: {e}")))?;
    let (enhancer, notes) = enhancer(&dir.join(ENHANCER));
    let file = |name: &str| Some(dir.join(name)).filter(|p| p.is_file());
    Ok(Look {
        description,
        origin,
        location: Some(dir.to_owned()),
        generator,
        enhancer,
        thumbnail: file(THUMBNAIL),
        sheet: file(SHEET),
        sha256: info.sha256,
        notes,
    })
}

/// A bare generator in a look folder.
fn read_bare(path: &Path, origin: Origin) -> Result<Look, Problem> {
    let info = model::inspect(path).map_err(|e| Problem {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let stem = path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let (enhancer, notes) = enhancer(&path.with_file_name(format!("{stem}.enhancer.onnx")));
    let mut description = Description::named(&stem);
    description.ngf = info.ngf;
    description.dataset = info.dataset.clone().unwrap_or_default();
    Ok(Look {
        description,
        origin,
        location: Some(path.to_owned()),
        generator: path.to_owned(),
        enhancer,
        thumbnail: None,
        sheet: None,
        sha256: info.sha256,
        notes,
    })
}

/// The enhancer at `path` if it is there and keeps the contract; otherwise what the
/// user should know.
fn enhancer(path: &Path) -> (Option<PathBuf>, Vec<String>) {
    match model::read(path, &model::ENHANCER) {
        Ok(_) => (Some(path.to_owned()), Vec::new()),
        Err(ModelError::Missing(_)) => (
            None,
            vec!["no enhancer: frames are enlarged with a classical filter".into()],
        ),
        Err(e) => (
            None,
            vec![format!(
                "its enhancer was refused ({e}): frames are enlarged with a classical filter"
            )],
        ),
    }
}

/// The enhancer that goes with the generator at `generator`: the default look's, a look
/// folder's `enhancer.onnx`, or `NAME.enhancer.onnx` beside `NAME.onnx`.
pub fn enhancer_for(generator: &Path) -> Option<PathBuf> {
    if mvgen_default_model::is_default(generator) {
        return mvgen_default_model::enhancer_path().ok();
    }
    let dir = generator.parent()?;
    let beside = if generator.file_name()? == GENERATOR && dir.join(DESCRIPTION).is_file() {
        dir.join(ENHANCER)
    } else {
        let stem = generator.file_stem()?.to_string_lossy().into_owned();
        generator.with_file_name(format!("{stem}.enhancer.onnx"))
    };
    beside.is_file().then_some(beside)
}

/// The user's look folder: `$MVGEN_LOOKS_DIR`, `$XDG_DATA_HOME/mvgen/looks`, or
/// `~/.local/share/mvgen/looks`.
pub fn user_folder() -> PathBuf {
    if let Some(dir) = std::env::var_os(LOOKS_DIR_ENV) {
        return PathBuf::from(dir);
    }
    data_dir().join("looks")
}

/// `$XDG_DATA_HOME/mvgen`, `~/.local/share/mvgen`, or the temporary folder's `mvgen`.
pub fn data_dir() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/share")))
        .or_else(|| std::env::var_os("APPDATA").map(PathBuf::from))
        .unwrap_or_else(std::env::temp_dir)
        .join("mvgen")
}

/// The shipped look folders that exist: `looks/` in a VST3 bundle's `Resources/`, in
/// `mvgen-libs/` beside a CLAP plugin or a bundled `mvgen`, in `lib/mvgen/` beside an
/// installed `bin/mvgen` (`scripts/demo.sh`), and the project's own `looks/` for
/// development builds.
pub fn shipped_folders() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let exe = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf));
    for dir in mvgen_runtime::library::own_binary_dir()
        .into_iter()
        .chain(exe)
    {
        dirs.push(dir.join("looks"));
        dirs.push(dir.join(mvgen_runtime::library::LIB_DIR).join("looks"));
        if let Some(up) = dir.parent() {
            dirs.push(up.join("Resources/looks"));
            dirs.push(up.join("lib/mvgen/looks"));
        }
    }
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../looks"));
    let mut out: Vec<PathBuf> = Vec::new();
    for dir in dirs {
        if let Ok(dir) = dir.canonicalize() {
            if dir.is_dir()
                && !out.contains(&dir)
                && Some(&dir) != user_folder().canonicalize().ok().as_ref()
            {
                out.push(dir);
            }
        }
    }
    out
}

/// A folder name for a look's name: lower case letters, digits and dashes.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "look".into()
    } else {
        out
    }
}

#[cfg(test)]
mod tests;
