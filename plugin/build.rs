//! Link flags for the plugin library.

fn main() {
    // A host may unload the plugin while threads the GPU driver started for the editor
    // (Mesa's GL and Vulkan workers) still run code from it; at exit they would call into
    // unmapped memory. `nodelete` keeps the library mapped until the process ends, as
    // the editor's toolkit expects. Measured: a host crash at exit without it (CONTEXT).
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    }
}
