//! The editor: one resizable window (egui on baseview, drawn with wgpu) that shows the
//! generated frames live beside the spectrogram the generator saw, and the controls.
//!
//! Threads: everything here runs on the editor's GUI thread, only while the window is
//! open. It reads the worker's newest frame from the triple buffer, the counters
//! (atomics) and the report (a mutex the audio thread never takes); it never touches the
//! audio thread. Models load on the worker's loader thread; file dialogs run on a thread
//! of their own so the window keeps painting while one is open.

mod looks;
pub mod offscreen;
pub mod presenter;

use crate::export::show_path;
use crate::params::MvGenParams;
use crate::status::{LoadRequest, Mode, Status};
use crate::worker::Published;
use egui::{Color32, RichText};
use nice_plug::prelude::{Param, ParamSetter};
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{create_egui_editor, EguiEditorState, EguiNiceSettings, NiceEguiApp};
use presenter::{paint_crossfade, paint_picture, Presenter};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The worker's newest frame, shared between activations (the plugin replaces the buffer
/// on each activation; the editor reads whichever is current).
pub type Latest = Arc<Mutex<Option<triple_buffer::Output<Published>>>>;

/// The window's first size, in logical points.
const DEFAULT_SIZE: (u32, u32) = (880, 560);
const MIN_SIZE: (f32, f32) = (560.0, 380.0);
/// How often the counters and the report refresh when no frame arrives.
const STATUS_REFRESH: Duration = Duration::from_millis(250);

pub fn default_state() -> Arc<EguiEditorState> {
    EguiEditorState::from_size(
        nice_plug::editor::dpi::LogicalSize::new(DEFAULT_SIZE.0 as f32, DEFAULT_SIZE.1 as f32),
        1.0,
    )
}

