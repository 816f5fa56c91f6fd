//! OBS Studio (Debian's, with the obs-websocket it ships) as a streamer sets it up for the
//! stage: a scene that captures the monitor the stage is fullscreen on (Screen Capture,
//! XSHM). The test asks OBS, through obs-websocket, for a picture of what it would stream.
//!
//! OBS runs on a configuration folder of the test's own, written here before it starts: a
//! profile, a scene collection and obs-websocket on a free port without a password.

use crate::editor_host::Screenshot;
use anyhow::{anyhow, bail, Context};
use base64::Engine as _;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// The scene OBS streams, and its one source.
pub const SCENE: &str = "Stage";
pub const SOURCE: &str = "Stage monitor";

/// A running OBS and a websocket session with it; OBS is stopped when dropped.
pub struct Obs {
    child: Child,
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl Obs {
    /// Start OBS on `DISPLAY` with a scene that captures X screen `screen` (the order
    /// RandR lists the monitors in) at `width`x`height`, `fps` frames a second. Its
    /// configuration and log go to `dir`.
    pub fn start(
        dir: &Path,
        screen: u32,
        (width, height): (u32, u32),
        fps: u32,
    ) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let config = dir.join("config/obs-studio");
        let _ = std::fs::remove_dir_all(&config);
        std::fs::create_dir_all(config.join("basic/scenes"))?;
        std::fs::create_dir_all(config.join("basic/profiles/MVGen"))?;
        // FirstRun=true: no auto-configuration wizard. FirstLoad=false: obs-websocket
        // keeps the settings here rather than making a password.
        std::fs::write(
            config.join("global.ini"),
            format!(
                "[General]\nFirstRun=true\n\n[Basic]\nProfile=MVGen\nProfileDir=MVGen\n\
                 SceneCollection=MVGen\nSceneCollectionFile=MVGen\n\n[OBSWebSocket]\n\
                 FirstLoad=false\nServerEnabled=true\nServerPort={port}\nAuthRequired=false\n\
                 AlertsEnabled=false\n"
            ),
        )?;
        std::fs::write(
            config.join("basic/profiles/MVGen/basic.ini"),
            format!(
                "[General]\nName=MVGen\n\n[Video]\nBaseCX={width}\nBaseCY={height}\n\
                 OutputCX={width}\nOutputCY={height}\nFPSType=1\nFPSInt={fps}\n"
            ),
        )?;
        let scenes = serde_json::json!({
            "name": "MVGen",
            "current_scene": SCENE,
            "current_program_scene": SCENE,
            "scene_order": [{"name": SCENE}],
            "sources": [
                {
                    "id": "xshm_input", "versioned_id": "xshm_input", "name": SOURCE,
                    "settings": {"screen": screen, "show_cursor": false},
                },
                {
                    "id": "scene", "versioned_id": "scene", "name": SCENE,
                    "settings": {"id_counter": 1, "items": [{
                        "name": SOURCE, "id": 1, "visible": true,
                        "pos": {"x": 0.0, "y": 0.0}, "scale": {"x": 1.0, "y": 1.0},
                        "align": 5, "bounds_type": 0,
                    }]},
                },
            ],
        });
        std::fs::write(
            config.join("basic/scenes/MVGen.json"),
            serde_json::to_vec_pretty(&scenes)?,
        )?;
        let log = dir.join("obs.log");
        let mut command = Command::new("obs");
        command
            .args([
                "--multi",
                "--disable-shutdown-check",
                "--disable-missing-files-check",
            ])
            .args([
                "--collection",
                "MVGen",
                "--profile",
                "MVGen",
                "--scene",
                SCENE,
            ])
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?);
        // SAFETY: prctl is async-signal-safe. OBS dies with the test, even one that aborts.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .context("starting obs (install obs-studio; scripts/setup.sh does)")?;
        let socket = match connect(&mut child, port, &log) {
            Ok(socket) => socket,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        let mut obs = Self {
            child,
            socket,
            next_id: 0,
        };
        obs.identify()
            .with_context(|| format!("obs-websocket: see {}", log.display()))?;
        Ok(obs)
    }

