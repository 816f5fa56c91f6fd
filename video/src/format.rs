//! What a video looks like: its size, its shape, how the square picture meets a frame
//! that is not square, and the bitrate that suits them.
//!
//! One definition for every caller: `mvgen render`, `mvgen video` and the plugin's bounce
//! finisher parse the same words (`--size 1080p --aspect 9:16 --fill mirror`) into a
//! [`Format`], and a [`Format`] always has even pixel sizes (yuv420p needs them) no larger
//! than 4320p.

use std::fmt;
use std::str::FromStr;

/// The largest short side a video may have (8K's 4320 lines).
pub const MAX_SHORT_SIDE: u32 = 4320;

/// How big: the short side of the frame, or an exact width and height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// The short side in pixels (`256`, `720p`, `1080p`, `1440p`, `2160p`).
    Short(u32),
    /// Exactly this width and height (`1920x1080`); the aspect follows from it.
    Exact(u32, u32),
}

/// The frame's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aspect {
    Square,
    /// 16:9, landscape (YouTube, a screen).
    Wide,
    /// 9:16, portrait (Shorts, Reels, TikTok).
    Tall,
    /// 4:5, portrait (Instagram's feed).
    Portrait,
}

/// How the square picture meets a frame that is not square.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fill {
    /// A blurred, darkened zoom of the picture behind it.
    #[default]
    Blur,
    /// The picture reflected outwards from its edges (a kaleidoscope goes on), about
    /// lines [`MIRROR_INSET`] inside them.
    Mirror,
    /// The picture zoomed to fill the frame (its edges cut off).
    Crop,
    /// Black bars.
    Black,
}

/// The share of the square's side the mirror fill leaves out at each edge it reflects:
/// two of the generator's 256 pixels. A generator's outermost pixels are its least
/// reliable (padding shows there), and reflected about the very edge they met themselves
/// in a seam line across the frame.
pub const MIRROR_INSET: f32 = 2.0 / 256.0;

/// A bad size, aspect or fill, in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("unknown size {0:?}: use 256, 720p, 1080p, 1440p, 2160p or WIDTHxHEIGHT")]
    UnknownSize(String),
    #[error("unknown aspect {0:?}: use 1:1, 16:9, 9:16 or 4:5")]
    UnknownAspect(String),
    #[error("unknown fill {0:?}: use blur, mirror, crop or black")]
    UnknownFill(String),
    #[error("{width}x{height} has an odd side: H.264 in yuv420p needs even widths and heights")]
    Odd { width: u32, height: u32 },
    #[error("{width}x{height} is above 4320p (8K): the largest short side is {MAX_SHORT_SIDE}")]
    TooLarge { width: u32, height: u32 },
    #[error("{width}x{height} is too small: each side must be at least 16 pixels")]
    TooSmall { width: u32, height: u32 },
    #[error("{width}x{height} is stretched past 3:1: the square picture cannot fill it")]
    TooWide { width: u32, height: u32 },
}

impl FromStr for Size {
    type Err = FormatError;

    fn from_str(s: &str) -> Result<Self, FormatError> {
        let text = s.trim().to_ascii_lowercase();
        let unknown = || FormatError::UnknownSize(s.to_string());
        if let Some((w, h)) = text.split_once('x') {
            let (w, h) = (
                w.parse().map_err(|_| unknown())?,
                h.parse().map_err(|_| unknown())?,
            );
            return Ok(Size::Exact(w, h));
        }
        let lines = text.strip_suffix('p').unwrap_or(&text);
        let short: u32 = lines.parse().map_err(|_| unknown())?;
        Ok(Size::Short(short))
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Size::Short(256) => write!(f, "256"),
            Size::Short(n) => write!(f, "{n}p"),
            Size::Exact(w, h) => write!(f, "{w}x{h}"),
        }
    }
}

impl FromStr for Aspect {
    type Err = FormatError;

    fn from_str(s: &str) -> Result<Self, FormatError> {
        match s.trim() {
            "1:1" => Ok(Aspect::Square),
            "16:9" => Ok(Aspect::Wide),
            "9:16" => Ok(Aspect::Tall),
            "4:5" => Ok(Aspect::Portrait),
            _ => Err(FormatError::UnknownAspect(s.to_string())),
        }
    }
}

impl fmt::Display for Aspect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Aspect::Square => "1:1",
            Aspect::Wide => "16:9",
            Aspect::Tall => "9:16",
            Aspect::Portrait => "4:5",
        })
    }
}

impl Aspect {
    /// Width over height, as a fraction.
    pub fn ratio(self) -> (u32, u32) {
        match self {
            Aspect::Square => (1, 1),
            Aspect::Wide => (16, 9),
            Aspect::Tall => (9, 16),
            Aspect::Portrait => (4, 5),
        }
    }
}

impl FromStr for Fill {
    type Err = FormatError;

    fn from_str(s: &str) -> Result<Self, FormatError> {
        match s.trim() {
            "blur" => Ok(Fill::Blur),
            "mirror" => Ok(Fill::Mirror),
            "crop" => Ok(Fill::Crop),
            "black" => Ok(Fill::Black),
            _ => Err(FormatError::UnknownFill(s.to_string())),
        }
    }
}

impl fmt::Display for Fill {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fill::Blur => "blur",
            Fill::Mirror => "mirror",
            Fill::Crop => "crop",
            Fill::Black => "black",
        })
    }
}

/// A video's frame: checked even pixel sizes within the limits, and how the square picture
/// fills it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    width: u32,
    height: u32,
    fill: Fill,
}

