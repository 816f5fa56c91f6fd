//! `cargo xtask`: project tasks that need more than cargo. Run bare for help.
//!
//! - `bundle <package> [--release]`: build the VST3 and CLAP bundles (nice-plug-xtask,
//!   names from `bundler.toml`) into `target/bundled/`.

fn main() -> nice_plug_xtask::Result<()> {
    nice_plug_xtask::main()
}
