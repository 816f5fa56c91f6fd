//! Finding and loading ONNX Runtime: one environment per process, from a library we ship.
//!
//! The library is loaded at run time (ort's `load-dynamic`), never downloaded. We look, in
//! order, at `$MVGEN_ORT_DYLIB`; then beside the binary that contains this code (the
//! plugin's own `.so`, resolved with `dladdr`, not the host's executable) and in a
//! `mvgen-libs/` folder there; then beside the running executable, and in `../lib/mvgen/`
//! from it (where `scripts/demo.sh` installs it with `~/.local/bin/mvgen`); then in the
//! project's `.deps/onnxruntime/` (where `scripts/setup.sh` unpacks it) for development
//! builds.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

#[cfg(target_os = "linux")]
pub const ORT_LIBRARY: &str = "libonnxruntime.so.1.31.1";
#[cfg(target_os = "macos")]
pub const ORT_LIBRARY: &str = "libonnxruntime.1.31.1.dylib";
#[cfg(target_os = "windows")]
pub const ORT_LIBRARY: &str = "onnxruntime.dll";

/// ONNX Runtime's WebGPU execution provider, a plugin library (`onnxruntime-ep-webgpu`).
#[cfg(target_os = "linux")]
pub const WEBGPU_EP_LIBRARY: &str = "libonnxruntime_providers_webgpu.so";
#[cfg(target_os = "macos")]
pub const WEBGPU_EP_LIBRARY: &str = "libonnxruntime_providers_webgpu.dylib";
#[cfg(target_os = "windows")]
pub const WEBGPU_EP_LIBRARY: &str = "onnxruntime_providers_webgpu.dll";

/// The CUDA execution provider, present only beside an `onnxruntime-gpu` build.
#[cfg(not(target_os = "windows"))]
pub const CUDA_EP_LIBRARY: &str = "libonnxruntime_providers_cuda.so";
#[cfg(target_os = "windows")]
pub const CUDA_EP_LIBRARY: &str = "onnxruntime_providers_cuda.dll";

/// Overrides where ONNX Runtime is loaded from.
pub const ORT_DYLIB_ENV: &str = "MVGEN_ORT_DYLIB";
/// The folder beside the plugin binary where the bundles carry their libraries.
pub const LIB_DIR: &str = "mvgen-libs";

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum LibraryError {
    #[error("ONNX Runtime ({ORT_LIBRARY}) was not found; looked in: {0}. Set {ORT_DYLIB_ENV} to its path")]
    NotFound(String),
    #[error("ONNX Runtime at {0} could not be loaded: {1}")]
    Load(PathBuf, String),
}

/// The loaded runtime: the process's one ONNX Runtime environment and where it came from.
pub struct Runtime {
    pub environment: ort::environment::Environment,
    pub library: PathBuf,
    /// The WebGPU EP library, if one was found beside ONNX Runtime and registered.
    pub webgpu: Result<PathBuf, String>,
}

static RUNTIME: OnceLock<Result<Runtime, LibraryError>> = OnceLock::new();

/// The process's runtime, loaded on first use. Later calls return the same result.
pub fn runtime() -> Result<&'static Runtime, LibraryError> {
    RUNTIME
        .get_or_init(|| {
            // ONNX Runtime starts threads of its own for the life of the process, and a
            // thread takes its creator's name: made here, they say whose they are.
            std::thread::Builder::new()
                .name("onnxruntime".into())
                .spawn(load)
                .map_err(|e| LibraryError::Load(PathBuf::new(), e.to_string()))
                .and_then(|t| {
                    t.join().unwrap_or_else(|_| {
                        Err(LibraryError::Load(
                            PathBuf::new(),
                            "loading panicked".into(),
                        ))
                    })
                })
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn load() -> Result<Runtime, LibraryError> {
    let candidates = candidates();
    let library = candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            LibraryError::NotFound(
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })?;
    let builder =
        ort::init_from(&library).map_err(|e| LibraryError::Load(library.clone(), e.to_string()))?;
    let environment = builder
        .with_name("mvgen")
        .build()
        .map_err(|e| LibraryError::Load(library.clone(), e.to_string()))?;
    let folder = library.parent().unwrap_or(Path::new("."));
    let webgpu_path = folder.join(WEBGPU_EP_LIBRARY);
    let webgpu = if webgpu_path.is_file() {
        environment
            .register_ep_library("WebGPU", &webgpu_path)
            .map(|()| webgpu_path)
            .map_err(|e| format!("registering {WEBGPU_EP_LIBRARY}: {e}"))
    } else {
        Err(format!(
            "{WEBGPU_EP_LIBRARY} is not beside {}",
            library.display()
        ))
    };
    Ok(Runtime {
        environment,
        library,
        webgpu,
    })
}

/// Every place we look for ONNX Runtime, in order.
pub fn candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os(ORT_DYLIB_ENV) {
        out.push(PathBuf::from(p));
    }
    let mut dirs = Vec::new();
    if let Some(own) = own_binary_dir() {
        dirs.push(own);
    }
    if let Some(exe) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        dirs.push(exe);
    }
    for dir in dirs {
        out.push(dir.join(ORT_LIBRARY));
        out.push(dir.join(LIB_DIR).join(ORT_LIBRARY));
        // An installed `bin/mvgen` finds it in `lib/mvgen/` beside `bin/` (~/.local).
        if let Some(prefix) = dir.parent() {
            out.push(prefix.join("lib/mvgen").join(ORT_LIBRARY));
        }
    }
    out.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../.deps/onnxruntime")
            .join(ORT_LIBRARY),
    );
    out
}

/// The folder of the binary (executable or shared library) that contains this code.
/// For the plugin this is the bundle's folder, wherever the host loaded it from.
pub fn own_binary_dir() -> Option<PathBuf> {
    #[cfg(unix)]
    {
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        let address = own_binary_dir as *const libc::c_void;
        // SAFETY: dladdr only reads the loader's tables for an address in our own image
        // and fills `info`; `dli_fname` points into the loader's memory for as long as
        // the image stays loaded, and we copy it at once.
        let found = unsafe { libc::dladdr(address, &mut info) } != 0;
        if !found || info.dli_fname.is_null() {
            return None;
        }
        // SAFETY: dladdr succeeded, so dli_fname is a NUL-terminated path.
        let name = unsafe { std::ffi::CStr::from_ptr(info.dli_fname) };
        use std::os::unix::ffi::OsStrExt;
        let path = PathBuf::from(std::ffi::OsStr::from_bytes(name.to_bytes()));
        let path = path.canonicalize().unwrap_or(path);
        path.parent().map(Path::to_path_buf)
    }
    #[cfg(not(unix))]
    {
        None
    }
}
