//! `mvgen stage`: the live frames of a running MVGen instance in a window of its own, on
//! any monitor, fullscreen for a projector or captured by OBS.
//!
//! A process of its own, because a plugin's window cannot be one: winit allows one event
//! loop per process, baseview cannot open a second window, and hosts run plugins in their
//! processes. Each instance publishes its frames to a slot of the live feed
//! ([`mvgen_feed`]); the stage reads the one it shows, says it watches it (so the instance
//! generates live frames for it), cross-fades between frames over one frame interval as the
//! editor does, and enlarges the picture in a shader (`picture.wgsl`): the frame as the
//! feed gives it, or, where ONNX Runtime has a GPU, enlarged by the look's own enhancer
//! first (`enlarge.rs`).

pub mod enlarge;
pub mod picture;
pub mod v4l2;

use anyhow::{bail, Context};
use enlarge::{Enhance, Enlarger};
use mvgen_feed::{Slot, SlotInfo, FRAME_BYTES};
use mvgen_video::{Aspect, Fill};
use picture::{Layout, Picture};
use std::sync::Arc;
use std::time::{Duration, Instant};
use winit::application::ApplicationHandler;
use winit::dpi::{PhysicalPosition, PhysicalSize};
use winit::event::{ElementState, KeyEvent, WindowEvent};
use winit::event_loop::{ActiveEventLoop, ControlFlow, EventLoop};
use winit::keyboard::{Key, NamedKey};
use winit::monitor::MonitorHandle;
use winit::window::{Fullscreen, Window, WindowId};

/// How a stage starts.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The monitor, by its index in [`list`]'s order (default: the primary one).
    pub monitor: Option<usize>,
    pub fullscreen: bool,
    /// The instance to show, by name (default: the most recently active).
    pub instance: Option<String>,
    /// The picture's shape (default: the window's).
    pub aspect: Option<Aspect>,
    pub fill: Fill,
    /// Print, every 5 s, how long a sound takes to reach the screen and a paint takes.
    pub stats: bool,
    /// When to enlarge with the look's enhancer.
    pub enhance: Enhance,
}

/// How long a change of monitor, instance or mode is named on the picture.
const OVERLAY_FOR: Duration = Duration::from_secs(2);
/// How often the stage looks for instances that came or went.
const RESCAN_EVERY: Duration = Duration::from_millis(500);
/// After this long without its instance feeding, the last frame is taken down.
const STALE_AFTER: Duration = Duration::from_secs(2);
/// After this long without an enlarged frame while frames come, they show as they come.
const ENLARGED_WITHIN: Duration = Duration::from_secs(1);

/// The live instances and the monitors, as `--list` prints them.
pub fn list() -> anyhow::Result<String> {
    let mut out = String::from("instances (newest activity first):\n");
    let slots = mvgen_feed::list()?;
    if slots.iter().all(|s| s.is_err()) {
        out += "  none running\n";
    }
    for slot in &slots {
        match slot {
            Ok(s) => {
                out += &format!(
                    "  {}  (#{}, process {}{})\n",
                    s.name,
                    s.number,
                    s.pid,
                    if s.feeding() { "" } else { ", not feeding now" }
                )
            }
            Err(e) => out += &format!("  refused: {e}\n"),
        }
    }
    out += "monitors:\n";
    for (i, m) in monitors()?.iter().enumerate() {
        let (size, at) = (m.size(), m.position());
        out += &format!(
            "  {i}: {} {}x{} at {},{}{}\n",
            m.name().unwrap_or_else(|| "unnamed".into()),
            size.width,
            size.height,
            at.x,
            at.y,
            m.refresh_rate_millihertz()
                .map(|r| format!(", {:.0} Hz", r as f64 / 1000.0))
                .unwrap_or_default()
        );
    }
    Ok(out)
}

/// The display's monitors, in winit's order (what `--monitor N` counts).
fn monitors() -> anyhow::Result<Vec<MonitorHandle>> {
    struct Ask(Vec<MonitorHandle>);
    impl ApplicationHandler for Ask {
        fn resumed(&mut self, event_loop: &ActiveEventLoop) {
            self.0 = event_loop.available_monitors().collect();
            event_loop.exit();
        }
        fn window_event(&mut self, _: &ActiveEventLoop, _: WindowId, _: WindowEvent) {}
    }
    let event_loop = EventLoop::new().context("no display to show a stage on (is DISPLAY set?)")?;
    let mut ask = Ask(Vec::new());
    event_loop.run_app(&mut ask)?;
    Ok(ask.0)
}

