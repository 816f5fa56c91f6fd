//! Test signals, generated in code from fixed seeds so every run sees the same audio.

use std::f64::consts::PI;

/// Uniform white noise in [-amp, amp] from a fixed-seed LCG.
pub fn noise(seed: u64, amp: f32, len: usize) -> Vec<f32> {
    let mut state = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            amp * (((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0)
        })
        .collect()
}

pub fn sine(freq_hz: f64, amp: f64, rate_hz: u32, len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| (amp * (2.0 * PI * freq_hz * i as f64 / rate_hz as f64).sin()) as f32)
        .collect()
}

/// Music-like test audio: a chord that changes every half second over a noise bed,
/// with a decaying click on every beat at 120 bpm.
pub fn music(seed: u64, rate_hz: u32, len: usize) -> Vec<f32> {
    let bed = noise(seed, 0.05, len);
    let chords = [
        [220.0, 277.2, 329.6],
        [196.0, 246.9, 293.7],
        [174.6, 220.0, 261.6],
        [246.9, 311.1, 370.0],
    ];
    let beat = rate_hz as usize / 2;
    (0..len)
        .map(|i| {
            let t = i as f64 / rate_hz as f64;
            let chord = chords[(i / beat) % chords.len()];
            let tone: f64 = chord.iter().map(|f| 0.15 * (2.0 * PI * f * t).sin()).sum();
            let since_beat = (i % beat) as f64 / rate_hz as f64;
            let click = 0.5 * (-since_beat * 40.0).exp() * (2.0 * PI * 2000.0 * t).sin();
            bed[i] + (tone + click) as f32
        })
        .collect()
}

/// Seeded stereo music: the right channel is another seed at half level.
pub fn stereo(rate_hz: u32, seconds: f64, seed: u64) -> Vec<Vec<f32>> {
    let len = (rate_hz as f64 * seconds) as usize;
    let left = music(seed, rate_hz, len);
    let right: Vec<f32> = music(seed + 1, rate_hz, len)
        .iter()
        .map(|s| 0.5 * s)
        .collect();
    vec![left, right]
}

/// Same channels, same samples, bit for bit.
pub fn bit_exact(a: &[Vec<f32>], b: &[Vec<f32>]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits())
        })
}
