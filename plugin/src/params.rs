//! The plugin's parameters. Ids are stable: they key saved sessions and automation.

use mvgen_core::Fps;
use nice_plug::prelude::*;

/// Video frame rate, as the host shows it.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FpsParam {
    #[id = "24"]
    #[name = "24 fps"]
    F24,
    #[id = "25"]
    #[name = "25 fps"]
    F25,
    #[id = "30"]
    #[name = "30 fps"]
    F30,
    #[id = "50"]
    #[name = "50 fps"]
    F50,
    #[id = "60"]
    #[name = "60 fps"]
    F60,
}

impl From<FpsParam> for Fps {
    fn from(p: FpsParam) -> Self {
        match p {
            FpsParam::F24 => Fps::F24,
            FpsParam::F25 => Fps::F25,
            FpsParam::F30 => Fps::F30,
            FpsParam::F50 => Fps::F50,
            FpsParam::F60 => Fps::F60,
        }
    }
}

/// Where the generator runs.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionParam {
    /// The GPU when one works, else the CPU.
    #[id = "auto"]
    #[name = "Auto"]
    Auto,
    #[id = "cpu"]
    #[name = "CPU"]
    Cpu,
    #[id = "gpu"]
    #[name = "GPU"]
    Gpu,
}

impl From<ExecutionParam> for mvgen_runtime::Execution {
    fn from(p: ExecutionParam) -> Self {
        match p {
            ExecutionParam::Auto => Self::Auto,
            ExecutionParam::Cpu => Self::Cpu,
            ExecutionParam::Gpu => Self::Gpu,
        }
    }
}

#[derive(Params)]
pub struct MvGenParams {
    /// Frames per second of the generated video. Stored as the variant id ("30").
    #[id = "fps"]
    pub fps: EnumParam<FpsParam>,
    /// Gain applied to the analysed signal only, in dB; the audio itself is never touched.
    /// Raises quiet material into the spectrogram's range.
    #[id = "input_gain_db"]
    pub input_gain_db: FloatParam,
    /// Where the generator runs. Read when a model loads (at activation, or when the
    /// user loads one), so a change applies from the next load.
    #[id = "execution"]
    pub execution: EnumParam<ExecutionParam>,
    /// Temporal smoothing of the shown and exported frames: each frame moves this far
    /// less than all the way to the newly generated one (0: none).
    #[id = "smoothing"]
    pub smoothing: FloatParam,
    /// Write the frames of every offline bounce (see `export.rs`).
    #[id = "export"]
    pub export: BoolParam,
    /// The video a bounce is encoded as (`bounce.mp4`), in `mvgen render`'s words
    /// (`--size`, `--aspect`, `--fill`). Parameters, so that every host saves them with
    /// the session and can set them (Ardour lists only automatable parameters, so they
    /// are); read once, when a bounce is finished.
    #[id = "video_size"]
    pub video_size: EnumParam<VideoSizeParam>,
    #[id = "video_aspect"]
    pub video_aspect: EnumParam<VideoAspectParam>,
    #[id = "video_fill"]
    pub video_fill: EnumParam<VideoFillParam>,
    /// The generator's path, saved with the session. Never touched by the audio thread.
    #[persist = "model"]
    pub model_path: std::sync::RwLock<Option<String>>,
    /// Where bounces are exported, saved with the session; unset means the default
    /// (`export::default_export_dir`).
    #[persist = "export_dir"]
    pub export_dir: std::sync::RwLock<Option<String>>,
    /// The look the session shows, by name and generator hash (`mvgen_look`), so that a
    /// session opened on another machine finds it there; `None` for a model loaded as a
    /// file.
    #[persist = "look"]
    pub look: std::sync::RwLock<Option<mvgen_look::LookId>>,
    /// Models loaded before, newest first, for the editor's "Recent" menu.
    #[persist = "recent_models"]
    pub recent_models: std::sync::RwLock<Vec<String>>,
}