/// `--v4l2 DEVICE`: the frames of the instance asked for (else the most recently active)
/// written to a v4l2loopback camera, with no window, until the process is stopped.
pub fn camera(device: &std::path::Path, instance: Option<String>) -> anyhow::Result<()> {
    mvgen_feed::folder()?;
    let side = mvgen_feed::SIDE;
    let mut camera = v4l2::Camera::open(device, side)?;
    eprintln!(
        "writing the frames to {} ({side}x{side} YUYV, 30 a second); Ctrl-C stops",
        device.display()
    );
    let period = Duration::from_secs_f64(1.0 / 30.0);
    let (mut frame, mut incoming) = (vec![0u8; FRAME_BYTES], vec![0u8; FRAME_BYTES]);
    let black: Vec<u8> = [0, 0, 0, 255].repeat(side * side);
    let mut following: Option<Following> = None;
    let mut last_scan: Option<Instant> = None;
    let mut has_frame = false;
    loop {
        let tick = Instant::now();
        if last_scan.is_none_or(|at| at.elapsed() >= RESCAN_EVERY) {
            last_scan = Some(Instant::now());
            if following
                .as_ref()
                .is_some_and(|f| !f.slot.writer_runs() || !f.slot.path().exists())
            {
                following = None;
            }
            if following.is_none() {
                let live = live_instances();
                let chosen = match &instance {
                    Some(name) => live.into_iter().find(|s| names(s, name)),
                    None => live.into_iter().find(|s| s.feeding()),
                };
                if let Some(info) = chosen {
                    match Slot::open(&info.path) {
                        Ok(slot) => {
                            eprintln!("showing {}", info.name);
                            following = Some(Following {
                                slot,
                                name: info.name,
                                known: 0,
                                fed_at: Instant::now(),
                            });
                        }
                        Err(e) => eprintln!("refused: {e}"),
                    }
                }
            }
        }
        if let Some(f) = &mut following {
            f.slot.watch();
            if let Some(meta) = f.slot.read(&mut incoming, f.known) {
                std::mem::swap(&mut frame, &mut incoming);
                f.known = meta.sequence;
                f.fed_at = Instant::now();
                has_frame = true;
            } else if f.fed_at.elapsed() > STALE_AFTER && !f.slot.feeding() {
                has_frame = false;
                if instance.is_none() {
                    f.slot.unwatch();
                    following = None;
                }
            }
        }
        camera
            .write(if has_frame { &frame } else { &black })
            .with_context(|| format!("writing to {}", device.display()))?;
        std::thread::sleep(period.saturating_sub(tick.elapsed()));
    }
}

/// Show the stage until its window is closed.
pub fn run(options: Options) -> anyhow::Result<()> {
    // The feed's folder must be usable before a window opens.
    mvgen_feed::folder()?;
    let event_loop = EventLoop::new().context("no display to show a stage on (is DISPLAY set?)")?;
    let mut app = App {
        options,
        window: None,
        error: None,
    };
    event_loop.run_app(&mut app)?;
    match app.error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

struct App {
    options: Options,
    window: Option<Stage>,
    error: Option<anyhow::Error>,
}

impl ApplicationHandler for App {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.window.is_some() {
            return;
        }
        match Stage::open(event_loop, &self.options) {
            Ok(stage) => self.window = Some(stage),
            Err(e) => {
                self.error = Some(e);
                event_loop.exit();
            }
        }
    }

    fn window_event(&mut self, event_loop: &ActiveEventLoop, _id: WindowId, event: WindowEvent) {
        let Some(stage) = &mut self.window else {
            return;
        };
        match event {
            WindowEvent::CloseRequested => {
                stage.let_go();
                event_loop.exit();
            }
            WindowEvent::Resized(size) => {
                stage.resize(size);
                stage.window.request_redraw();
            }
            WindowEvent::KeyboardInput {
                event:
                    KeyEvent {
                        logical_key,
                        state: ElementState::Pressed,
                        repeat: false,
                        ..
                    },
                ..
            } => stage.key(event_loop, &logical_key),
            WindowEvent::RedrawRequested => {
                if let Err(e) = stage.paint() {
                    self.error = Some(e);
                    event_loop.exit();
                }
            }
            _ => {}
        }
    }

    fn about_to_wait(&mut self, event_loop: &ActiveEventLoop) {
        if let Some(stage) = &mut self.window {
            // At the display's refresh rate: look for frames (and keep watching), and
            // paint when the picture or the words over it changed.
            let next = stage.last_tick + stage.refresh;
            if Instant::now() >= next {
                stage.last_tick = Instant::now();
                stage.rescan();
                if stage.update_frame() || stage.message() != stage.painted_message {
                    stage.window.request_redraw();
                }
            }
            event_loop.set_control_flow(ControlFlow::WaitUntil(next.max(Instant::now())));
        }
    }
}

