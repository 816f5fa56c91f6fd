//! What the editor shows of the frames, on the GUI thread, and only while it is open.
//!
//! - The newest generated frame, smoothed exactly as the bounce export smooths it
//!   ([`smooth_into`], the `smoothing` parameter), so the live picture is the exported one.
//! - Between two generated frames the picture cross-fades from the one before over one
//!   frame interval: frames come at 24-60 fps, the display repaints at its own rate, and
//!   the motion stays continuous instead of stepping.
//! - The spectrogram window the generator saw, grey as a dataset stores it: the paper's
//!   input/output pair, live.
//!
//! Pictures keep their aspect ratio in whatever area they get ([`letterbox`]). Textures are
//! egui's, uploaded only when a new frame arrives; painting is two textured quads.

use crate::worker::Published;
use egui::{Color32, ColorImage, Painter, Rect, TextureHandle, TextureId, TextureOptions};
use mvgen_core::frame::smooth_into;
use mvgen_core::spectrogram::SIZE;
use mvgen_core::Frame;
use std::time::{Duration, Instant};

const IMAGE_SIZE: [usize; 2] = [SIZE, SIZE];

pub struct Presenter {
    /// The publication last taken from the worker (`Published::sequence`).
    last_sequence: u64,
    /// The smoothed frame, as the export would write it.
    shown: Frame,
    /// Whether `shown` holds a frame yet (the first frame is shown as generated).
    primed: bool,
    /// Two frame textures: the newest and the one it fades from.
    frames: Option<[TextureHandle; 2]>,
    newest: usize,
    spectrogram: Option<TextureHandle>,
    /// When the newest frame arrived.
    arrived: Instant,
}

impl Default for Presenter {
    fn default() -> Self {
        Self {
            last_sequence: 0,
            shown: Frame::default(),
            primed: false,
            frames: None,
            newest: 0,
            spectrogram: None,
            arrived: Instant::now(),
        }
    }
}

impl Presenter {
    /// Take the worker's newest frame if it is new. Uploads at most one frame and one
    /// spectrogram per generated frame.
    pub fn update(&mut self, ctx: &egui::Context, published: &Published, smoothing: f32) {
        if published.sequence == self.last_sequence {
            return;
        }
        self.last_sequence = published.sequence;
        if let Some(window) = &published.spectrogram {
            let image = ColorImage::from_gray(IMAGE_SIZE, &window.to_gray8());
            match &mut self.spectrogram {
                Some(t) => t.set(image, TextureOptions::LINEAR),
                None => {
                    self.spectrogram =
                        Some(ctx.load_texture("mvgen-spectrogram", image, TextureOptions::LINEAR))
                }
            }
        }
        if let Some(generated) = &published.image {
            smooth_into(
                &mut self.shown,
                generated,
                if self.primed { smoothing } else { 0.0 },
            );
            self.primed = true;
            let image = ColorImage::from_rgb(IMAGE_SIZE, &self.shown.to_rgb8());
            self.push_frame(ctx, image);
        }
    }

    /// Make `image` the newest frame; the previous newest becomes the one it fades from.
    pub fn push_frame(&mut self, ctx: &egui::Context, image: ColorImage) {
        match &mut self.frames {
            Some(frames) => {
                self.newest = 1 - self.newest;
                frames[self.newest].set(image, TextureOptions::LINEAR);
            }
            None => {
                let load = |name, image| ctx.load_texture(name, image, TextureOptions::LINEAR);
                self.frames = Some([
                    load("mvgen-frame-a", image.clone()),
                    load("mvgen-frame-b", image),
                ]);
                self.newest = 0;
            }
        }
        self.arrived = Instant::now();
    }

    /// The (from, to) frame textures, once a frame has arrived.
    pub fn frame_textures(&self) -> Option<(TextureId, TextureId)> {
        self.frames
            .as_ref()
            .map(|f| (f[1 - self.newest].id(), f[self.newest].id()))
    }

    pub fn spectrogram_texture(&self) -> Option<TextureId> {
        self.spectrogram.as_ref().map(|t| t.id())
    }

