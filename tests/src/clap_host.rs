//! A small CLAP host on clack-host: loads a bundle, activates it at a rate, and processes
//! audio in blocks of chosen sizes with a playing transport, as a DAW would.
//!
//! Processing runs on the calling thread, which is the plugin's audio thread for the
//! duration of `process`.

use anyhow::anyhow;
use clack_extensions::gui::{GuiSize, HostGui, HostGuiImpl};
use clack_extensions::render::{PluginRender, RenderMode};
use clack_extensions::state::PluginState;
use clack_extensions::track_info::{HostTrackInfo, HostTrackInfoImpl, TrackInfo, TrackInfoWriter};
use clack_host::events::event_types::{ParamValueEvent, TransportEvent, TransportFlags};
use clack_host::events::{EventFlags, EventHeader, Pckn};
use clack_host::prelude::*;
use clack_host::utils::{BeatTime, ClapId, SecondsTime};
use std::ffi::CStr;
use std::path::Path;

pub const PLUGIN_ID: &CStr = c"org.mvgen.mvgen";
/// The largest block most tests send (CONTEXT: blocks of 0 to 8192 frames); a run with
/// larger blocks activates with its own largest.
pub const MAX_BLOCK: usize = 8192;

struct Shared;
impl SharedHandler<'_> for Shared {
    fn request_restart(&self) {}
    fn request_process(&self) {}
    fn request_callback(&self) {}
}

/// The host side of the gui extension: the test's parent window has a fixed place, so
/// requests from the editor are acknowledged and left to the test.
impl HostGuiImpl for Shared {
    fn resize_hints_changed(&self) {}
    fn request_resize(&self, _new_size: GuiSize) -> Result<(), HostError> {
        Ok(())
    }
    fn request_show(&self) -> Result<(), HostError> {
        Ok(())
    }
    fn request_hide(&self) -> Result<(), HostError> {
        Ok(())
    }
    fn closed(&self, _was_destroyed: bool) {}
}

/// The host's main-thread side: the name of the track the plugin is on, told through
/// the CLAP track-info extension when the test gives one.
pub struct MainThread {
    track_name: Option<String>,
}

impl MainThreadHandler<'_> for MainThread {}

impl HostTrackInfoImpl for MainThread {
    fn get<'a>(&'a self, writer: &mut TrackInfoWriter<'_, 'a>) {
        if let Some(name) = &self.track_name {
            writer.set(&TrackInfo::new().with_name(Some(name.as_bytes())));
        }
    }
}

struct TestHost;
impl HostHandlers for TestHost {
    type Shared<'a> = Shared;
    type MainThread<'a> = MainThread;
    type AudioProcessor<'a> = ();

    fn declare_extensions(builder: &mut HostExtensions<Self>, _shared: &Self::Shared<'_>) {
        builder.register::<HostGui>();
        builder.register::<HostTrackInfo>();
    }
}

/// nice-plug's CLAP parameter id for a string id (its `hash_param_id`).
pub fn param_id(id: &str) -> u32 {
    let mut hash: u32 = 0;
    for b in id.bytes() {
        hash = hash.wrapping_mul(31).wrapping_add(b as u32);
    }
    hash & !(1 << 31)
}

/// How one run drives the plugin.
#[derive(Debug, Clone)]
pub struct Run<'a> {
    pub rate_hz: u32,
    /// Block sizes, cycled; a 0 is a zero-length block.
    pub blocks: &'a [usize],
    /// Transport playing from sample 0, or stopped.
    pub playing: bool,
    /// Render offline (CLAP render extension), as a bounce does, or in real time.
    pub offline: bool,
    /// Parameter changes sent with the first block.
    pub params: &'a [ParamChange],
    /// The timeline sample of the first input sample (a bounce that starts mid-song).
    pub start_sample: u64,
}

impl<'a> Run<'a> {
    /// An offline render from sample 0 in blocks of `blocks`, the usual test case.
    pub fn offline(rate_hz: u32, blocks: &'a [usize]) -> Self {
        Self {
            rate_hz,
            blocks,
            playing: true,
            offline: true,
            params: &[],
            start_sample: 0,
        }
    }
}

/// A parameter change sent with the first block.
#[derive(Debug, Clone, Copy)]
pub struct ParamChange {
    pub id: &'static str,
    pub value: f64,
}

pub struct Host {
    instance: PluginInstance<TestHost>,
    // Keeps the library loaded for as long as the instance lives.
    _entry: PluginEntry,
}

impl Host {
    pub fn load(bundle: &Path) -> anyhow::Result<Self> {
        Self::load_on_track(bundle, None)
    }

