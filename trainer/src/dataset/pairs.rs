//! Reading aligned Pix2Pix pairs: ours, and those of any dataset in pix2pix's "aligned"
//! layout (A on the left, B on the right, any size, PNG or JPEG), so that we can train on
//! datasets the official code uses.
//!
//! A becomes the model input: resized to 256x256 if it is not, and turned to grey (ours
//! store the spectrogram as equal RGB channels, so this is exact for them). B becomes a
//! 256x256 RGB frame.

use anyhow::{ensure, Context};
use image::imageops::FilterType;
use image::RgbImage;
use mvgen_core::spectrogram::SIZE;
use mvgen_core::SpectrogramWindow;
use std::path::{Path, PathBuf};

pub struct Pair {
    pub spectrogram: SpectrogramWindow,
    pub frame: RgbImage,
}

pub fn load_pair(path: &Path) -> anyhow::Result<Pair> {
    let image = image::open(path)
        .with_context(|| format!("reading {}", path.display()))?
        .to_rgb8();
    let (w, h) = image.dimensions();
    ensure!(
        w >= 2 && h >= 1 && w % 2 == 0,
        "{}: {w}x{h} is not an aligned pair (A|B side by side)",
        path.display()
    );
    let half = |x0: u32| {
        let view = image::imageops::crop_imm(&image, x0, 0, w / 2, h).to_image();
        if view.dimensions() == (SIZE as u32, SIZE as u32) {
            view
        } else {
            image::imageops::resize(&view, SIZE as u32, SIZE as u32, FilterType::Triangle)
        }
    };
    let a = half(0);
    let gray: Vec<u8> = a
        .pixels()
        .map(|p| ((p[0] as u32 * 299 + p[1] as u32 * 587 + p[2] as u32 * 114 + 500) / 1000) as u8)
        .collect();
    let spectrogram = SpectrogramWindow::from_gray8(&gray).context("pair size")?;
    Ok(Pair {
        spectrogram,
        frame: half(w / 2),
    })
}

/// The pair files of one split (`train`, `val`, `test`), sorted.
pub fn list(dataset: &Path, split: &str) -> Vec<PathBuf> {
    let Ok(dir) = std::fs::read_dir(dataset.join(split)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = dir
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_pairs_read_back_exactly() {
        let gray: Vec<u8> = (0..SIZE * SIZE).map(|i| (i % 251) as u8).collect();
        let rgb: Vec<u8> = (0..SIZE * SIZE * 3).map(|i| (i % 253) as u8).collect();
        let dir = std::env::temp_dir().join(format!("mvgen-pairs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("p.png");
        std::fs::write(&path, crate::dataset::pair_png(&gray, &rgb).unwrap()).unwrap();
        let pair = load_pair(&path).unwrap();
        assert_eq!(pair.spectrogram.to_gray8(), gray);
        assert_eq!(pair.frame.into_raw(), rgb);
        std::fs::remove_dir_all(dir).ok();
    }
}