    /// OBS 29 speaks obs-websocket 5: Hello, Identify, Identified.
    fn identify(&mut self) -> anyhow::Result<()> {
        let hello = self.receive()?;
        if hello["op"] != 0 {
            bail!("expected Hello, got {hello}");
        }
        if hello["d"].get("authentication").is_some() {
            bail!("obs-websocket asks for a password: the test's global.ini was not read");
        }
        self.send(serde_json::json!({"op": 1, "d": {"rpcVersion": 1, "eventSubscriptions": 0}}))?;
        let identified = self.receive()?;
        if identified["op"] != 2 {
            bail!("expected Identified, got {identified}");
        }
        Ok(())
    }

    fn send(&mut self, message: serde_json::Value) -> anyhow::Result<()> {
        self.socket
            .send(Message::Text(message.to_string().into()))?;
        Ok(())
    }

    fn receive(&mut self) -> anyhow::Result<serde_json::Value> {
        loop {
            match self.socket.read()? {
                Message::Text(text) => return Ok(serde_json::from_str(text.as_str())?),
                Message::Close(frame) => bail!("obs-websocket closed: {frame:?}"),
                _ => {}
            }
        }
    }

    /// A request; its `responseData`, or why OBS refused it.
    pub fn request(
        &mut self,
        kind: &str,
        data: serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        self.next_id += 1;
        let id = self.next_id.to_string();
        self.send(serde_json::json!({"op": 6, "d": {
            "requestType": kind, "requestId": id, "requestData": data,
        }}))?;
        loop {
            let reply = self.receive()?;
            if reply["op"] == 7 && reply["d"]["requestId"] == id.as_str() {
                let status = &reply["d"]["requestStatus"];
                if status["result"] != true {
                    bail!("OBS refused {kind}: {status}");
                }
                return Ok(reply["d"]["responseData"].clone());
            }
        }
    }

    /// The scene as OBS streams it, at its output size (GetSourceScreenshot of the scene).
    pub fn screenshot(&mut self, width: u32, height: u32) -> anyhow::Result<Screenshot> {
        let data = self.request(
            "GetSourceScreenshot",
            serde_json::json!({
                "sourceName": SCENE, "imageFormat": "png",
                "imageWidth": width, "imageHeight": height,
            }),
        )?;
        let url = data["imageData"]
            .as_str()
            .ok_or_else(|| anyhow!("no imageData in {data}"))?;
        let png = url
            .split_once("base64,")
            .map(|(_, b64)| b64)
            .ok_or_else(|| anyhow!("imageData is not a data URL"))?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(png)?;
        let image = image::load_from_memory(&bytes)?.to_rgb8();
        Ok(Screenshot {
            width: image.width(),
            height: image.height(),
            rgb: image.into_raw(),
        })
    }

    /// The size of the capture source's picture, once OBS has one.
    pub fn source_size(&mut self) -> anyhow::Result<(f64, f64)> {
        let items = self.request("GetSceneItemList", serde_json::json!({"sceneName": SCENE}))?;
        let item = items["sceneItems"]
            .as_array()
            .and_then(|items| items.iter().find(|i| i["sourceName"] == SOURCE))
            .ok_or_else(|| anyhow!("{SOURCE} is not in {SCENE}: {items}"))?;
        let t = &item["sceneItemTransform"];
        Ok((
            t["sourceWidth"].as_f64().unwrap_or(0.0),
            t["sourceHeight"].as_f64().unwrap_or(0.0),
        ))
    }
}

/// obs-websocket listens once OBS has loaded its scenes: a few seconds, more on llvmpipe.
fn connect(
    child: &mut Child,
    port: u16,
    log: &Path,
) -> anyhow::Result<WebSocket<MaybeTlsStream<TcpStream>>> {
    let started = Instant::now();
    loop {
        match tungstenite::connect(format!("ws://127.0.0.1:{port}")) {
            Ok((socket, _)) => return Ok(socket),
            Err(e) => {
                if let Some(status) = child.try_wait()? {
                    bail!("obs exited ({status}): see {}", log.display());
                }
                if started.elapsed() > Duration::from_secs(60) {
                    bail!(
                        "obs-websocket did not answer on port {port} in 60 s ({e}): see {}",
                        log.display()
                    );
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        }
    }
}

impl Drop for Obs {
    fn drop(&mut self) {
        let _ = self.socket.close(None);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