    /// Load the plugin onto a track the host names (CLAP track-info), or none.
    pub fn load_on_track(bundle: &Path, track_name: Option<&str>) -> anyhow::Result<Self> {
        // Offline runs export their frames (the plugin's default): into the target dir,
        // not the home folder, unless a test names a folder.
        static EXPORTS: std::sync::Once = std::sync::Once::new();
        EXPORTS.call_once(|| {
            if std::env::var_os("MVGEN_EXPORT_DIR").is_none() {
                std::env::set_var("MVGEN_EXPORT_DIR", crate::scratch("bounces"));
            }
        });
        // SAFETY: loading a CLAP library runs its entry's init; the bundle is our own.
        let entry = unsafe { PluginEntry::load(bundle) }
            .map_err(|e| anyhow!("loading {}: {e:?}", bundle.display()))?;
        let info = HostInfo::new("mvgen test host", "mvgen", "https://example.invalid", "0.1")
            .map_err(|e| anyhow!("{e:?}"))?;
        let track_name = track_name.map(String::from);
        let instance = PluginInstance::<TestHost>::new(
            |_| Shared,
            |_| MainThread { track_name },
            &entry,
            PLUGIN_ID,
            &info,
        )
        .map_err(|e| anyhow!("instantiating: {e:?}"))?;
        Ok(Self {
            instance,
            _entry: entry,
        })
    }

    /// The plugin's main-thread handle, for extensions such as the gui.
    pub fn main_thread(&mut self) -> PluginMainThreadHandle<'_> {
        self.instance.plugin_handle()
    }

    /// The session as the host saves it (CLAP state extension).
    pub fn save_state(&mut self) -> anyhow::Result<Vec<u8>> {
        let handle = self.instance.plugin_handle();
        let state: PluginState = handle
            .get_extension()
            .ok_or_else(|| anyhow!("the plugin has no state extension"))?;
        let mut bytes = Vec::new();
        state
            .save(&handle, &mut bytes)
            .map_err(|e| anyhow!("saving the state: {e}"))?;
        Ok(bytes)
    }

    /// Open a saved session (CLAP state extension).
    pub fn load_state(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        let handle = self.instance.plugin_handle();
        let state: PluginState = handle
            .get_extension()
            .ok_or_else(|| anyhow!("the plugin has no state extension"))?;
        state
            .load(&handle, &mut &bytes[..])
            .map_err(|e| anyhow!("loading the state: {e}"))
    }

    /// Activate, process `input` (one Vec per channel) as `run` says, and deactivate.
    /// Returns the output channels.
    pub fn run(&mut self, run: &Run, input: &[Vec<f32>]) -> anyhow::Result<Vec<Vec<f32>>> {
        self.run_with(run, input, |_, _| Ok(()))
    }

    /// [`Self::run`], calling `between(main thread, samples processed)` after every block,
    /// as a DAW's main thread works while its audio thread runs.
    pub fn run_with(
        &mut self,
        run: &Run,
        input: &[Vec<f32>],
        mut between: impl FnMut(&mut PluginMainThreadHandle, usize) -> anyhow::Result<()>,
    ) -> anyhow::Result<Vec<Vec<f32>>> {
        let Run {
            rate_hz,
            blocks,
            playing,
            offline,
            params,
            start_sample,
        } = *run;
        self.set_render_mode(offline)?;
        let max_block = blocks.iter().copied().max().unwrap_or(1).max(MAX_BLOCK);
        let mut active = self.activate(rate_hz, input.len(), max_block)?;
        let len = input.first().map_or(0, |c| c.len());
        let mut output = vec![Vec::with_capacity(len); input.len()];
        let mut pos = 0usize;
        let mut first = true;
        for &block in blocks.iter().cycle() {
            if pos >= len {
                break;
            }
            let n = block.min(len - pos);
            let block_in: Vec<&[f32]> = input.iter().map(|c| &c[pos..pos + n]).collect();
            let timeline = Block {
                position: start_sample + pos as u64,
                playing,
            };
            let out = active.process(&block_in, timeline, if first { params } else { &[] })?;
            first = false;
            for (o, b) in output.iter_mut().zip(out) {
                o.extend_from_slice(&b);
            }
            pos += n;
            between(&mut active.main_thread(), pos)?;
        }
        active.deactivate();
        Ok(output)
    }

    /// Set the render mode through the CLAP render extension (main thread; the plugin may
    /// be active, as when a host starts a bounce without reactivating it).
    pub fn set_render_mode(&mut self, offline: bool) -> anyhow::Result<()> {
        let mode = if offline {
            RenderMode::Offline
        } else {
            RenderMode::Realtime
        };
        let handle = self.instance.plugin_handle();
        let render: PluginRender = handle
            .get_extension()
            .ok_or_else(|| anyhow!("the plugin has no render extension"))?;
        render
            .set(&handle, mode)
            .map_err(|e| anyhow!("setting render mode {mode:?}: {e}"))
    }

    /// Activate at `rate_hz` for `num_channels` in and out, with blocks of up to
    /// `max_block` frames, and start processing.
    pub fn activate(
        &mut self,
        rate_hz: u32,
        num_channels: usize,
        max_block: usize,
    ) -> anyhow::Result<Active<'_>> {
        let config = PluginAudioConfiguration {
            sample_rate: rate_hz as f64,
            min_frames_count: 1,
            max_frames_count: max_block as u32,
        };
        let stopped = self
            .instance
            .activate(|_, _| (), config)
            .map_err(|e| anyhow!("activating at {rate_hz} Hz: {e:?}"))?;
        let processor = stopped
            .start_processing()
            .map_err(|e| anyhow!("starting: {e:?}"))?;
        Ok(Active {
            host: self,
            processor: Some(processor),
            rate_hz,
            in_bufs: vec![vec![0.0; max_block]; num_channels],
            out_bufs: vec![vec![0.0; max_block]; num_channels],
            in_ports: AudioPorts::with_capacity(num_channels, 1),
            out_ports: AudioPorts::with_capacity(num_channels, 1),
            out_events: EventBuffer::new(),
        })
    }
}

