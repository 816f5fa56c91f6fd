//! Reads the windows the plugin's worker wrote through its tap (`MVGEN_TAP_DIR`).

use mvgen_core::spectrogram::SIZE;
use mvgen_core::{Frame, SpectrogramWindow};
use std::path::Path;

#[derive(Debug, Clone)]
pub struct TappedWindow {
    pub frame: i64,
    pub timeline_sample: i64,
    pub window_end_44k: i64,
    pub window: SpectrogramWindow,
    /// The generated frame, when the worker had a generator.
    pub frame_image: Option<Frame>,
}

fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Errors the worker reported through the tap, one per line.
pub fn errors(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("errors.txt"))
        .map(|s| s.lines().map(String::from).collect())
        .unwrap_or_default()
}

/// The plugin's status counters as its worker stopped (`windows_dropped`, ...).
pub fn counters(dir: &Path) -> std::collections::HashMap<String, u64> {
    std::fs::read_to_string(dir.join("counters.txt"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter_map(|(name, value)| Some((name.to_string(), value.parse().ok()?)))
        .collect()
}

/// Whether the worker generated a frame for each window it received, in order: what
/// the tap's index says, also when it was kept to its index (`MVGEN_TAP_INDEX_ONLY`).
pub fn generated(dir: &Path) -> anyhow::Result<Vec<bool>> {
    let csv = std::fs::read_to_string(dir.join("windows.csv"))?;
    csv.lines()
        .skip(1)
        .map(|line| match line.split(',').nth(4) {
            Some("1") => Ok(true),
            Some("0") => Ok(false),
            _ => anyhow::bail!("bad tap line {line:?}"),
        })
        .collect()
}

/// Every window in the tap folder, in the order the worker received them.
pub fn read(dir: &Path) -> anyhow::Result<Vec<TappedWindow>> {
    let csv = std::fs::read_to_string(dir.join("windows.csv"))?;
    csv.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            anyhow::ensure!(f.len() == 6, "bad tap line {line:?}");
            let sequence: u64 = f[0].parse()?;
            let bytes = std::fs::read(dir.join(format!("{sequence:06}.f32")))?;
            anyhow::ensure!(
                bytes.len() == SIZE * SIZE * 4,
                "tap window of {} bytes",
                bytes.len()
            );
            let window = SpectrogramWindow::from_pixels(&floats(&bytes)).expect("size checked");
            let frame_image = if f[4] == "1" {
                let bytes = std::fs::read(dir.join(format!("{sequence:06}.frame.f32")))?;
                let frame = Frame::from_planes(&floats(&bytes));
                Some(frame.ok_or_else(|| anyhow::anyhow!("tap frame of {} bytes", bytes.len()))?)
            } else {
                None
            };
            Ok(TappedWindow {
                frame: f[1].parse()?,
                timeline_sample: f[2].parse()?,
                window_end_44k: f[3].parse()?,
                window,
                frame_image,
            })
        })
        .collect()
}