/// The size of a bounce's video (`bounce.mp4`): its short side. The ids are
/// `mvgen render --size`'s words.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoSizeParam {
    #[id = "256"]
    #[name = "256 (as generated)"]
    S256,
    #[id = "720p"]
    #[name = "720p"]
    P720,
    #[id = "1080p"]
    #[name = "1080p"]
    P1080,
    #[id = "1440p"]
    #[name = "1440p"]
    P1440,
    #[id = "2160p"]
    #[name = "2160p (4K)"]
    P2160,
}

/// The shape of a bounce's video; ids are `--aspect`'s words.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoAspectParam {
    #[id = "16:9"]
    #[name = "16:9"]
    Wide,
    #[id = "9:16"]
    #[name = "9:16"]
    Tall,
    #[id = "1:1"]
    #[name = "1:1"]
    Square,
    #[id = "4:5"]
    #[name = "4:5"]
    Portrait,
}

/// How the square picture fills a video that is not square; ids are `--fill`'s words.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoFillParam {
    #[id = "blur"]
    #[name = "Blur"]
    Blur,
    #[id = "mirror"]
    #[name = "Mirror"]
    Mirror,
    #[id = "crop"]
    #[name = "Crop"]
    Crop,
    #[id = "black"]
    #[name = "Black"]
    Black,
}

/// A variant's id: the word `mvgen render` takes for it.
fn word<T: Enum + PartialEq + 'static>(param: &EnumParam<T>) -> &'static str {
    T::ids().expect("video parameters have ids")[param.value().to_index()]
}

/// Threads for the CPU provider inside a DAW: the DAW needs the other cores.
pub const CPU_THREADS: usize = 2;
/// Models remembered in the editor's "Recent" menu.
pub const RECENT_MODELS: usize = 8;

