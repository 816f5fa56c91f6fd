//! Where the torch backend finds libtorch at run time: an rpath to the libtorch it was
//! linked against, so `mvgen` runs without LD_LIBRARY_PATH. With `cuda`, libtorch's CUDA
//! library is linked even though no symbol of it is named (it registers the CUDA
//! kernels when loaded), which the linker's --as-needed would otherwise drop.

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if std::env::var_os("CARGO_FEATURE_TORCH").is_none() {
        return;
    }
    if let Ok(libtorch) = std::env::var("LIBTORCH") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{libtorch}/lib");
    }
    if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
