"""Unpacks libtorch from PyTorch's own wheel (already in .deps/wheels): its headers and
the named libraries, plus single files from other wheels, into OUT, with the
`build-version` torch-sys checks. Used by scripts/setup.sh (2.9.0, the CPU trainer) and
scripts/device/prepare-train.sh (2.11.0, the device's PyTorch).

    unpack-libtorch.py VERSION OUT LIB... [--extra WHEEL_GLOB:MEMBER ...]
"""
import glob, os, shutil, sys, zipfile


def main():
    version, out, *rest = sys.argv[1:]
    split = rest.index("--extra") if "--extra" in rest else len(rest)
    keep, extras = set(rest[:split]), rest[split + 1:]
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(os.path.join(out, "lib"))
    with zipfile.ZipFile(glob.glob(f".deps/wheels/torch-{version}-*.whl")[0]) as z:
        for name in z.namelist():
            if name.endswith("/"):
                continue
            if name.startswith("torch/include/"):
                dest = os.path.join(out, "include", name[len("torch/include/"):])
            elif name.startswith("torch/lib/") and os.path.basename(name) in keep:
                dest = os.path.join(out, "lib", os.path.basename(name))
            else:
                continue
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with z.open(name) as src, open(dest, "wb") as dst:
                shutil.copyfileobj(src, dst)
    for extra in extras:
        wheel, member = extra.split(":")
        with zipfile.ZipFile(glob.glob(os.path.join(".deps/wheels", wheel))[0]) as z:
            with open(os.path.join(out, "lib", os.path.basename(member)), "wb") as f:
                f.write(z.read(member))
    # torch-sys checks this against the version its tch release expects.
    with open(os.path.join(out, "build-version"), "w") as f:
        f.write(f"{version}\n")


if __name__ == "__main__":
    main()