/// How the window draws: as the presenter test draws offscreen, without dithering (the
/// frames are 8-bit already; dithering would only add noise to them).
pub fn graphics_config() -> nice_plug_egui::GraphicsConfig {
    nice_plug_egui::GraphicsConfig {
        dithering: false,
        renderer_options: egui_wgpu::RendererOptions {
            dithering: false,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The editor as the plugin hands it to nice-plug: egui's, which also hears the host name
/// the track (CLAP track-info, VST3 `IInfoListener` reach only the editor), for bounce
/// manifests.
pub struct MvGenEditor {
    egui: nice_plug_egui::EguiEditor<EditorApp>,
    status: Arc<Status>,
}

impl nice_plug::editor::Editor for MvGenEditor {
    type Handle = <nice_plug_egui::EguiEditor<EditorApp> as nice_plug::editor::Editor>::Handle;

    fn spawn(
        &self,
        parent: Option<nice_plug::editor::ParentWindowHandle>,
        wait_for_parent: bool,
        fallback_scale_factor: Option<f64>,
        gui_context: nice_plug::context::gui::GuiContext,
        host: Option<nice_plug::editor::HostMethods>,
    ) -> Result<nice_plug::editor::SpawnedEditor<Self::Handle>, Box<dyn std::error::Error>> {
        self.egui.spawn(
            parent,
            wait_for_parent,
            fallback_scale_factor,
            gui_context,
            host,
        )
    }

    fn size(&self) -> nice_plug::editor::dpi::NativeSize<u32> {
        self.egui.size()
    }

    fn resize_hint(&self) -> nice_plug::editor::ResizeHint {
        self.egui.resize_hint()
    }

    fn track_info_updated(&self, info: nice_plug::plugin::TrackInfo) {
        self.status.set_track_name(info.name());
        self.egui.track_info_updated(info);
    }
}

/// The editor for the plugin.
pub fn create(
    state: Arc<EguiEditorState>,
    params: Arc<MvGenParams>,
    status: Arc<Status>,
    latest: Latest,
) -> Option<MvGenEditor> {
    let settings = EguiNiceSettings::new()
        .with_tile("MVGen")
        .with_graphics_config(graphics_config())
        .with_resize_hint(
            nice_plug::editor::ResizeHint::resizable().with_min_logical_size(
                nice_plug::editor::dpi::LogicalSize::new(MIN_SIZE.0, MIN_SIZE.1),
            ),
        );
    let repaint = status
        .repaint
        .get_or_init(nice_plug_egui::RepaintNotifier::new);
    let egui = create_egui_editor(
        state,
        repaint.clone(),
        settings,
        EditorApp {
            params,
            status: status.clone(),
            latest,
            presenter: Presenter::default(),
            gui: None,
            dialog: None,
            typed_path: String::new(),
            stage_error: None,
            shelf: looks::Shelf::default(),
        },
    )?;
    Some(MvGenEditor { egui, status })
}

/// What a file dialog thread answers.
enum Picked {
    Model(PathBuf),
    ExportFolder(PathBuf),
}

pub struct EditorApp {
    params: Arc<MvGenParams>,
    status: Arc<Status>,
    latest: Latest,
    presenter: Presenter,
    gui: Option<nice_plug::context::gui::GuiContext>,
    /// The open file dialog's answer, if one is open.
    dialog: Option<Receiver<Option<Picked>>>,
    /// The model path field, for typing or pasting a path.
    typed_path: String,
    /// Why the last "Open stage" failed.
    stage_error: Option<String>,
    /// The Look chooser.
    shelf: looks::Shelf,
}

impl NiceEguiApp for EditorApp {
    fn build(
        &mut self,
        _egui_ctx: egui::Context,
        gui: nice_plug::context::gui::GuiContext,
        _frame: &mut nice_plug_egui::Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        // A new window has a new egui context: textures from an earlier one are gone.
        self.presenter.clear();
        self.shelf.clear_textures();
        self.shelf.refresh();
        self.gui = Some(gui);
        if let Some(path) = self.params.saved_model() {
            self.typed_path = path.to_string_lossy().into_owned();
        }
        Ok(())
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut nice_plug_egui::Frame) {
        let ctx = ui.ctx().clone();
        self.take_picked();
        let smoothing = self.params.smoothing.value();
        if let Some(output) = self
            .latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            self.presenter.update(&ctx, output.read(), smoothing);
        }
        let report = self.status.worker_report();
        let Some(gui) = self.gui.clone() else {
            return;
        };
        let setter = gui.param_setter();

        egui::Panel::top("model").show(ui, |ui| {
            self.model_bar(ui, &report);
            self.look_row(ui, &report);
        });
        egui::Panel::bottom("controls").show(ui, |ui| {
            self.controls(ui, &setter, &report);
        });
        let fading = egui::CentralPanel::default()
            .show(ui, |ui| self.pictures(ui, &report))
            .inner;
        // Repaint at the display's rate only while a fade runs; a new frame wakes the
        // window through the repaint notifier (the worker's `notify_editor`), and the
        // counters refresh a few times a second. Without a GPU (lavapipe), drawing the two
        // pictures costs about 24 ms (BENCHMARKS.md), so idle repaints would cost a core.
        if fading {
            ctx.request_repaint();
        } else {
            ctx.request_repaint_after(STATUS_REFRESH);
        }
    }
}

impl EditorApp {
    fn model_bar(&mut self, ui: &mut egui::Ui, report: &crate::status::WorkerReport) {
        ui.add_space(4.0);
        ui.horizontal(|ui| {
            ui.label(RichText::new("MVGen").strong().size(18.0));
            ui.separator();
            match &report.model {
                Some(m) => {
                    ui.label(RichText::new(m.display_name()).strong())
                        .on_hover_text(show_path(&m.path));
                    let mut facts = Vec::new();
                    if let Some(ngf) = m.ngf {
                        facts.push(format!("ngf {ngf}"));
                    }
                    if let Some(epochs) = m.epochs {
                        facts.push(format!("{epochs} epochs"));
                    }
                    if let Some(dataset) = &m.dataset {
                        facts.push(format!("dataset: {dataset}"));
                    }
                    if m.is_foreign() {
                        facts.push("foreign model (no mvgen metadata)".into());
                    }
                    ui.label(facts.join(" · "));
                }
                None => {
                    ui.label("No model loaded");
                }
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                let open = self.dialog.is_some();
                if ui
                    .add_enabled(!open, egui::Button::new("Load model…"))
                    .clicked()
                {
                    self.pick_model();
                }
                let recent = self.params.recent_models();
                ui.menu_button("Recent", |ui| {
                    if recent.is_empty() {
                        ui.label("No models loaded yet");
                    }
                    for path in recent {
                        if ui.button(&path).clicked() {
                            self.load_model(PathBuf::from(path));
                            ui.close();
                        }
                    }
                });
            });
        });
        ui.horizontal(|ui| {
            ui.label("Model file:");
            let field = ui.add(
                egui::TextEdit::singleline(&mut self.typed_path)
                    .hint_text("path to an .onnx generator")
                    .desired_width(320.0),
            );
            let entered = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (ui.button("Load").clicked() || entered) && !self.typed_path.trim().is_empty() {
                self.load_model(PathBuf::from(self.typed_path.trim()));
            }
        });
        ui.horizontal(|ui| {
            let (mode, colour) = match self.status.mode() {
                Mode::Live => ("Live", Color32::from_rgb(90, 200, 120)),
                Mode::Offline => ("Offline render", Color32::from_rgb(230, 180, 60)),
                Mode::Stopped => ("Stopped", Color32::GRAY),
            };
            ui.label(RichText::new(mode).color(colour).strong());
            ui.separator();
            match &report.provider {
                Some(p) => {
                    ui.label(format!("Runs on {} ({})", p.provider, p.device));
                    if let Some(why) = &p.fallback {
                        ui.label(RichText::new("GPU not used").color(Color32::GRAY))
                            .on_hover_text(why);
                    }
                }
                None => {
                    ui.label("Runs on —");
                }
            }
            if ui
                .small_button("Reload")
                .on_hover_text("Load the model again with the Execution setting below")
                .clicked()
            {
                if let Some(m) = &report.model {
                    self.request_model(m.path.clone(), report.look.clone(), false);
                }
            }
            ui.separator();
            ui.label(format!("{:.1} ms per frame", report.inference_ms));
            ui.separator();
            let dropped = Status::get(&self.status.windows_dropped)
                + Status::get(&self.status.windows_expired)
                + Status::get(&self.status.frames_overflowed);
            ui.label(format!(
                "frame {} · {} dropped · {} skipped",
                self.status.last_frame.load(Ordering::Relaxed).max(0),
                dropped,
                Status::get(&self.status.windows_skipped),
            ))
            .on_hover_text(
                "Dropped: windows the worker could not take in time.\n\
                 Skipped: stale windows passed over for a newer one (live only).",
            );
        });
        ui.add_space(2.0);
    }

    fn controls(
        &mut self,
        ui: &mut egui::Ui,
        setter: &ParamSetter,
        report: &crate::status::WorkerReport,
    ) {
        let params = self.params.clone();
        let p = &params;
        ui.add_space(4.0);
        egui::Grid::new("params")
            .num_columns(4)
            .spacing([12.0, 6.0])
            .show(ui, |ui| {
                ui.label(p.fps.name());
                ui.add(ParamSlider::for_param(&p.fps, setter));
                ui.label(p.input_gain_db.name());
                ui.add(ParamSlider::for_param(&p.input_gain_db, setter));
                ui.end_row();
                ui.label(p.smoothing.name());
                ui.add(ParamSlider::for_param(&p.smoothing, setter));
                ui.label(p.execution.name());
                ui.add(ParamSlider::for_param(&p.execution, setter));
                ui.end_row();
            });
        ui.horizontal(|ui| {
            let mut export = p.export.value();
            if ui.checkbox(&mut export, p.export.name()).changed() {
                setter.begin_set_parameter(&p.export);
                setter.set_parameter(&p.export, export);
                setter.end_set_parameter(&p.export);
            }
            let folder = p.export_folder();
            ui.label(format!("to {}", show_path(&folder)));
            if ui
                .add_enabled(self.dialog.is_none(), egui::Button::new("Folder…"))
                .clicked()
            {
                self.pick_export_folder();
            }
        });
        self.video_row(ui, setter, report);
        self.stage_row(ui);
        if let Some(dir) = &report.last_bounce {
            ui.label(format!("Last bounce: {}", show_path(dir)));
        }
        if let Some(path) = &report.loading {
            ui.label(format!("Loading {}…", show_path(path)));
        }
        let non_finite = Status::get(&self.status.non_finite_samples);
        if non_finite > 0 {
            ui.label(
                RichText::new(format!(
                    "{non_finite} NaN or infinite input samples were analysed as silence \
                     (the audio itself passes through untouched)."
                ))
                .color(Color32::from_rgb(230, 180, 60)),
            );
        }
        if let Some(error) = &report.error {
            ui.label(RichText::new(error).color(Color32::from_rgb(240, 90, 90)));
        }
        ui.add_space(4.0);
    }

    /// The Video row: the format a bounce's video is encoded in (session-saved
    /// parameters), its size in pixels, and what enlarges the frames.
    fn video_row(
        &mut self,
        ui: &mut egui::Ui,
        setter: &ParamSetter,
        report: &crate::status::WorkerReport,
    ) {
        let p = &self.params;
        ui.horizontal(|ui| {
            ui.label("Video");
            ui.add(ParamSlider::for_param(&p.video_size, setter));
            ui.add(ParamSlider::for_param(&p.video_aspect, setter));
            ui.add(ParamSlider::for_param(&p.video_fill, setter));
            let format = p.video_format();
            let enhanced = report
                .model
                .as_ref()
                .and_then(|m| mvgen_video::enhancer_for(&m.path))
                .is_some();
            let by = if format.picture_side() <= 256 {
                "as generated"
            } else if enhanced {
                "enhanced"
            } else {
                "Lanczos (no enhancer)"
            };
            ui.label(format!("{}x{}, {by}", format.width(), format.height()));
        });
    }

    /// The Stage row: open `mvgen stage` on this instance, and whether a stage shows it.
    fn stage_row(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.label("Stage");
            if ui
                .button("Open stage")
                .on_hover_text(
                    "The live frames in a window of their own: F fullscreen, M next monitor",
                )
                .clicked()
            {
                self.open_stage();
            }
            if let Some(e) = &self.stage_error {
                ui.colored_label(egui::Color32::from_rgb(230, 120, 90), e);
            } else if self.status.stage_watching() {
                ui.label("a stage shows this instance");
            } else {
                ui.weak("no stage shows this instance");
            }
        });
    }

    fn open_stage(&mut self) {
        let Some(mvgen) = crate::stage::stage_binary() else {
            self.stage_error = Some(
                "mvgen is not in the plugin's bundle or on PATH: install it (scripts/demo.sh)"
                    .into(),
            );
            return;
        };
        // By number where it has one: two tracks may share a name.
        let instance = self
            .status
            .feed_number()
            .map_or_else(|| self.status.instance_name(), |n| format!("#{n}"));
        self.stage_error = crate::stage::open_stage(&mvgen, &instance).err();
    }

    /// Paint the two pictures; true while the frame is still fading in.
    fn pictures(&mut self, ui: &mut egui::Ui, report: &crate::status::WorkerReport) -> bool {
        let mut fading = false;
        let area = ui.available_rect_before_wrap();
        let gap = 8.0;
        let caption = 18.0;
        let half = (area.width() - gap) / 2.0;
        let left = egui::Rect::from_min_size(area.min, egui::vec2(half, area.height()));
        let right = egui::Rect::from_min_size(
            area.min + egui::vec2(half + gap, 0.0),
            egui::vec2(half, area.height()),
        );
        let painter = ui.painter_at(area);
        let text = ui.visuals().text_color();
        let font = egui::FontId::proportional(13.0);
        for (rect, title) in [
            (left, "Input: spectrogram, last 1.5 s"),
            (right, "Generated frame"),
        ] {
            painter.text(
                rect.center_top(),
                egui::Align2::CENTER_TOP,
                title,
                font.clone(),
                text,
            );
        }
        let shrink =
            |r: egui::Rect| egui::Rect::from_min_max(r.min + egui::vec2(0.0, caption), r.max);
        match self.presenter.spectrogram_texture() {
            Some(t) => paint_picture(&painter, shrink(left), t),
            None => {
                painter.text(
                    shrink(left).center(),
                    egui::Align2::CENTER_CENTER,
                    "Waiting for audio",
                    font.clone(),
                    Color32::GRAY,
                );
            }
        }
        match self.presenter.frame_textures() {
            Some((from, to)) => {
                let fps: mvgen_core::Fps = self.params.fps.value().into();
                let interval = Duration::from_secs_f64(1.0 / fps.per_second() as f64);
                let mix = self.presenter.mix(Instant::now(), interval);
                paint_crossfade(&painter, shrink(right), from, to, mix);
                fading = mix < 1.0;
            }
            None => {
                let why = if report.model.is_none() {
                    "Frames appear once a model is loaded"
                } else {
                    "Frames appear while audio plays"
                };
                painter.text(
                    shrink(right).center(),
                    egui::Align2::CENTER_CENTER,
                    why,
                    font,
                    Color32::GRAY,
                );
            }
        }
        ui.allocate_rect(area, egui::Sense::hover());
        fading
    }

    /// Ask for a model file in the desktop's file dialog.
    fn pick_model(&mut self) {
        self.open_dialog(|| {
            rfd::FileDialog::new()
                .set_title("Load an mvgen generator")
                .add_filter("ONNX model", &["onnx"])
                .pick_file()
                .map(Picked::Model)
        });
    }

    /// Ask for the export folder in the desktop's file dialog.
    fn pick_export_folder(&mut self) {
        self.open_dialog(|| {
            rfd::FileDialog::new()
                .set_title("Export bounces to")
                .pick_folder()
                .map(Picked::ExportFolder)
        });
    }

    /// Run `dialog` on a thread of its own, so the window keeps painting while it is open;
    /// [`Self::take_picked`] collects the answer.
    fn open_dialog(&mut self, dialog: impl FnOnce() -> Option<Picked> + Send + 'static) {
        let (send, receive) = channel();
        let spawned = std::thread::Builder::new()
            .name("mvgen-file-dialog".into())
            .spawn(move || {
                let _ = send.send(dialog());
            });
        match spawned {
            Ok(_) => self.dialog = Some(receive),
            Err(e) => self
                .status
                .report(|r| r.error = Some(format!("could not open a file dialog: {e}"))),
        }
    }

    /// The Look chooser, and what the user should know about the look that runs.
    fn look_row(&mut self, ui: &mut egui::Ui, report: &crate::status::WorkerReport) {
        let current = report.model.as_ref().map(|m| m.sha256.as_str());
        if let Some(look) = self.shelf.ui(ui, current) {
            self.typed_path = look.generator.to_string_lossy().into_owned();
            self.request_model(look.generator.clone(), Some(look.id()), true);
        }
        if let Some(note) = &report.look_note {
            ui.label(RichText::new(note).color(Color32::from_rgb(230, 180, 60)));
        }
    }

    /// Act on a file dialog's answer once it has one.
    fn take_picked(&mut self) {
        let Some(dialog) = &self.dialog else {
            return;
        };
        let picked = match dialog.try_recv() {
            Ok(picked) => picked,
            Err(std::sync::mpsc::TryRecvError::Empty) => return,
            Err(std::sync::mpsc::TryRecvError::Disconnected) => None,
        };
        self.dialog = None;
        match picked {
            Some(Picked::Model(path)) => self.load_model(path),
            Some(Picked::ExportFolder(dir)) => {
                self.params.set_export_folder(&dir);
            }
            None => {}
        }
    }

    /// Have the worker load `path` (now, or at the next activation when the host has not
    /// started audio); once it has loaded, it becomes the session's model.
    fn load_model(&mut self, path: PathBuf) {
        self.typed_path = path.to_string_lossy().into_owned();
        self.request_model(path, None, true);
    }

    /// Ask for `path` (the generator of `look`, if it is one) with the current Execution
    /// setting; `save`: make it the session's model once loaded.
    fn request_model(&self, path: PathBuf, look: Option<mvgen_look::LookId>, save: bool) {
        self.status.request_load(LoadRequest {
            path,
            look,
            config: self.params.runtime_config(),
            save,
        });
    }
}