impl Format {
    /// The frame for `size` in `aspect` (an exact size brings its own aspect), filled by
    /// `fill`. A short side and an aspect give the long side rounded to an even number.
    pub fn new(size: Size, aspect: Aspect, fill: Fill) -> Result<Self, FormatError> {
        let (width, height) = match size {
            Size::Exact(w, h) => (w, h),
            Size::Short(short) => {
                let (a, b) = aspect.ratio();
                let long = |num: u32, den: u32| {
                    (((short as u64 * num as u64) as f64 / den as f64 / 2.0).round() as u32) * 2
                };
                if a >= b {
                    (long(a, b), short)
                } else {
                    (short, long(b, a))
                }
            }
        };
        if width.min(height) > MAX_SHORT_SIDE || width.max(height) > 2 * MAX_SHORT_SIDE {
            return Err(FormatError::TooLarge { width, height });
        }
        if width % 2 == 1 || height % 2 == 1 {
            return Err(FormatError::Odd { width, height });
        }
        if width.min(height) < 16 {
            return Err(FormatError::TooSmall { width, height });
        }
        if width.max(height) > 3 * width.min(height) {
            return Err(FormatError::TooWide { width, height });
        }
        Ok(Self {
            width,
            height,
            fill,
        })
    }

    /// Parse the words the command line and the plugin's settings use.
    pub fn parse(size: &str, aspect: &str, fill: &str) -> Result<Self, FormatError> {
        Self::new(size.parse()?, aspect.parse()?, fill.parse()?)
    }

    /// The picture's own square at 256x256, as the generator makes it.
    pub fn square() -> Self {
        Self {
            width: mvgen_core::spectrogram::SIZE as u32,
            height: mvgen_core::spectrogram::SIZE as u32,
            fill: Fill::Black,
        }
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn fill(&self) -> Fill {
        self.fill
    }

    /// The side of the square picture in the frame: the frame's short side (or, cropped,
    /// its long side).
    pub fn picture_side(&self) -> u32 {
        match self.fill {
            Fill::Crop => self.width.max(self.height),
            _ => self.width.min(self.height),
        }
    }

    /// H.264 video bitrate in kb/s for `fps`: YouTube's upload recommendations by the
    /// short side (8 Mb/s for 1080p at 30 fps, 12 at 60; 40 for 2160p at 30), those for
    /// standard frame rates up to 30 fps and high ones above.
    pub fn video_kbps(&self, fps: u32) -> u32 {
        let high = fps > 30;
        let (standard, fast) = match self.width.min(self.height) {
            s if s >= 2160 => (40_000, 60_000),
            s if s >= 1440 => (16_000, 24_000),
            s if s >= 1080 => (8_000, 12_000),
            s if s >= 720 => (5_000, 7_500),
            s if s >= 480 => (2_500, 4_000),
            _ => (1_500, 2_500),
        };
        if high {
            fast
        } else {
            standard
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)?;
        if self.width != self.height {
            write!(f, ", {} fill", self.fill)?;
        }
        Ok(())
    }
}

/// AAC audio bitrate, kb/s.
pub const AUDIO_KBPS: u32 = 320;

#[cfg(test)]
mod tests {
    use super::*;

    fn dims(size: &str, aspect: &str) -> (u32, u32) {
        let f = Format::parse(size, aspect, "blur").unwrap();
        (f.width(), f.height())
    }

    #[test]
    fn sizes_and_aspects_make_the_platforms_frames() {
        assert_eq!(dims("1080p", "16:9"), (1920, 1080));
        assert_eq!(dims("2160p", "16:9"), (3840, 2160));
        assert_eq!(dims("1080p", "9:16"), (1080, 1920));
        assert_eq!(dims("1080p", "1:1"), (1080, 1080));
        assert_eq!(dims("1080p", "4:5"), (1080, 1350));
        assert_eq!(dims("720p", "16:9"), (1280, 720));
        assert_eq!(dims("720", "9:16"), (720, 1280));
        assert_eq!(dims("256", "1:1"), (256, 256));
        assert_eq!(dims("256", "16:9"), (456, 256), "rounded to an even width");
        assert_eq!(dims("1920x1080", "1:1"), (1920, 1080), "an exact size wins");
    }

    #[test]
    fn bad_words_and_sizes_say_what_to_use() {
        let err = |s: &str, a: &str, f: &str| Format::parse(s, a, f).unwrap_err().to_string();
        assert!(err("huge", "16:9", "blur").contains("unknown size \"huge\""));
        assert!(err("1080p", "3:2", "blur").contains("use 1:1, 16:9, 9:16 or 4:5"));
        assert!(err("1080p", "16:9", "smear").contains("use blur, mirror, crop or black"));
        assert!(err("1921x1080", "1:1", "blur").contains("odd side"));
        assert!(err("4321p", "1:1", "blur").contains("above 4320p"));
        assert!(err("8x8", "1:1", "blur").contains("too small"));
        assert!(err("4000x1000", "1:1", "blur").contains("past 3:1"));
    }

    #[test]
    fn bitrates_follow_the_size_and_the_frame_rate() {
        let f = |s: &str| Format::parse(s, "16:9", "blur").unwrap();
        assert_eq!(f("1080p").video_kbps(30), 8_000);
        assert_eq!(f("1080p").video_kbps(60), 12_000);
        assert_eq!(f("2160p").video_kbps(30), 40_000);
        assert_eq!(f("720p").video_kbps(25), 5_000);
    }
}
