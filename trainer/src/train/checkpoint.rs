//! A training checkpoint in one file, so that writing it is one atomic rename: a short
//! JSON header (epoch, step, section lengths) and then the sections, burn's own record
//! bytes for both networks and both Adam states.

use anyhow::{ensure, Context};
use burn::module::Module;
use burn::store::ModuleRecord;
use serde::{Deserialize, Serialize};
use std::path::Path;

const MAGIC: &[u8; 8] = b"MVGENCK1";

#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Epochs finished.
    pub epoch: usize,
    pub step: u64,
    pub generator: Vec<u8>,
    pub discriminator: Vec<u8>,
    pub opt_g: Vec<u8>,
    pub opt_d: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    epoch: usize,
    step: u64,
    /// Lengths of generator, discriminator, opt_g, opt_d.
    sections: [u64; 4],
}

pub fn module_bytes<M: Module>(module: M) -> anyhow::Result<Vec<u8>> {
    Ok(module
        .into_record()
        .into_bytes()
        .map_err(|e| anyhow::anyhow!("saving weights: {e:?}"))?
        .to_vec())
}

pub fn load_module<M: Module>(module: M, bytes: Vec<u8>) -> anyhow::Result<M> {
    let record = ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
        .map_err(|e| anyhow::anyhow!("reading weights: {e:?}"))?;
    module
        .try_load_record(record)
        .map_err(|e| anyhow::anyhow!("weights do not fit this network: {e:?}"))
}

pub fn write(path: &Path, ck: &Checkpoint) -> anyhow::Result<()> {
    let sections = [&ck.generator, &ck.discriminator, &ck.opt_g, &ck.opt_d];
    let header = serde_json::to_vec(&Header {
        epoch: ck.epoch,
        step: ck.step,
        sections: sections.map(|s| s.len() as u64),
    })?;
    let mut bytes =
        Vec::with_capacity(16 + header.len() + sections.iter().map(|s| s.len()).sum::<usize>());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&header);
    for s in sections {
        bytes.extend_from_slice(s);
    }
    crate::files::write_atomic(path, &bytes)
}

/// The checkpoint at `path`, or `None` if there is none yet.
pub fn read(path: &Path) -> anyhow::Result<Option<Checkpoint>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let bad = || {
        format!(
            "{} is not an mvgen checkpoint (or is damaged)",
            path.display()
        )
    };
    ensure!(bytes.len() >= 16 && &bytes[..8] == MAGIC, bad());
    let header_len = u64::from_le_bytes(bytes[8..16].try_into()?) as usize;
    let header: Header = bytes
        .get(16..16 + header_len)
        .and_then(|h| serde_json::from_slice(h).ok())
        .with_context(bad)?;
    let mut at = 16 + header_len;
    let mut take = |len: u64| -> anyhow::Result<Vec<u8>> {
        let end = at + len as usize;
        let s = bytes.get(at..end).with_context(bad)?.to_vec();
        at = end;
        Ok(s)
    };
    let [g, d, og, od] = header.sections;
    Ok(Some(Checkpoint {
        epoch: header.epoch,
        step: header.step,
        generator: take(g)?,
        discriminator: take(d)?,
        opt_g: take(og)?,
        opt_d: take(od)?,
    }))
}
