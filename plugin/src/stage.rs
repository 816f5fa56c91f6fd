//! Opening a stage (`mvgen stage`) from the editor: which `mvgen` to run, and running it as
//! the user's own program rather than the host's child.

use std::path::{Path, PathBuf};

/// The `mvgen` program that opens stages: `MVGEN_BIN`, else the one shipped in the
/// plugin's bundle (beside the plugin, or in `mvgen-libs/` there, as ONNX Runtime is),
/// else one on `PATH`.
pub fn stage_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("MVGEN_BIN") {
        return Some(bin.into());
    }
    let own = mvgen_runtime::library::own_binary_dir();
    let beside = own.iter().flat_map(|dir| {
        [
            dir.join("mvgen"),
            dir.join(mvgen_runtime::library::LIB_DIR).join("mvgen"),
        ]
    });
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("mvgen"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    beside.chain(on_path).find(|p| p.is_file())
}

/// Start `mvgen stage --instance INSTANCE` through a shell that puts it in the background
/// and exits at once: the stage is the user's window, not the host's child (no zombie
/// when it closes), and it holds none of the host's files (its audio device, say).
pub fn open_stage(mvgen: &Path, instance: &str) -> Result<(), String> {
    let mut command = std::process::Command::new("/bin/sh");
    command
        .args([
            "-c",
            "\"$0\" stage --instance \"$1\" >/dev/null 2>&1 </dev/null &",
        ])
        .arg(mvgen)
        .arg(instance);
    // SAFETY: close_range is async-signal-safe; it closes the host's descriptors (but
    // stdin, stdout and stderr) in the child before the shell runs.
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(|| {
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
            Ok(())
        });
    }
    match command.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("{}: {s}", mvgen.display())),
        Err(e) => Err(format!("{}: {e}", mvgen.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::time::{Duration, Instant};

    /// The stage gets its arguments, runs on after the call returned (the shell that
    /// started it is reaped at once), and inherits none of our descriptors.
    #[test]
    fn a_stage_is_started_apart_with_its_instance_and_none_of_our_files() {
        let dir = std::env::temp_dir().join(format!("mvgen-open-stage-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let said = dir.join("said");
        let fake = dir.join("mvgen");
        std::fs::write(
            &fake,
            format!(
                "#!/bin/sh\nsleep 0.3\n{{ echo \"$@\"; ls /proc/$$/fd; }} > {}.part && mv {0}.part {0}\n",
                said.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        // A descriptor the host holds without close-on-exec (an audio device, say).
        let path = std::ffi::CString::new(fake.to_string_lossy().as_bytes()).unwrap();
        // SAFETY: a valid path; the descriptor is closed below.
        let leaked = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY) };
        assert!(leaked > 2);
        open_stage(&fake, "#3").unwrap();
        // The shell is gone at once; the stage runs on.
        assert!(!said.exists(), "open_stage waited for the stage");
        let started = Instant::now();
        while !said.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the stage never ran"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let text = std::fs::read_to_string(&said).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("stage --instance #3"));
        let fds: Vec<&str> = lines.collect();
        assert!(
            !fds.contains(&leaked.to_string().as_str()),
            "the stage holds the host's descriptor {leaked}: {fds:?}"
        );
        // SAFETY: ours, opened above.
        unsafe { libc::close(leaked) };
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
