//! Files written so that a reader, or a run resumed after a kill, never sees half of one.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};

/// Write through a temporary file and a rename: readers see the old file or the new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// Files among `inputs` (files, or folders searched one level deep for names ending in
/// one of `extensions`, in any case), sorted, each once.
pub fn collect(inputs: &[PathBuf], extensions: &[&str]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            for entry in std::fs::read_dir(input)
                .with_context(|| format!("reading {}", input.display()))?
                .flatten()
            {
                let p = entry.path();
                if p.is_file()
                    && p.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| extensions.contains(&e.to_ascii_lowercase().as_str()))
                {
                    files.push(p);
                }
            }
        } else if input.exists() {
            files.push(input.clone());
        } else {
            bail!("{} does not exist", input.display());
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}
