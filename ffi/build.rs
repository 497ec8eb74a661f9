//! Gives `libferry.so` its SONAME, and writes `ferry.pc` (pkg-config) for the build tree.
//!
//! - The shared library's SONAME is `libferry.so.MAJOR` (`libferry.so.0` for 0.x), so a
//!   program linked against it records that name, and `ffi/install.sh` installs
//!   `libferry.so.0.1.0` with the `libferry.so.0` and `libferry.so` links.
//! - `target/<profile>/ferry.pc`, from `ferry.pc.in`, describes the libraries where cargo
//!   leaves them and the checked-in header in `ffi/include`, so
//!   `PKG_CONFIG_PATH=target/release pkg-config --cflags --libs ferry` works in the tree
//!   without installing anything; `target/<profile>/ferry-static/libferry.a` is a link to
//!   the static library, in a directory of its own, for `pkg-config --static` (see
//!   `ferry.pc.in`). `ffi/install.sh` writes the installed copy.

use std::{
    env, fs, io,
    os::unix::fs::symlink,
    path::{Path, PathBuf},
};

fn main() {
    println!("cargo:rerun-if-changed=ferry.pc.in");
    println!("cargo:rerun-if-changed=build.rs");

    let major = env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets CARGO_PKG_VERSION_MAJOR");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libferry.so.{major}");

    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // OUT_DIR is <target>/<profile>/build/ferry-ffi-<hash>/out; the profile directory,
    // where cargo puts libferry.so and libferry.a, is three levels up.
    let profile_dir = out_dir.ancestors().nth(3).expect("OUT_DIR is inside the target directory");

    // A program linked in the tree asks the loader for the SONAME: give it that name.
    link(&format!("libferry.so.{major}"), "libferry.so", profile_dir);
    let static_dir = profile_dir.join("ferry-static");
    fs::create_dir_all(&static_dir).unwrap_or_else(|e| panic!("creating {}: {e}", static_dir.display()));
    link("libferry.a", "../libferry.a", &static_dir);

    let pc = include_str!("ferry.pc.in")
        .replace("@PREFIX@", &profile_dir.display().to_string())
        .replace("@LIBDIR@", "${prefix}")
        .replace("@STATICDIR@", "${prefix}/ferry-static")
        .replace("@INCLUDEDIR@", &manifest_dir.join("include").display().to_string())
        .replace("@VERSION@", &env::var("CARGO_PKG_VERSION").expect("cargo sets CARGO_PKG_VERSION"));
    let path = profile_dir.join("ferry.pc");
    fs::write(&path, pc).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// Makes `dir/name` a symbolic link to `target` (which cargo may write only later).
fn link(name: &str, target: &str, dir: &Path) {
    let path = dir.join(name);
    match symlink(target, &path) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => panic!("linking {}: {e}", path.display()),
        _ => {}
    }
}
