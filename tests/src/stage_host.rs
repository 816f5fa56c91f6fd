//! What a stage test does to the X server as a user would: look at the screen, find a
//! window by its title, move the pointer and press keys (XTEST: real input events, which
//! winit reads through XInput2 as it reads a keyboard's).

use crate::editor_host::Screenshot;
use anyhow::{anyhow, bail, Context};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{AtomEnum, ConnectionExt, ImageFormat, Window};
use x11rb::protocol::xtest::ConnectionExt as _;
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

/// A connection to the `DISPLAY` the test started.
pub struct Screen {
    conn: RustConnection,
    root: Window,
}

/// A window's place on the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
}

impl Screen {
    pub fn connect() -> anyhow::Result<Self> {
        let (conn, screen) = x11rb::connect(None).context("connecting to DISPLAY")?;
        let root = conn.setup().roots[screen].root;
        Ok(Self { conn, root })
    }

    /// What the screen shows in a rectangle.
    pub fn shot(&self, x: i32, y: i32, width: u32, height: u32) -> anyhow::Result<Screenshot> {
        let reply = self
            .conn
            .get_image(
                ImageFormat::Z_PIXMAP,
                self.root,
                x as i16,
                y as i16,
                width as u16,
                height as u16,
                !0,
            )?
            .reply()
            .context("GetImage of the root window")?;
        if reply.depth != 24 {
            bail!("a {}-bit screen; expected 24", reply.depth);
        }
        // 24-bit ZPixmap on a little-endian server: B, G, R, padding per pixel.
        let rgb = reply
            .data
            .chunks_exact(4)
            .flat_map(|p| [p[2], p[1], p[0]])
            .collect();
        Ok(Screenshot { width, height, rgb })
    }

    /// The top-level windows whose title starts with `prefix`: title and placement.
    pub fn windows(&self, prefix: &str) -> anyhow::Result<Vec<(String, Placement)>> {
        let mut found = Vec::new();
        for window in self.conn.query_tree(self.root)?.reply()?.children {
            let attributes = self.conn.get_window_attributes(window)?.reply()?;
            if attributes.map_state != x11rb::protocol::xproto::MapState::VIEWABLE {
                continue;
            }
            let name = self
                .conn
                .get_property(false, window, AtomEnum::WM_NAME, AtomEnum::ANY, 0, 1024)?
                .reply()?;
            let title = String::from_utf8_lossy(&name.value).to_string();
            if !title.starts_with(prefix) {
                continue;
            }
            let g = self.conn.get_geometry(window)?.reply()?;
            let at = self
                .conn
                .translate_coordinates(window, self.root, 0, 0)?
                .reply()?;
            found.push((
                title,
                Placement {
                    x: at.dst_x as i32,
                    y: at.dst_y as i32,
                    width: g.width as u32,
                    height: g.height as u32,
                },
            ));
        }
        Ok(found)
    }

    /// Move the pointer (with no window manager, the keyboard goes to the window under it).
    pub fn point_at(&self, x: i32, y: i32) -> anyhow::Result<()> {
        const MOTION_NOTIFY: u8 = 6;
        self.conn
            .xtest_fake_input(MOTION_NOTIFY, 0, 0, self.root, x as i16, y as i16, 0)?;
        self.conn.sync()?;
        Ok(())
    }

    /// Click the left button at (x, y), as a mouse does: move there, press, release.
    pub fn click(&self, x: i32, y: i32) -> anyhow::Result<()> {
        const BUTTON_PRESS: u8 = 4;
        const BUTTON_RELEASE: u8 = 5;
        self.point_at(x, y)?;
        std::thread::sleep(std::time::Duration::from_millis(100));
        for kind in [BUTTON_PRESS, BUTTON_RELEASE] {
            self.conn.xtest_fake_input(kind, 1, 0, self.root, 0, 0, 0)?;
            self.conn.sync()?;
            std::thread::sleep(std::time::Duration::from_millis(60));
        }
        Ok(())
    }

    /// Press and release the key of `keysym` (X11 keysyms: Tab is 0xff09).
    pub fn press(&self, keysym: u32) -> anyhow::Result<()> {
        const KEY_PRESS: u8 = 2;
        const KEY_RELEASE: u8 = 3;
        let setup = self.conn.setup();
        let (first, count) = (setup.min_keycode, setup.max_keycode - setup.min_keycode + 1);
        let map = self.conn.get_keyboard_mapping(first, count)?.reply()?;
        let per = map.keysyms_per_keycode as usize;
        let code = map
            .keysyms
            .chunks(per.max(1))
            .position(|syms| syms.contains(&keysym))
            .map(|i| first + i as u8)
            .ok_or_else(|| anyhow!("no key for keysym {keysym:#x}"))?;
        for kind in [KEY_PRESS, KEY_RELEASE] {
            self.conn
                .xtest_fake_input(kind, code, 0, self.root, 0, 0, 0)?;
            self.conn.sync()?;
            std::thread::sleep(std::time::Duration::from_millis(30));
        }
        Ok(())
    }
}
