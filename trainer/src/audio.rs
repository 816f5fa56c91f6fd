//! Decoding audio files into the contract's input: a mono mixdown at 44.1 kHz.
//!
//! symphonia decodes the common formats in pure Rust (no system libraries), and
//! `mvgen_core`'s resampler brings any rate to 44.1 kHz exactly as the plugin does.

use anyhow::{bail, Context};
use mvgen_core::resample::StreamResampler;
use std::fs::File;
use std::path::Path;
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

/// A decoded file, mixed down to mono at its own rate.
pub struct Decoded {
    pub rate_hz: u32,
    pub num_channels: usize,
    pub mono: Vec<f32>,
}

impl Decoded {
    pub fn seconds(&self) -> f64 {
        self.mono.len() as f64 / self.rate_hz as f64
    }

    /// The mixdown at 44.1 kHz, through the plugin's own resampler.
    pub fn to_44k(&self) -> anyhow::Result<Vec<f32>> {
        StreamResampler::resample_all(self.rate_hz, &self.mono)
            .with_context(|| format!("resampling from {} Hz", self.rate_hz))
    }
}

/// Decode the default audio track of `path` and mix it down to mono (the mean of the
/// channels, as the contract says).
pub fn decode(path: &Path) -> anyhow::Result<Decoded> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let stream = MediaSourceStream::new(Box::new(file), Default::default());
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            stream,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .with_context(|| format!("{} is not an audio format mvgen can read", path.display()))?;
    let track = format
        .default_track(TrackType::Audio)
        .with_context(|| format!("{} has no audio track", path.display()))?;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .with_context(|| format!("{}: no audio codec parameters", path.display()))?;
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .with_context(|| format!("{}: unsupported codec", path.display()))?;
    let track_id = track.id;

    let mut mono = Vec::new();
    let mut interleaved: Vec<f32> = Vec::new();
    let mut spec: Option<(u32, usize)> = None;
    loop {
        let packet = match format.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        if packet.track_id != track_id {
            continue;
        }
        let buf = match decoder.decode(&packet) {
            Ok(buf) => buf,
            // A corrupt packet: skip it, as players do.
            Err(SymphoniaError::DecodeError(_)) => continue,
            Err(e) => return Err(e).with_context(|| format!("decoding {}", path.display())),
        };
        let (rate_hz, num_channels) = (buf.spec().rate(), buf.spec().channels().count());
        match spec {
            None => spec = Some((rate_hz, num_channels)),
            Some(s) if s != (rate_hz, num_channels) => {
                bail!("{}: the stream changes format mid-file", path.display())
            }
            Some(_) => {}
        }
        interleaved.resize(buf.frames() * num_channels, 0.0);
        buf.copy_to_slice_interleaved(&mut interleaved[..]);
        let scale = 1.0 / num_channels as f32;
        mono.extend(
            interleaved
                .chunks_exact(num_channels)
                .map(|frame| frame.iter().sum::<f32>() * scale),
        );
    }
    let Some((rate_hz, num_channels)) = spec else {
        bail!("{} holds no decodable audio", path.display());
    };
    Ok(Decoded {
        rate_hz,
        num_channels,
        mono,
    })
}
