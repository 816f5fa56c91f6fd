//! `mvgen stage --v4l2 /dev/videoN`: the live frames as a camera, for OBS, video calls
//! and anything else that takes one, through the v4l2loopback module's output device.
//! No window: the stage follows an instance as the windowed one does and writes each
//! frame (256x256, YUYV 4:2:2, BT.601 limited range, the format every V4L2 reader takes)
//! thirty times a second, repeating the newest, black while nothing feeds it.
//!
//! Without the module there is no such device, and the stage says so in one line, with
//! the command that loads it.

use anyhow::bail;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::Path;

/// `_IOR('V', 0, struct v4l2_capability)` (104 bytes).
const VIDIOC_QUERYCAP: libc::c_ulong = 0x8068_5600;
/// `_IOWR('V', 5, struct v4l2_format)` (208 bytes).
const VIDIOC_S_FMT: libc::c_ulong = 0xc0d0_5605;
const V4L2_BUF_TYPE_VIDEO_OUTPUT: u32 = 2;
const V4L2_CAP_VIDEO_OUTPUT: u32 = 0x0000_0002;
const V4L2_CAP_DEVICE_CAPS: u32 = 0x8000_0000;
const V4L2_FIELD_NONE: u32 = 1;
const V4L2_COLORSPACE_SMPTE170M: u32 = 1;
const fn fourcc(code: &[u8; 4]) -> u32 {
    u32::from_le_bytes(*code)
}
const V4L2_PIX_FMT_YUYV: u32 = fourcc(b"YUYV");

#[repr(C)]
struct Capability {
    driver: [u8; 16],
    card: [u8; 32],
    bus_info: [u8; 32],
    version: u32,
    capabilities: u32,
    device_caps: u32,
    reserved: [u32; 3],
}

#[repr(C)]
struct PixFormat {
    width: u32,
    height: u32,
    pixelformat: u32,
    field: u32,
    bytesperline: u32,
    sizeimage: u32,
    colorspace: u32,
    private: u32,
    flags: u32,
    ycbcr_enc: u32,
    quantization: u32,
    xfer_func: u32,
}

/// `struct v4l2_format`: the type, then a 200-byte union aligned to 8.
#[repr(C)]
struct Format {
    kind: u32,
    _pad: u32,
    pix: PixFormat,
    _rest: [u8; 200 - std::mem::size_of::<PixFormat>()],
}

/// A V4L2 output device set to `side` x `side` YUYV.
pub struct Camera {
    file: File,
    side: usize,
    yuyv: Vec<u8>,
}

