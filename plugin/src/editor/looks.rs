//! The Look chooser: every look (the embedded one, the shipped ones, the user's) as its
//! thumbnail and name. The look folders are read, and the thumbnails decoded, on a
//! thread of their own when the window opens and on Refresh, so the window keeps
//! painting; choosing a look asks the worker to load it, as "Load model…" does.

use egui::{Color32, RichText};
use mvgen_look::{Catalogue, Look};
use std::sync::mpsc::{channel, Receiver};

/// The thumbnails' side, in points.
const THUMB: f32 = 52.0;

/// One look as the chooser shows it.
struct Shown {
    look: Look,
    image: Option<egui::ColorImage>,
    texture: Option<egui::TextureHandle>,
}

/// What a scan found.
struct Scanned {
    looks: Vec<(Look, Option<egui::ColorImage>)>,
    problems: Vec<String>,
}

#[derive(Default)]
pub struct Shelf {
    scan: Option<Receiver<Scanned>>,
    /// The reading threads started, joined when the window goes (each reads a few files),
    /// so that none outlives the plugin.
    threads: Vec<std::thread::JoinHandle<()>>,
    looks: Vec<Shown>,
    problems: Vec<String>,
}

impl Drop for Shelf {
    fn drop(&mut self) {
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Shelf {
    /// Read the look folders again (on a thread of its own).
    pub fn refresh(&mut self) {
        let (send, receive) = channel();
        let spawned = std::thread::Builder::new()
            .name("mvgen-looks".into())
            .spawn(move || {
                let catalogue = Catalogue::load();
                let looks = catalogue
                    .looks
                    .into_iter()
                    .map(|look| {
                        let image = look.thumbnail.as_deref().and_then(thumbnail);
                        (look, image)
                    })
                    .collect();
                let problems = catalogue.problems.iter().map(ToString::to_string).collect();
                let _ = send.send(Scanned { looks, problems });
            });
        self.threads.retain(|t| !t.is_finished());
        if let Ok(thread) = spawned {
            self.threads.push(thread);
            self.scan = Some(receive);
        }
    }

    /// A new window: its textures are gone.
    pub fn clear_textures(&mut self) {
        for shown in &mut self.looks {
            shown.texture = None;
        }
    }

    /// The chooser's row, the look whose generator has the hash `current` marked; returns
    /// the look the user chose, if they chose one.
    pub fn ui(&mut self, ui: &mut egui::Ui, current: Option<&str>) -> Option<Look> {
        if let Some(scanned) = self.scan.as_ref().and_then(|r| r.try_recv().ok()) {
            self.scan = None;
            self.looks = scanned
                .looks
                .into_iter()
                .map(|(look, image)| Shown {
                    look,
                    image,
                    texture: None,
                })
                .collect();
            self.problems = scanned.problems;
        }
        let mut chosen = None;
        ui.horizontal(|ui| {
            ui.vertical(|ui| {
                ui.label("Look");
                if ui
                    .small_button("Refresh")
                    .on_hover_text(format!(
                        "Read the look folders again (yours: {})",
                        mvgen_look::user_folder().display()
                    ))
                    .clicked()
                {
                    self.refresh();
                }
            });
            if self.scan.is_some() && self.looks.is_empty() {
                ui.label("Reading the looks…");
            }
            ui.horizontal_wrapped(|ui| {
                for shown in &mut self.looks {
                    let is_current = current == Some(shown.look.sha256.as_str());
                    if look_button(ui, shown, is_current).clicked() && !is_current {
                        chosen = Some(shown.look.clone());
                    }
                }
            });
        });
        if !self.problems.is_empty() {
            ui.label(
                RichText::new(format!(
                    "{} item(s) in the look folders are not looks",
                    self.problems.len()
                ))
                .color(Color32::GRAY),
            )
            .on_hover_text(self.problems.join("\n"));
        }
        chosen
    }
}

/// A look's thumbnail and name, as one button.
fn look_button(ui: &mut egui::Ui, shown: &mut Shown, selected: bool) -> egui::Response {
    if shown.texture.is_none() {
        if let Some(image) = &shown.image {
            shown.texture = Some(ui.ctx().load_texture(
                format!("look-{}", shown.look.sha256),
                image.clone(),
                egui::TextureOptions::LINEAR,
            ));
        }
    }
    let size = egui::vec2(THUMB, THUMB);
    let response = ui
        .vertical(|ui| {
            ui.set_width(THUMB + 12.0);
            let button = match &shown.texture {
                Some(t) => egui::Button::image(
                    egui::Image::from_texture(egui::load::SizedTexture::from_handle(t))
                        .fit_to_exact_size(size),
                ),
                None => egui::Button::new("no\npicture").min_size(size),
            };
            let response = ui.add(button.selected(selected));
            ui.label(RichText::new(shown.look.name()).small());
            response
        })
        .inner;
    response.on_hover_text(describe(&shown.look))
}

/// What the chooser says about a look when the pointer rests on it.
fn describe(look: &Look) -> String {
    let d = &look.description;
    let mut lines = vec![format!("{} ({})", d.name, look.origin)];
    if !d.author.is_empty() {
        lines.push(format!("by {}", d.author));
    }
    if !d.licence.is_empty() {
        lines.push(format!("material: {}", d.licence));
    }
    let n = d.reactivity.len() as f64;
    if n > 0.0 {
        let mean = |f: fn(&mvgen_look::Reactivity) -> f64| {
            d.reactivity.iter().map(|r| f(&r.numbers)).sum::<f64>() / n
        };
        lines.push(format!(
            "on songs it never saw: variety {:.1}, coupling {:.2}, motion {:.1}",
            mean(|r| r.variety),
            mean(|r| r.coupling),
            mean(|r| r.motion)
        ));
    }
    lines.extend(look.notes.iter().cloned());
    lines.join("\n")
}

/// A thumbnail file as an egui image (any size; drawn at [`THUMB`]).
fn thumbnail(path: &std::path::Path) -> Option<egui::ColorImage> {
    let rgba = image::open(path).ok()?.to_rgba8();
    let size = [rgba.width() as usize, rgba.height() as usize];
    Some(egui::ColorImage::from_rgba_unmultiplied(
        size,
        rgba.as_raw(),
    ))
}