/// The instance a stage shows, and its frames.
struct Following {
    slot: Slot,
    name: String,
    /// The newest frame's sequence.
    known: u64,
    /// When the instance last fed the stage.
    fed_at: Instant,
}

struct Stage {
    window: Arc<Window>,
    surface: wgpu::Surface<'static>,
    device: wgpu::Device,
    queue: wgpu::Queue,
    config: wgpu::SurfaceConfiguration,
    picture: Picture,
    egui: egui::Context,
    overlay_renderer: egui_wgpu::Renderer,
    options: Options,
    following: Option<Following>,
    /// The instance asked for by name, or chosen with Tab: stays until it goes.
    pinned: Option<String>,
    last_scan: Option<Instant>,
    /// The frame before the newest, the newest, the mix of the two being shown, and the
    /// buffer a new frame arrives in (RGBA, `side` x `side`).
    previous: Vec<u8>,
    newest: Vec<u8>,
    shown: Vec<u8>,
    incoming: Vec<u8>,
    side: usize,
    /// The frame as the feed gives it (256x256 RGBA).
    raw: Vec<u8>,
    /// The instance's frame interval: the cross-fade's length.
    interval: Duration,
    /// The look's enhancer, where it is used; whether its frames are the ones shown; and
    /// what was last said about it.
    enlarger: Option<Enlarger>,
    enlarged: bool,
    enlarger_said: Option<enlarge::State>,
    /// When the last enlarged frame came.
    last_enlarged: Instant,
    /// The cross-fade: from when, over how long. `None` when settled.
    fade: Option<(Instant, Duration)>,
    has_frame: bool,
    overlay: Option<(String, Instant)>,
    monitor: usize,
    /// Where the window was before fullscreen.
    windowed: Option<(PhysicalPosition<i32>, PhysicalSize<u32>)>,
    last_paint: Instant,
    /// The last look for frames, at the display's refresh rate.
    last_tick: Instant,
    refresh: Duration,
    stats: Option<Stats>,
    /// The words over the picture when it was last painted.
    painted_message: Option<(String, bool)>,
}

/// What `--stats` measures: per new frame, from its sound reaching the plugin to the
/// first present that shows it; per paint, the time it takes.
#[derive(Default)]
struct Stats {
    since: Option<Instant>,
    latency_ms: Vec<f64>,
    paint_ms: Vec<f64>,
    /// The sound of the newest frame, until a present shows it.
    pending: Option<u64>,
}

impl Stats {
    fn report_every(&mut self, every: Duration) {
        let since = *self.since.get_or_insert_with(Instant::now);
        if since.elapsed() < every || self.paint_ms.is_empty() {
            return;
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
        };
        let p95 = |v: &Vec<f64>| v.get(v.len() * 95 / 100).copied().unwrap_or(f64::NAN);
        let seconds = since.elapsed().as_secs_f64();
        let (frames, paints) = (self.latency_ms.len(), self.paint_ms.len());
        let (lat, paint) = (median(&mut self.latency_ms), median(&mut self.paint_ms));
        eprintln!(
            "stage: {:.1} paints/s, {:.1} new frames/s; sound to screen median {lat:.1} ms \
             (p95 {:.1}); paint median {paint:.2} ms (p95 {:.2})",
            paints as f64 / seconds,
            frames as f64 / seconds,
            p95(&self.latency_ms),
            p95(&self.paint_ms),
        );
        *self = Self {
            since: Some(Instant::now()),
            ..Default::default()
        };
    }
}

