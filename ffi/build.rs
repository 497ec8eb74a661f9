//! Writes `ferry.pc`, the pkg-config file, next to `libferry.so` and `libferry.a` in
//! `target/<profile>/`, from `ferry.pc.in`.
//!
//! By default it describes the libraries where cargo leaves them and the checked-in
//! header in `ffi/include`, so `PKG_CONFIG_PATH=target/release pkg-config --cflags
//! --libs ferry` works in the tree without installing anything. With
//! `FERRY_INSTALL_PREFIX=/usr/local` it describes `$prefix/lib` and `$prefix/include`
//! instead, for copying the three files there.

use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=ferry.pc.in");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=FERRY_INSTALL_PREFIX");

    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // OUT_DIR is <target>/<profile>/build/ferry-ffi-<hash>/out; the profile directory,
    // where cargo puts libferry.so and libferry.a, is three levels up.
    let profile_dir = out_dir.ancestors().nth(3).expect("OUT_DIR is inside the target directory");

    let (prefix, libdir, includedir) = match env::var("FERRY_INSTALL_PREFIX") {
        Ok(prefix) => (prefix, "${prefix}/lib".to_owned(), "${prefix}/include".to_owned()),
        Err(_) => (
            profile_dir.display().to_string(),
            "${prefix}".to_owned(),
            manifest_dir.join("include").display().to_string(),
        ),
    };
    let pc = include_str!("ferry.pc.in")
        .replace("@PREFIX@", &prefix)
        .replace("@LIBDIR@", &libdir)
        .replace("@INCLUDEDIR@", &includedir)
        .replace("@VERSION@", &env::var("CARGO_PKG_VERSION").expect("cargo sets CARGO_PKG_VERSION"));
    let path = profile_dir.join("ferry.pc");
    fs::write(&path, pc).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}
