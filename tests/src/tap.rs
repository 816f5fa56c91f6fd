//! Reads the windows the plugin's worker wrote through its tap (`MVGEN_TAP_DIR`).

use mvgen_core::spectrogram::SIZE;
use mvgen_core::SpectrogramWindow;
use std::path::Path;

#[derive(Debug, Clone)]
pub struct TappedWindow {
    pub frame: i64,
    pub timeline_sample: i64,
    pub window_end_44k: i64,
    pub window: SpectrogramWindow,
}

/// Every window in the tap folder, in the order the worker received them.
pub fn read(dir: &Path) -> anyhow::Result<Vec<TappedWindow>> {
    let csv = std::fs::read_to_string(dir.join("windows.csv"))?;
    csv.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            anyhow::ensure!(f.len() == 5, "bad tap line {line:?}");
            let bytes = std::fs::read(dir.join(format!("{:06}.f32", f[0].parse::<u64>()?)))?;
            anyhow::ensure!(
                bytes.len() == SIZE * SIZE * 4,
                "tap window of {} bytes",
                bytes.len()
            );
            let pixels: Vec<f32> = bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            Ok(TappedWindow {
                frame: f[1].parse()?,
                timeline_sample: f[2].parse()?,
                window_end_44k: f[3].parse()?,
                window: SpectrogramWindow::from_pixels(&pixels).expect("size checked"),
            })
        })
        .collect()
}