impl Camera {
    /// Open `path` as a video output of `side` x `side`; what is wrong, in one line.
    pub fn open(path: &Path, side: usize) -> anyhow::Result<Self> {
        let load = "load the v4l2loopback module first (sudo modprobe v4l2loopback \
                    video_nr=N card_label=MVGen, for /dev/videoN)";
        let file = match std::fs::OpenOptions::new().write(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!("{} does not exist: {load}", path.display())
            }
            Err(e) => bail!(
                "{} cannot be opened for writing: {e} (is your user in the video group?)",
                path.display()
            ),
        };
        // SAFETY: a zeroed Capability is valid (plain integers and bytes); the kernel
        // writes at most its size for this request number.
        let mut cap: Capability = unsafe { std::mem::zeroed() };
        let asked = unsafe { libc::ioctl(file.as_raw_fd(), VIDIOC_QUERYCAP as _, &mut cap) };
        if asked != 0 {
            bail!("{} is not a video device: {load}", path.display());
        }
        let caps = if cap.capabilities & V4L2_CAP_DEVICE_CAPS != 0 {
            cap.device_caps
        } else {
            cap.capabilities
        };
        if caps & V4L2_CAP_VIDEO_OUTPUT == 0 {
            let card = String::from_utf8_lossy(&cap.card);
            bail!(
                "{} ({}) is a camera, not a video output: {load}",
                path.display(),
                card.trim_end_matches('\0')
            );
        }
        let line = 2 * side as u32;
        // SAFETY: as above, for the format.
        let mut format: Format = unsafe { std::mem::zeroed() };
        format.kind = V4L2_BUF_TYPE_VIDEO_OUTPUT;
        format.pix = PixFormat {
            width: side as u32,
            height: side as u32,
            pixelformat: V4L2_PIX_FMT_YUYV,
            field: V4L2_FIELD_NONE,
            bytesperline: line,
            sizeimage: line * side as u32,
            colorspace: V4L2_COLORSPACE_SMPTE170M,
            ..unsafe { std::mem::zeroed() }
        };
        let set = unsafe { libc::ioctl(file.as_raw_fd(), VIDIOC_S_FMT as _, &mut format) };
        if set != 0 {
            bail!(
                "{} refused {side}x{side} YUYV: {}",
                path.display(),
                std::io::Error::last_os_error()
            );
        }
        Ok(Self {
            file,
            side,
            yuyv: vec![0; 2 * side * side],
        })
    }

    /// Write one frame (`side` x `side` RGBA).
    pub fn write(&mut self, rgba: &[u8]) -> std::io::Result<()> {
        rgba_to_yuyv(rgba, &mut self.yuyv);
        debug_assert_eq!(self.yuyv.len(), 2 * self.side * self.side);
        self.file.write_all(&self.yuyv)
    }
}

/// RGBA to YUYV 4:2:2 (BT.601, limited range): each pair of pixels shares its chroma.
pub fn rgba_to_yuyv(rgba: &[u8], yuyv: &mut [u8]) {
    let luma = |p: &[u8]| {
        16.0 + (65.738 * p[0] as f32 + 129.057 * p[1] as f32 + 25.064 * p[2] as f32) / 256.0
    };
    for (pair, out) in rgba.chunks_exact(8).zip(yuyv.chunks_exact_mut(4)) {
        let (a, b) = (&pair[..4], &pair[4..]);
        let [r, g, bl] = [0, 1, 2].map(|k| (a[k] as f32 + b[k] as f32) / 2.0);
        let u = 128.0 + (-37.945 * r - 74.494 * g + 112.439 * bl) / 256.0;
        let v = 128.0 + (112.439 * r - 94.154 * g - 18.285 * bl) / 256.0;
        let byte = |x: f32| x.round().clamp(0.0, 255.0) as u8;
        out.copy_from_slice(&[byte(luma(a)), byte(u), byte(luma(b)), byte(v)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_become_bt601_limited_range() {
        let pixels: [[u8; 4]; 4] = [
            [0, 0, 0, 255],
            [255, 255, 255, 255],
            [255, 0, 0, 255],
            [255, 0, 0, 255],
        ];
        let rgba: Vec<u8> = pixels.iter().flatten().copied().collect();
        let mut yuyv = vec![0; 8];
        rgba_to_yuyv(&rgba, &mut yuyv);
        // Black and white share a grey chroma; pure red is Y 81, U 90, V 240.
        assert_eq!(yuyv, [16, 128, 235, 128, 81, 90, 81, 240]);
    }

    #[test]
    fn without_a_loopback_device_it_says_why_in_one_line() {
        let missing = Camera::open(Path::new("/dev/video-mvgen-test-none"), 256)
            .err()
            .unwrap()
            .to_string();
        assert!(
            missing.contains("does not exist") && missing.contains("modprobe v4l2loopback"),
            "{missing}"
        );
        let not_video = Camera::open(Path::new("/dev/null"), 256)
            .err()
            .unwrap()
            .to_string();
        assert!(
            not_video.contains("is not a video device") && not_video.contains("modprobe"),
            "{not_video}"
        );
        for message in [missing, not_video] {
            assert_eq!(message.lines().count(), 1, "{message}");
        }
    }
}