    /// How far the fade to the newest frame has come, 0..=1, for frames `interval` apart.
    pub fn mix(&self, now: Instant, interval: Duration) -> f32 {
        fade(now.saturating_duration_since(self.arrived), interval)
    }

    /// Forget the pictures (the editor closed: its textures go with its context).
    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

/// How far a fade lasting `interval` has come after `elapsed`, 0..=1.
pub fn fade(elapsed: Duration, interval: Duration) -> f32 {
    if interval.is_zero() {
        return 1.0;
    }
    (elapsed.as_secs_f32() / interval.as_secs_f32()).clamp(0.0, 1.0)
}

/// The largest rectangle of `aspect` (width / height) centred in `area`, snapped to whole
/// points so that a picture shown 1:1 lands on whole pixels.
pub fn letterbox(area: Rect, aspect: f32) -> Rect {
    let (w, h) = (area.width(), area.height());
    let size = if w / h > aspect {
        egui::vec2(h * aspect, h)
    } else {
        egui::vec2(w, w / aspect)
    };
    let min = (area.center() - size / 2.0).round();
    Rect::from_min_size(min, size.round())
}

/// Paint `to` over `from`, `mix` of the way (0: all `from`), letterboxed square in `area`.
/// Blending happens on the 8-bit values, as [`smooth_into`] does on the frames.
pub fn paint_crossfade(painter: &Painter, area: Rect, from: TextureId, to: TextureId, mix: f32) {
    let rect = letterbox(area, 1.0);
    let uv = Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
    painter.image(from, rect, uv, Color32::WHITE);
    let alpha = (mix.clamp(0.0, 1.0) * 255.0).round() as u8;
    if alpha > 0 {
        painter.image(to, rect, uv, Color32::from_white_alpha(alpha));
    }
}

/// Paint one picture, letterboxed square in `area`.
pub fn paint_picture(painter: &Painter, area: Rect, texture: TextureId) {
    paint_crossfade(painter, area, texture, texture, 0.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letterbox_keeps_aspect_and_centres() {
        let area = Rect::from_min_size(egui::pos2(10.0, 20.0), egui::vec2(400.0, 200.0));
        let r = letterbox(area, 1.0);
        assert_eq!(
            r,
            Rect::from_min_size(egui::pos2(110.0, 20.0), egui::vec2(200.0, 200.0))
        );
        let tall = Rect::from_min_size(egui::pos2(0.0, 0.0), egui::vec2(100.0, 300.0));
        let r = letterbox(tall, 2.0);
        assert_eq!(
            r,
            Rect::from_min_size(egui::pos2(0.0, 125.0), egui::vec2(100.0, 50.0))
        );
    }

    #[test]
    fn fade_runs_over_one_interval() {
        let i = Duration::from_millis(40);
        assert_eq!(fade(Duration::ZERO, i), 0.0);
        assert!((fade(Duration::from_millis(10), i) - 0.25).abs() < 1e-6);
        assert_eq!(fade(Duration::from_millis(80), i), 1.0);
        assert_eq!(fade(Duration::from_millis(5), Duration::ZERO), 1.0);
    }

    #[test]
    fn first_frame_is_shown_as_generated_then_smoothed() {
        let ctx = egui::Context::default();
        let mut p = Presenter::default();
        let mut published = Published {
            sequence: 1,
            image: Some(Frame::from_planes(&vec![1.0; mvgen_core::frame::FRAME_VALUES]).unwrap()),
            ..Published::default()
        };
        p.update(&ctx, &published, 0.5);
        assert!(p.shown.planes().iter().all(|&v| v == 1.0));
        published.sequence = 2;
        published.image = Some(Frame::default()); // all -1
        p.update(&ctx, &published, 0.5);
        assert!(p.shown.planes().iter().all(|&v| v == 0.0));
        // The same publication again changes nothing.
        p.update(&ctx, &published, 0.5);
        assert!(p.shown.planes().iter().all(|&v| v == 0.0));
        let (from, to) = p.frame_textures().unwrap();
        assert_ne!(from, to);
    }
}