impl Stage {
    fn open(event_loop: &ActiveEventLoop, options: &Options) -> anyhow::Result<Self> {
        let monitors: Vec<MonitorHandle> = event_loop.available_monitors().collect();
        if monitors.is_empty() {
            bail!("no monitor to show a stage on");
        }
        let monitor = match options.monitor {
            Some(n) if n >= monitors.len() => bail!(
                "there is no monitor {n}: this display has {} (mvgen stage --list names them)",
                monitors.len()
            ),
            Some(n) => n,
            None => event_loop
                .primary_monitor()
                .and_then(|p| monitors.iter().position(|m| *m == p))
                .unwrap_or(0),
        };
        let m = &monitors[monitor];
        let size = PhysicalSize::new(
            (m.size().width * 2 / 3).max(320),
            (m.size().height * 2 / 3).max(180),
        );
        let at = PhysicalPosition::new(
            m.position().x + (m.size().width - size.width) as i32 / 2,
            m.position().y + (m.size().height - size.height) as i32 / 2,
        );
        let window = Arc::new(
            event_loop.create_window(
                Window::default_attributes()
                    .with_title("MVGen stage")
                    .with_inner_size(size)
                    .with_position(at),
            )?,
        );
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
        let surface = instance.create_surface(window.clone())?;
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::LowPower,
            compatible_surface: Some(&surface),
            ..Default::default()
        }))
        .context("no graphics adapter for the stage (install mesa-vulkan-drivers)")?;
        let (device, queue) =
            pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor::default()))?;
        let caps = surface.get_capabilities(&adapter);
        // Frames are sRGB-encoded bytes: a plain 8-bit surface shows them as they are.
        // BGRA first, the X server's own order: lavapipe's X11 presentation copies an
        // RGBA swapchain's bytes as they are, red and blue swapped on screen.
        let format = [
            wgpu::TextureFormat::Bgra8Unorm,
            wgpu::TextureFormat::Rgba8Unorm,
        ]
        .into_iter()
        .find(|f| caps.formats.contains(f))
        .or_else(|| caps.formats.iter().copied().find(|f| !f.is_srgb()))
        .unwrap_or(caps.formats[0]);
        eprintln!(
            "stage: surface formats {:?}, drawing in {format:?}",
            caps.formats
        );
        let config = wgpu::SurfaceConfiguration {
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
            format,
            width: size.width.max(1),
            height: size.height.max(1),
            // No tearing on a projector, and never a wait for the display in a paint.
            present_mode: if caps.present_modes.contains(&wgpu::PresentMode::Mailbox) {
                wgpu::PresentMode::Mailbox
            } else {
                wgpu::PresentMode::AutoVsync
            },
            desired_maximum_frame_latency: 1,
            alpha_mode: caps.alpha_modes[0],
            view_formats: vec![],
            color_space: Default::default(),
        };
        surface.configure(&device, &config);
        // Catmull-Rom costs nine taps a pixel: a GPU's trifle, but a CPU adapter
        // (lavapipe) paints 1080p a few times a second with it; bilinear keeps it fluid.
        let on_cpu = adapter.get_info().device_type == wgpu::DeviceType::Cpu;
        let picture = Picture::new(&device, format, !on_cpu);
        eprintln!(
            "stage: drawing on {} ({})",
            adapter.get_info().name,
            if on_cpu {
                "the CPU: bilinear"
            } else {
                "Catmull-Rom"
            }
        );
        let overlay_renderer = egui_wgpu::Renderer::new(&device, format, Default::default());
        let refresh = m
            .refresh_rate_millihertz()
            .filter(|&r| r >= 20_000)
            .map_or(Duration::from_micros(16_667), |r| {
                Duration::from_secs_f64(1000.0 / r as f64)
            });
        let mut stage = Self {
            window,
            surface,
            device,
            queue,
            config,
            picture,
            egui: egui::Context::default(),
            overlay_renderer,
            options: options.clone(),
            following: None,
            pinned: options.instance.clone(),
            last_scan: None,
            previous: vec![0; FRAME_BYTES],
            newest: vec![0; FRAME_BYTES],
            shown: vec![0; FRAME_BYTES],
            incoming: vec![0; FRAME_BYTES],
            side: mvgen_feed::SIDE,
            raw: vec![0; FRAME_BYTES],
            interval: Duration::from_millis(33),
            enlarger: None,
            enlarged: false,
            enlarger_said: None,
            last_enlarged: Instant::now(),
            fade: None,
            has_frame: false,
            overlay: None,
            monitor,
            windowed: None,
            last_paint: Instant::now(),
            last_tick: Instant::now(),
            refresh,
            painted_message: None,
            stats: options.stats.then(Stats::default),
        };
        if options.fullscreen {
            stage.set_fullscreen(event_loop, true);
        }
        stage.relayout();
        Ok(stage)
    }

    fn resize(&mut self, size: PhysicalSize<u32>) {
        // A window across several monitors can be larger than a texture may be.
        let most = self.device.limits().max_texture_dimension_2d;
        self.config.width = size.width.clamp(1, most);
        self.config.height = size.height.clamp(1, most);
        self.surface.configure(&self.device, &self.config);
        self.relayout();
    }

    fn relayout(&self) {
        let layout = Layout::new(
            self.config.width,
            self.config.height,
            self.options.aspect,
            self.options.fill,
        );
        self.picture.set_layout(&self.queue, &layout);
    }

    fn say(&mut self, what: String) {
        self.overlay = Some((what, Instant::now()));
    }

    fn key(&mut self, event_loop: &ActiveEventLoop, key: &Key) {
        match key.as_ref() {
            Key::Character(c) if c.eq_ignore_ascii_case("f") => {
                let on = self.windowed.is_none();
                self.set_fullscreen(event_loop, on);
            }
            Key::Character(c) if c.eq_ignore_ascii_case("m") => {
                let count = event_loop.available_monitors().count().max(1);
                self.monitor = (self.monitor + 1) % count;
                if self.windowed.is_some() {
                    self.set_fullscreen(event_loop, true);
                } else if let Some(m) = event_loop.available_monitors().nth(self.monitor) {
                    self.window.set_outer_position(m.position());
                }
                self.say(format!("monitor {}", self.monitor));
            }
            Key::Named(NamedKey::Tab) => self.next_instance(),
            Key::Named(NamedKey::Escape) if self.windowed.is_some() => {
                self.set_fullscreen(event_loop, false);
            }
            _ => {}
        }
    }

    /// Borderless fullscreen on the chosen monitor. Without a window manager (a bare X
    /// server) a fullscreen request alone changes nothing, so the window is also moved and
    /// sized to the monitor itself.
    fn set_fullscreen(&mut self, event_loop: &ActiveEventLoop, on: bool) {
        let Some(m) = event_loop.available_monitors().nth(self.monitor) else {
            return;
        };
        if on {
            if self.windowed.is_none() {
                let at = self.window.outer_position().unwrap_or_default();
                self.windowed = Some((at, self.window.inner_size()));
            }
            self.window.set_decorations(false);
            self.window
                .set_fullscreen(Some(Fullscreen::Borderless(Some(m.clone()))));
            self.window.set_outer_position(m.position());
            let _ = self.window.request_inner_size(m.size());
            self.say(format!("fullscreen on monitor {}", self.monitor));
        } else if let Some((at, size)) = self.windowed.take() {
            self.window.set_fullscreen(None);
            self.window.set_decorations(true);
            self.window.set_outer_position(at);
            let _ = self.window.request_inner_size(size);
            self.say("windowed".into());
        }
    }

    /// Tab: the next instance after the one shown, in name order.
    fn next_instance(&mut self) {
        let mut live: Vec<SlotInfo> = live_instances();
        live.sort_by(|a, b| a.name.cmp(&b.name));
        if live.is_empty() {
            self.say("no MVGen instance is running".into());
            return;
        }
        let current = self.following.as_ref().map(|f| f.name.clone());
        let at = current
            .and_then(|c| live.iter().position(|s| s.name == c))
            .map_or(0, |i| (i + 1) % live.len());
        let chosen = live[at].clone();
        self.pinned = Some(chosen.name.clone());
        self.follow(chosen);
    }

    fn follow(&mut self, info: SlotInfo) {
        if let Some(old) = self.following.take() {
            old.slot.unwatch();
        }
        // Frames of the instance before are not this one's.
        if let Some(e) = &self.enlarger {
            e.clear();
        }
        self.enlarged = false;
        match Slot::open(&info.path) {
            Ok(slot) => {
                self.window
                    .set_title(&format!("MVGen stage: {}", info.name));
                self.say(info.name.clone());
                self.following = Some(Following {
                    slot,
                    name: info.name,
                    known: 0,
                    fed_at: Instant::now(),
                });
                self.follow_enhancer();
            }
            Err(e) => self.say(format!("refused: {e}")),
        }
    }

    /// Find the instance to show: the pinned one by name, else the most recently active;
    /// and drop one that stopped.
    fn rescan(&mut self) {
        if self.last_scan.is_some_and(|at| at.elapsed() < RESCAN_EVERY) {
            return;
        }
        self.last_scan = Some(Instant::now());
        if let Some(f) = &self.following {
            if !f.slot.writer_runs() || !f.slot.path().exists() {
                self.following = None;
                self.window.set_title("MVGen stage");
            }
        }
        self.follow_enhancer();
        if self.following.is_some() {
            return;
        }
        let live = live_instances();
        let chosen = match &self.pinned {
            Some(name) => live.into_iter().find(|s| names(s, name)),
            None => live.into_iter().find(|s| s.feeding()),
        };
        if let Some(info) = chosen {
            self.follow(info);
        }
    }

    /// Use the enhancer the followed instance names (unless `--enhance never`), loading
    /// it when it changes, and say once what became of it.
    fn follow_enhancer(&mut self) {
        let wanted = match (&self.following, self.options.enhance) {
            (_, Enhance::Never) | (None, _) => None,
            (Some(f), _) => match f.slot.enhancer() {
                Ok(path) => path,
                // Caught mid-write, say: as it was.
                Err(_) => return,
            },
        };
        if wanted.as_deref() != self.enlarger.as_ref().map(Enlarger::path) {
            self.enlarger = wanted.map(|path| Enlarger::start(&path, self.options.enhance));
            self.enlarged = false;
            self.enlarger_said = None;
        }
        let Some(enlarger) = &self.enlarger else {
            return;
        };
        let state = enlarger.state();
        if self.enlarger_said.as_ref() != Some(&state) {
            match &state {
                enlarge::State::Loading => {}
                enlarge::State::Running(on) => eprintln!(
                    "stage: enlarging with the look's enhancer {} on {on}",
                    enlarger.path().display()
                ),
                enlarge::State::Failed(why) => {
                    eprintln!("stage: the look's enhancer is not used ({why}); the shader enlarges")
                }
            }
            self.enlarger_said = Some(state);
        }
    }

    /// Take the newest frame, if there is one, and work out what to show now: whether the
    /// picture changed.
    fn update_frame(&mut self) -> bool {
        let now = Instant::now();
        let mut upload = false;
        let mut stopped = false;
        let had_frame = self.has_frame;
        // A new frame in `incoming`: its side, and when its sound reached the plugin.
        let mut arrived = None;
        let enlarger = self
            .enlarger
            .as_ref()
            .filter(|e| !matches!(e.state(), enlarge::State::Failed(_)));
        if let Some(f) = &mut self.following {
            f.slot.watch();
            if let Some(meta) = f.slot.read(&mut self.raw, f.known) {
                f.known = meta.sequence;
                f.fed_at = now;
                self.interval = Duration::from_secs_f32(1.0 / meta.fps.clamp(1.0, 240.0));
                if let Some(e) = enlarger {
                    e.submit(meta.sequence, meta.sound_at_ns, &self.raw);
                }
                // Without an enhancer, until its first frame, and when it has given none
                // for a while (it hangs), frames show as they come.
                if enlarger.is_none()
                    || !self.enlarged
                    || self.last_enlarged.elapsed() > ENLARGED_WITHIN
                {
                    self.incoming.clear();
                    self.incoming.extend_from_slice(&self.raw);
                    arrived = Some((mvgen_feed::SIDE, meta.sound_at_ns));
                }
            } else if now.duration_since(f.fed_at) > STALE_AFTER && !f.slot.feeding() {
                self.has_frame = false;
                // Followed by default, a stopped instance gives way to one that feeds.
                stopped = self.pinned.is_none();
            }
        } else {
            self.has_frame = false;
        }
        if let Some(done) = enlarger.and_then(Enlarger::take) {
            let old = std::mem::replace(&mut self.incoming, done.rgba);
            if let Some(e) = enlarger {
                e.recycle(old);
            }
            if !self.enlarged {
                eprintln!(
                    "stage: showing the enhancer's {0}x{0} frames",
                    enlarge::SIDE
                );
            }
            self.enlarged = true;
            self.last_enlarged = now;
            arrived = Some((enlarge::SIDE, done.sound_at_ns));
        }
        if enlarger.is_none() {
            self.enlarged = false;
        }
        if let Some((side, sound_at_ns)) = arrived {
            if side != self.side {
                // A frame of another size: no fade across the change.
                self.side = side;
                self.has_frame = false;
                for buffer in [&mut self.previous, &mut self.newest, &mut self.shown] {
                    buffer.resize(self.incoming.len(), 0);
                }
            }
            // Fade from the frame before to the new one over one frame interval, as the
            // editor does: however slowly the stage paints, it shows the newest frame
            // within an interval of its arrival.
            std::mem::swap(&mut self.previous, &mut self.newest);
            std::mem::swap(&mut self.newest, &mut self.incoming);
            if let Some(stats) = &mut self.stats {
                stats.pending = Some(sound_at_ns);
            }
            self.fade = if self.has_frame {
                Some((now, self.interval))
            } else {
                self.previous.copy_from_slice(&self.newest);
                None
            };
            self.has_frame = true;
            upload = true;
        }
        if stopped {
            self.let_go();
        }
        if let Some((from, over)) = self.fade {
            let t = (now.duration_since(from).as_secs_f32() / over.as_secs_f32()).min(1.0);
            mix(&self.previous, &self.newest, t, &mut self.shown);
            if t >= 1.0 {
                self.fade = None;
            }
            upload = true;
        } else if upload {
            self.shown.copy_from_slice(&self.newest);
        }
        if upload {
            self.picture
                .set_frame(&self.device, &self.queue, &self.shown, self.side);
        }
        upload || had_frame != self.has_frame
    }

    fn paint(&mut self) -> anyhow::Result<()> {
        self.last_paint = Instant::now();
        let texture = match self.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(t)
            | wgpu::CurrentSurfaceTexture::Suboptimal(t) => t,
            wgpu::CurrentSurfaceTexture::Outdated | wgpu::CurrentSurfaceTexture::Lost => {
                self.surface.configure(&self.device, &self.config);
                return Ok(());
            }
            _ => return Ok(()),
        };
        let view = texture
            .texture
            .create_view(&wgpu::TextureViewDescriptor::default());
        let (width, height) = (self.config.width, self.config.height);
        let message = self.message();
        self.painted_message = message.clone();
        let screen =
            egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(width as f32, height as f32));
        let mut output = self.egui.run_ui(
            egui::RawInput {
                screen_rect: Some(screen),
                ..Default::default()
            },
            |ui| {
                if let Some((text, centred)) = &message {
                    draw_message(ui.painter(), screen, text, *centred);
                }
            },
        );
        let primitives = self
            .egui
            .tessellate(std::mem::take(&mut output.shapes), output.pixels_per_point);
        let mut textures = std::mem::take(&mut output.textures_delta);
        for (id, deltas) in textures.set.drain() {
            for delta in deltas {
                self.overlay_renderer
                    .update_texture(&self.device, &self.queue, id, &delta);
            }
        }
        let descriptor = egui_wgpu::ScreenDescriptor {
            size_in_pixels: [width, height],
            pixels_per_point: output.pixels_per_point,
        };
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
        let prepared = self.overlay_renderer.update_buffers(
            &self.device,
            &self.queue,
            &mut encoder,
            &primitives,
            &descriptor,
        );
        {
            let pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("mvgen-stage"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &view,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                depth_stencil_attachment: None,
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            let mut pass = pass.forget_lifetime();
            if self.has_frame {
                self.picture.draw(&mut pass);
            }
            self.overlay_renderer
                .render(&mut pass, &primitives, &descriptor);
        }
        self.queue
            .submit(prepared.into_iter().chain([encoder.finish()]));
        self.window.pre_present_notify();
        self.queue.present(texture);
        if let Some(stats) = &mut self.stats {
            if let Some(sound) = stats.pending.take() {
                let shown = mvgen_feed::now_ns().saturating_sub(sound);
                stats.latency_ms.push(shown as f64 / 1e6);
            }
            stats
                .paint_ms
                .push(self.last_paint.elapsed().as_secs_f64() * 1e3);
            stats.report_every(Duration::from_secs(5));
        }
        for id in textures.free.drain() {
            self.overlay_renderer.free_texture(&id);
        }
        Ok(())
    }

    /// What is written over the picture: why there is none (centred), or the last change
    /// for [`OVERLAY_FOR`] (in a corner).
    fn message(&mut self) -> Option<(String, bool)> {
        if !self.has_frame {
            let on = std::env::var("DISPLAY")
                .or_else(|_| std::env::var("WAYLAND_DISPLAY"))
                .unwrap_or_else(|_| "this display".into());
            let whom = match (&self.following, &self.pinned) {
                (Some(f), _) => format!("\"{}\" to play", f.name),
                (None, Some(name)) => format!("MVGen \"{name}\""),
                (None, None) => "MVGen".into(),
            };
            return Some((format!("waiting for {whom} on {on}"), true));
        }
        match &self.overlay {
            Some((text, at)) if at.elapsed() < OVERLAY_FOR => Some((text.clone(), false)),
            _ => {
                self.overlay = None;
                None
            }
        }
    }

    /// Stop watching at once: the instance need not wait for the watch to run out.
    fn let_go(&mut self) {
        if let Some(f) = self.following.take() {
            f.slot.unwatch();
        }
        if let Some(e) = &self.enlarger {
            e.clear();
        }
        self.enlarged = false;
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        self.let_go();
    }
}

