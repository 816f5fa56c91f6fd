//! The host side of a plugin editor on X11, as a DAW does it: an X server (Xvfb, started
//! here), a parent window, the CLAP gui extension (create, set_parent, show, set_size,
//! destroy), and screenshots of what the plugin drew into the parent.
//!
//! Xvfb runs without the Composite extension: with it, baseview picks a 32-bit visual that
//! Vulkan on lavapipe leaves white (CONTEXT §4).

use anyhow::{anyhow, bail, Context};
use clack_extensions::gui::{GuiApiType, GuiConfiguration, GuiSize, PluginGui, Window};
use clack_host::prelude::PluginMainThreadHandle;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    ConfigureWindowAux, ConnectionExt, CreateWindowAux, ImageFormat, WindowClass,
};
use x11rb::rust_connection::RustConnection;

/// An X server for this test process; stopped when dropped.
pub struct Xvfb {
    child: Child,
    pub display: String,
}

impl Xvfb {
    /// Start Xvfb on a free display and point `DISPLAY` at it; its messages go to `log`.
    pub fn start(log: &Path) -> anyhow::Result<Self> {
        Self::start_with(
            log,
            "Xvfb (install xvfb; scripts/setup.sh does)",
            |display| {
                let mut command = Command::new("Xvfb");
                command
                    .args([display, "-screen", "0", "2560x1600x24", "-nolisten", "tcp"])
                    .args(["-noreset", "-extension", "Composite"]);
                command
            },
        )
    }

    /// Start Xorg with two 1280x720 monitors side by side (`tests/stage/two-monitors.conf`,
    /// its dummy driver) on a free display and point `DISPLAY` at it. Xorg, unlike Xvfb,
    /// runs as root only.
    pub fn two_monitors(log: &Path) -> anyhow::Result<Self> {
        let config = crate::root().join("tests/stage/two-monitors.conf");
        let how = "Xorg with the dummy driver (install xserver-xorg-core and \
                   xserver-xorg-video-dummy, and run as root; scripts/setup.sh installs them)";
        Self::start_with(log, how, |display| {
            let mut command = Command::new("Xorg");
            command
                .arg(display)
                .arg("-config")
                .arg(&config)
                .args(["-noreset", "-nolisten", "tcp", "-logfile"])
                .arg(log.with_extension("xorg.log"));
            command
        })
    }