/// A persisted field's value (a lock poisoned by a panic still holds a valid value).
fn saved<T: Clone>(field: &std::sync::RwLock<T>) -> T {
    field.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Replace a persisted field's value.
fn save<T>(field: &std::sync::RwLock<T>, update: impl FnOnce(&mut T)) {
    update(&mut field.write().unwrap_or_else(|e| e.into_inner()));
}

impl MvGenParams {
    /// The model the session names, if any.
    pub fn saved_model(&self) -> Option<std::path::PathBuf> {
        saved(&self.model_path).map(Into::into)
    }

    pub fn set_model(&self, path: &std::path::Path) {
        save(&self.model_path, |m| {
            *m = Some(path.to_string_lossy().into_owned())
        });
    }

    /// The model to run: the one the session names, else `$MVGEN_MODEL`, else the
    /// embedded default. (A session's look is found again by the loader.)
    pub fn model_to_load(&self) -> Option<std::path::PathBuf> {
        self.saved_model()
            .or_else(|| std::env::var_os(crate::MODEL_ENV).map(Into::into))
            .or_else(|| match mvgen_default_model::path() {
                Ok(path) => Some(path),
                Err(e) => {
                    nice_plug::nice_log!("the default model could not be cached: {e}");
                    None
                }
            })
    }

    /// What the session names to run: its model and its look.
    pub fn session_choice(&self) -> (Option<std::path::PathBuf>, Option<mvgen_look::LookId>) {
        (self.saved_model(), self.saved_look())
    }

    /// The look the session names, if any.
    pub fn saved_look(&self) -> Option<mvgen_look::LookId> {
        saved(&self.look)
    }

    pub fn set_look(&self, look: Option<mvgen_look::LookId>) {
        save(&self.look, |l| *l = look);
    }

    /// Where bounces are exported: the session's folder, else the default.
    pub fn export_folder(&self) -> std::path::PathBuf {
        saved(&self.export_dir).map_or_else(crate::export::default_export_dir, Into::into)
    }

    pub fn set_export_folder(&self, dir: &std::path::Path) {
        save(&self.export_dir, |d| {
            *d = Some(dir.to_string_lossy().into_owned())
        });
    }

    /// Models loaded before, newest first.
    pub fn recent_models(&self) -> Vec<String> {
        saved(&self.recent_models)
    }

    /// Put `path` first among the recent models, keeping at most `keep`.
    pub fn remember_model(&self, path: &std::path::Path, keep: usize) {
        let text = path.to_string_lossy().into_owned();
        save(&self.recent_models, |recent| {
            recent.retain(|p| p != &text);
            recent.insert(0, text);
            recent.truncate(keep);
        });
    }

    /// The session's video format.
    pub fn video_format(&self) -> mvgen_video::Format {
        mvgen_video::Format::parse(
            word(&self.video_size),
            word(&self.video_aspect),
            word(&self.video_fill),
        )
        .expect("every choice of the video parameters is a format")
    }

    /// How a model loads now: the `execution` parameter and our thread budget.
    pub fn runtime_config(&self) -> mvgen_runtime::RuntimeConfig {
        mvgen_runtime::RuntimeConfig {
            execution: self.execution.value().into(),
            cpu_threads: CPU_THREADS,
        }
    }
}

impl Default for MvGenParams {
    fn default() -> Self {
        Self {
            fps: EnumParam::new("FPS", FpsParam::F30),
            input_gain_db: FloatParam::new(
                "Input gain",
                0.0,
                FloatRange::Linear {
                    min: -24.0,
                    max: 24.0,
                },
            )
            .with_unit(" dB")
            .with_step_size(0.1),
            execution: EnumParam::new("Execution", ExecutionParam::Auto),
            smoothing: FloatParam::new(
                "Smoothing",
                0.0,
                FloatRange::Linear {
                    min: 0.0,
                    max: 0.99,
                },
            )
            .with_step_size(0.01),
            export: BoolParam::new("Export on bounce", true),
            video_size: EnumParam::new("Video size", VideoSizeParam::P1080),
            video_aspect: EnumParam::new("Video aspect", VideoAspectParam::Wide),
            video_fill: EnumParam::new("Video fill", VideoFillParam::Blur),
            model_path: std::sync::RwLock::new(None),
            look: std::sync::RwLock::new(None),
            export_dir: std::sync::RwLock::new(None),
            recent_models: std::sync::RwLock::new(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn recent_models_are_newest_first_without_repeats() {
        let p = MvGenParams::default();
        for name in ["a", "b", "c", "a", "d"] {
            p.remember_model(Path::new(name), 3);
        }
        assert_eq!(p.recent_models(), ["d", "a", "c"]);
    }

    #[test]
    fn saved_folders_and_models_round_trip() {
        let p = MvGenParams::default();
        assert_eq!(p.saved_model(), None);
        assert_eq!(p.export_folder(), crate::export::default_export_dir());
        p.set_model(Path::new("/m/g.onnx"));
        p.set_export_folder(Path::new("/exports"));
        assert_eq!(p.saved_model().as_deref(), Some(Path::new("/m/g.onnx")));
        assert_eq!(p.export_folder(), Path::new("/exports"));
    }

    #[test]
    fn every_video_choice_is_a_format_and_the_default_is_1080p_wide_blur() {
        let f = MvGenParams::default().video_format();
        assert_eq!(
            (f.width(), f.height(), f.fill()),
            (1920, 1080, mvgen_video::Fill::Blur)
        );
        let ids = |ids: Option<&'static [&'static str]>| ids.unwrap().to_vec();
        for size in ids(VideoSizeParam::ids()) {
            for aspect in ids(VideoAspectParam::ids()) {
                for fill in ids(VideoFillParam::ids()) {
                    let f = mvgen_video::Format::parse(size, aspect, fill);
                    assert!(f.is_ok(), "{size} {aspect} {fill}: {f:?}");
                }
            }
        }
    }
}