/// Whether `wanted` names the instance: its name, or `#N` for its number (unique on the
/// machine where two tracks share a name).
fn names(slot: &SlotInfo, wanted: &str) -> bool {
    slot.name == wanted || wanted.strip_prefix('#') == Some(&slot.number.to_string())
}

/// The instances running now (refused slots are left out; `--list` names them).
fn live_instances() -> Vec<SlotInfo> {
    mvgen_feed::list()
        .map(|slots| slots.into_iter().filter_map(Result::ok).collect())
        .unwrap_or_default()
}

/// `out = (1 - t) * a + t * b`, per byte: the editor's cross-fade.
fn mix(a: &[u8], b: &[u8], t: f32, out: &mut [u8]) {
    let t = (t.clamp(0.0, 1.0) * 256.0) as u32;
    for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
        *o = ((a as u32 * (256 - t) + b as u32 * t + 128) >> 8) as u8;
    }
}

fn draw_message(painter: &egui::Painter, screen: egui::Rect, text: &str, centred: bool) {
    let font = egui::FontId::proportional(if centred { 28.0 } else { 20.0 });
    let galley = painter.layout_no_wrap(text.to_string(), font, egui::Color32::WHITE);
    let pad = egui::vec2(14.0, 8.0);
    let size = galley.size() + 2.0 * pad;
    let min = if centred {
        screen.center() - 0.5 * size
    } else {
        screen.min + egui::vec2(24.0, 24.0)
    };
    let rect = egui::Rect::from_min_size(min, size);
    painter.rect_filled(rect, 6.0, egui::Color32::from_black_alpha(170));
    painter.galley(rect.min + pad, galley, egui::Color32::WHITE);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cross_fade_runs_from_the_shown_frame_to_the_new_one() {
        let (a, b) = (vec![0u8, 100, 255], vec![255u8, 100, 0]);
        let mut out = vec![0u8; 3];
        mix(&a, &b, 0.0, &mut out);
        assert_eq!(out, a);
        mix(&a, &b, 1.0, &mut out);
        assert_eq!(out, b);
        mix(&a, &b, 0.5, &mut out);
        assert_eq!(out, [128, 100, 128]);
    }
}