/// Where a block sits on the host's timeline.
#[derive(Debug, Clone, Copy)]
pub struct Block {
    /// The timeline sample of the block's first sample.
    pub position: u64,
    /// Whether the transport rolls.
    pub playing: bool,
}

/// An activated plugin, processing one block per call as a DAW's audio thread does, with
/// the main thread's work (render mode, gui) in between.
pub struct Active<'a> {
    host: &'a mut Host,
    processor: Option<StartedPluginAudioProcessor<TestHost>>,
    rate_hz: u32,
    in_bufs: Vec<Vec<f32>>,
    out_bufs: Vec<Vec<f32>>,
    in_ports: AudioPorts,
    out_ports: AudioPorts,
    out_events: EventBuffer,
}

impl Active<'_> {
    /// Process one block (one slice per channel), with `params` changed at its start.
    pub fn process(
        &mut self,
        input: &[&[f32]],
        block: Block,
        params: &[ParamChange],
    ) -> anyhow::Result<Vec<Vec<f32>>> {
        let n = input.first().map_or(0, |c| c.len());
        anyhow::ensure!(
            n <= self.in_bufs.first().map_or(0, |b| b.len()),
            "a block of {n} frames is over the activation's maximum"
        );
        for (buf, ch) in self.in_bufs.iter_mut().zip(input) {
            buf[..n].copy_from_slice(ch);
        }
        let transport = transport_at(block.position as f64 / self.rate_hz as f64, block.playing);
        let param_events: Vec<ParamValueEvent> = params
            .iter()
            .map(|p| {
                ParamValueEvent::new(0, ClapId::new(param_id(p.id)), Pckn::match_all(), p.value)
            })
            .collect();
        let in_events = InputEvents::from_buffer(&param_events);
        let inputs = self.in_ports.with_input_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_input_only(
                self.in_bufs
                    .iter_mut()
                    .map(|b| InputChannel::variable(&mut b[..n])),
            ),
        }]);
        let mut outputs = self.out_ports.with_output_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_output_only(
                self.out_bufs.iter_mut().map(|b| &mut b[..n]),
            ),
        }]);
        self.processor
            .as_mut()
            .ok_or_else(|| anyhow!("not processing"))?
            .process(
                &inputs,
                &mut outputs,
                &in_events,
                &mut OutputEvents::from_buffer(&mut self.out_events),
                None,
                Some(&transport),
            )
            .map_err(|e| anyhow!("process at sample {}: {e:?}", block.position))?;
        Ok(self.out_bufs.iter().map(|b| b[..n].to_vec()).collect())
    }

    /// The plugin's `reset` on the audio thread: the host starts over (a new render).
    pub fn reset(&mut self) {
        if let Some(p) = &mut self.processor {
            p.reset();
        }
    }

    /// Switch the render mode while active (the main thread, between blocks).
    pub fn set_render_mode(&mut self, offline: bool) -> anyhow::Result<()> {
        self.host.set_render_mode(offline)
    }

    /// The plugin's main-thread handle.
    pub fn main_thread(&mut self) -> PluginMainThreadHandle<'_> {
        self.host.instance.plugin_handle()
    }

    /// Stop processing and deactivate.
    pub fn deactivate(mut self) {
        if let Some(p) = self.processor.take() {
            self.host.instance.deactivate(p.stop_processing());
        }
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        if let Some(p) = self.processor.take() {
            self.host.instance.deactivate(p.stop_processing());
        }
    }
}

fn transport_at(seconds: f64, playing: bool) -> TransportEvent {
    let mut flags = TransportFlags::HAS_SECONDS_TIMELINE | TransportFlags::HAS_TEMPO;
    if playing {
        flags |= TransportFlags::IS_PLAYING;
    }
    TransportEvent {
        header: EventHeader::new_core(0, EventFlags::empty()),
        flags,
        song_pos_beats: BeatTime::from_float(seconds * 2.0),
        song_pos_seconds: SecondsTime::from_float(seconds),
        tempo: 120.0,
        tempo_inc: 0.0,
        loop_start_beats: BeatTime::from_float(0.0),
        loop_end_beats: BeatTime::from_float(0.0),
        loop_start_seconds: SecondsTime::from_float(0.0),
        loop_end_seconds: SecondsTime::from_float(0.0),
        bar_start: BeatTime::from_float(0.0),
        bar_number: 0,
        time_signature_numerator: 4,
        time_signature_denominator: 4,
    }
}