    fn start_with(
        log: &Path,
        what: &str,
        server: impl Fn(&str) -> Command,
    ) -> anyhow::Result<Self> {
        for n in 90 + std::process::id() % 200.. {
            if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                || Path::new(&format!("/tmp/.X{n}-lock")).exists()
            {
                continue;
            }
            let display = format!(":{n}");
            let mut command = server(&display);
            // SAFETY: prctl is async-signal-safe. The server dies with this process, even
            // when a test aborts without unwinding.
            unsafe {
                command.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            let mut child = command
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(log)?)
                .spawn()
                .with_context(|| format!("starting {what}"))?;
            let socket = format!("/tmp/.X11-unix/X{n}");
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(20) {
                if let Some(status) = child.try_wait()? {
                    if n > 90 + std::process::id() % 200 + 20 {
                        bail!("{what} did not start ({status}): see {}", log.display());
                    }
                    // Lost a race for this display number: try the next.
                    eprintln!("X server {display} exited ({status}), trying another display");
                    break;
                }
                if Path::new(&socket).exists() {
                    std::env::set_var("DISPLAY", &display);
                    return Ok(Self { child, display });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
        }
        bail!("no free X display")
    }
}

impl Xvfb {
    /// "running", or how it ended: for error messages.
    pub fn state(&mut self) -> String {
        match self.child.try_wait() {
            Ok(None) => "running".into(),
            Ok(Some(status)) => format!("exited: {status}"),
            Err(e) => format!("unknown: {e}"),
        }
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An RGB screenshot.
pub struct Screenshot {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

impl Screenshot {
    pub fn save_png(&self, path: &Path) -> anyhow::Result<()> {
        image::save_buffer(
            path,
            &self.rgb,
            self.width,
            self.height,
            image::ExtendedColorType::Rgb8,
        )
        .with_context(|| format!("writing {}", path.display()))
    }

    /// Where the words `text` are written on screen (the centre of their box), read by
    /// Tesseract OCR from the screenshot enlarged 3 times (egui's text is small): how a
    /// test finds a button by its label. Words are matched on one line, case and spaces
    /// ignored (Tesseract may read "Open stage" as one word).
    pub fn find_text(&self, text: &str, scratch: &Path) -> anyhow::Result<Option<(i32, i32)>> {
        const SCALE: u32 = 3;
        let image = image::RgbImage::from_raw(self.width, self.height, self.rgb.clone())
            .context("a screenshot of the wrong size")?;
        let big = image::imageops::resize(
            &image,
            self.width * SCALE,
            self.height * SCALE,
            image::imageops::FilterType::Lanczos3,
        );
        let png = scratch.join("ocr.png");
        big.save(&png)?;
        let out = Command::new("tesseract")
            .arg(&png)
            .args(["-", "tsv"])
            .stderr(Stdio::null())
            .output()
            .context("running tesseract (scripts/setup.sh installs tesseract-ocr)")?;
        anyhow::ensure!(
            out.status.success(),
            "tesseract failed on {}",
            png.display()
        );
        // Letters and digits only: a button's border may be read as "|" or "]".
        let squash = |s: &str| {
            s.chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect::<String>()
        };
        let wanted = squash(text);
        // TSV columns: level page block par line word left top width height conf text.
        let words: Vec<(String, [i32; 4], String)> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .filter_map(|l| {
                let c: Vec<&str> = l.split('\t').collect();
                if c.len() != 12 || c[0] != "5" || c[11].trim().is_empty() {
                    return None;
                }
                let n = |i: usize| c[i].parse::<i32>().ok();
                let line = c[2..5].join("/");
                Some((line, [n(6)?, n(7)?, n(8)?, n(9)?], squash(c[11])))
            })
            .collect();
        for start in 0..words.len() {
            let mut read = String::new();
            for end in start..words.len() {
                if words[end].0 != words[start].0 {
                    break;
                }
                read += &words[end].2;
                if !wanted.starts_with(&read) {
                    break;
                }
                if read == wanted {
                    let boxes = words[start..=end].iter().map(|w| w.1);
                    let l = boxes.clone().map(|b| b[0]).min().unwrap_or(0);
                    let t = boxes.clone().map(|b| b[1]).min().unwrap_or(0);
                    let r = boxes.clone().map(|b| b[0] + b[2]).max().unwrap_or(0);
                    let b = boxes.map(|b| b[1] + b[3]).max().unwrap_or(0);
                    let s = SCALE as i32;
                    return Ok(Some(((l + r) / 2 / s, (t + b) / 2 / s)));
                }
            }
        }
        Ok(None)
    }

    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = 3 * (y * self.width + x) as usize;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// The share of pixels in columns `x0..x1` whose channels differ by more than
    /// `spread`: colour, where the editor's own widgets are shades of grey.
    pub fn colourful_share(&self, x0: u32, x1: u32, spread: u8) -> f64 {
        let mut colourful = 0usize;
        for y in 0..self.height {
            for x in x0..x1 {
                let p = self.pixel(x, y);
                let (lo, hi) = (p.iter().min().unwrap(), p.iter().max().unwrap());
                if hi - lo > spread {
                    colourful += 1;
                }
            }
        }
        colourful as f64 / ((x1 - x0) * self.height) as f64
    }

    /// How many different colours the picture holds.
    pub fn distinct_colours(&self) -> usize {
        let mut seen = std::collections::HashSet::new();
        for p in self.rgb.chunks_exact(3) {
            seen.insert([p[0], p[1], p[2]]);
        }
        seen.len()
    }
}

/// A parent window holding the plugin's editor.
pub struct EditorWindow {
    conn: RustConnection,
    window: u32,
    gui: PluginGui,
    pub width: u32,
    pub height: u32,
}

impl EditorWindow {
    /// Open the plugin's editor embedded in a new X11 window, at `scale` (the display's
    /// HiDPI factor, as a host passes it).
    pub fn open(plugin: &mut PluginMainThreadHandle, scale: f64) -> anyhow::Result<Self> {
        let gui: PluginGui = plugin
            .get_extension()
            .ok_or_else(|| anyhow!("the plugin has no gui extension"))?;
        let config = GuiConfiguration {
            api_type: GuiApiType::X11,
            is_floating: false,
        };
        if !gui.is_api_supported(plugin, config) {
            bail!("the plugin does not support embedded X11 editors");
        }
        let (conn, screen_num) = x11rb::connect(None).context("connecting to the X server")?;
        gui.create(plugin, config)
            .map_err(|e| anyhow!("gui.create: {e:?}"))?;
        gui.set_scale(plugin, scale)
            .map_err(|e| anyhow!("gui.set_scale({scale}): {e:?}"))?;
        let GuiSize { width, height } = gui
            .get_size(plugin)
            .ok_or_else(|| anyhow!("gui.get_size failed"))?;
        let screen = &conn.setup().roots[screen_num];
        let window = conn.generate_id()?;
        conn.create_window(
            screen.root_depth,
            window,
            screen.root,
            0,
            0,
            width as u16,
            height as u16,
            0,
            WindowClass::INPUT_OUTPUT,
            screen.root_visual,
            &CreateWindowAux::new().background_pixel(screen.black_pixel),
        )?;
        conn.map_window(window)?;
        // A round trip: the plugin's own connection must find the window created.
        conn.get_input_focus()?.reply()?;
        // SAFETY: the window lives until `close` destroys the editor first.
        unsafe { gui.set_parent(plugin, Window::from_x11_handle(window as _)) }
            .map_err(|e| anyhow!("gui.set_parent: {e:?}"))?;
        gui.show(plugin).map_err(|e| anyhow!("gui.show: {e:?}"))?;
        Ok(Self {
            conn,
            window,
            gui,
            width,
            height,
        })
    }

    /// Ask the editor to take `width` x `height`, as a host does when the user drags its
    /// window's corner; returns the size the editor agreed to.
    pub fn resize(
        &mut self,
        plugin: &mut PluginMainThreadHandle,
        width: u32,
        height: u32,
    ) -> anyhow::Result<(u32, u32)> {
        if !self.gui.can_resize(plugin) {
            bail!("the editor is not resizable");
        }
        let wanted = GuiSize { width, height };
        let size = self.gui.adjust_size(plugin, wanted).unwrap_or(wanted);
        self.conn.configure_window(
            self.window,
            &ConfigureWindowAux::new()
                .width(size.width)
                .height(size.height),
        )?;
        self.conn.flush()?;
        self.gui
            .set_size(plugin, size)
            .map_err(|e| anyhow!("gui.set_size: {e:?}"))?;
        self.width = size.width;
        self.height = size.height;
        Ok((size.width, size.height))
    }

    /// What the parent window shows now, the editor included.
    pub fn screenshot(&self) -> anyhow::Result<Screenshot> {
        let reply = self
            .conn
            .get_image(
                ImageFormat::Z_PIXMAP,
                self.window,
                0,
                0,
                self.width as u16,
                self.height as u16,
                !0,
            )?
            .reply()
            .context("GetImage")?;
        if reply.depth != 24 {
            bail!("a {}-bit window; expected 24", reply.depth);
        }
        // 24-bit ZPixmap on a little-endian server: B, G, R, padding per pixel.
        let rgb = reply
            .data
            .chunks_exact(4)
            .flat_map(|p| [p[2], p[1], p[0]])
            .collect();
        Ok(Screenshot {
            width: self.width,
            height: self.height,
            rgb,
        })
    }

    /// Destroy the editor, then the parent window.
    pub fn close(self, plugin: &mut PluginMainThreadHandle) -> anyhow::Result<()> {
        self.gui.destroy(plugin);
        self.conn.destroy_window(self.window)?;
        self.conn.flush()?;
        Ok(())
    }
}

/// Resident memory of this process, in bytes, after giving freed heap memory back to
/// the system (so that what is measured is what is still allocated, not what the
/// allocator keeps cached for reuse by the threads each editor window starts).
pub fn rss_bytes() -> u64 {
    // SAFETY: malloc_trim only releases free memory of the glibc allocator.
    unsafe {
        libc::malloc_trim(0);
    }
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}
