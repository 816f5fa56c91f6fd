//! The loss curve of a run: per-epoch means of `losses.csv`, drawn with plotters.
//! Text needs a TrueType font: DejaVu Sans (Debian's `fonts-dejavu-core`, which
//! `scripts/setup.sh` installs) or the file `$MVGEN_FONT` names.

use anyhow::{bail, Context};
use plotters::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

fn font() -> anyhow::Result<()> {
    static FONT: OnceLock<Result<(), String>> = OnceLock::new();
    FONT.get_or_init(|| {
        let candidates = std::env::var("MVGEN_FONT")
            .ok()
            .into_iter()
            .chain(FONT_PATHS.iter().map(|s| s.to_string()));
        for path in candidates {
            if let Ok(bytes) = std::fs::read(&path) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return Ok(());
                }
            }
        }
        Err("no TrueType font found (install fonts-dejavu-core or set MVGEN_FONT)".into())
    })
    .clone()
    .map_err(anyhow::Error::msg)
}

/// Per-epoch means: (epoch, L1, G GAN, D total).
fn epoch_means(csv: &str) -> Vec<(usize, f64, f64, f64)> {
    let mut out: Vec<(usize, f64, f64, f64, usize)> = Vec::new();
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
        let (Some(e), Some(gan), Some(l1), Some(dr), Some(df)) =
            (num(0), num(3), num(4), num(5), num(6))
        else {
            continue;
        };
        let e = e as usize;
        if out.last().is_none_or(|o| o.0 != e) {
            out.push((e, 0.0, 0.0, 0.0, 0));
        }
        let o = out.last_mut().unwrap();
        (o.1, o.2, o.3, o.4) = (o.1 + l1, o.2 + gan, o.3 + 0.5 * (dr + df), o.4 + 1);
    }
    out.into_iter()
        .map(|(e, l1, g, d, n)| (e, l1 / n as f64, g / n as f64, d / n as f64))
        .collect()
}

pub fn loss_curve(csv: &Path, png: &Path) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(csv).with_context(|| format!("reading {}", csv.display()))?;
    let means = epoch_means(&text);
    if means.is_empty() {
        bail!("no losses yet");
    }
    font()?;
    let last = means.last().unwrap().0.max(2) as f64;
    let top = means
        .iter()
        .map(|m| m.1.max(m.2).max(m.3))
        .fold(0.0, f64::max)
        * 1.1
        + 1e-6;
    let root = BitMapBackend::new(png, (800, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("training losses (epoch means)", ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(1f64..last, 0f64..top)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("loss")
        .draw()?;
    type Pick = fn(&(usize, f64, f64, f64)) -> f64;
    let series: [(&str, RGBColor, Pick); 3] = [
        ("G L1", BLUE, |m| m.1),
        ("G GAN", RED, |m| m.2),
        ("D (real+fake)/2", GREEN, |m| m.3),
    ];
    for (name, colour, pick) in series {
        chart
            .draw_series(LineSeries::new(
                means.iter().map(|m| (m.0 as f64, pick(m))),
                colour.stroke_width(2),
            ))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn epoch_means_average_each_epoch() {
        let csv = "epoch,step,lr,g_gan,g_l1,d_real,d_fake,ms\n1,1,2e-4,1,0.5,0.2,0.4,3\n1,2,2e-4,3,0.3,0.4,0.6,3\n2,3,2e-4,2,0.1,0.1,0.1,3\n";
        let m = super::epoch_means(csv);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].0, 1);
        assert!((m[0].1 - 0.4).abs() < 1e-12 && (m[0].2 - 2.0).abs() < 1e-12);
        assert!((m[0].3 - 0.4).abs() < 1e-12);
        assert_eq!(m[1].0, 2);
    }
}
