//! Where the repository's modules and fixtures are.

use std::path::{Path, PathBuf};

/// The repository root (the parent of `bench/`).
pub fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from(".."), Path::to_path_buf)
}

/// The workspace's target directory (`CARGO_TARGET_DIR` when set).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                repository_root().join(dir)
            }
        }
        None => repository_root().join("target"),
    }
}

/// A path given on the command line or by a variable: as is when it exists or
/// is absolute, else relative to the repository root.
pub fn resolve(path: &Path) -> PathBuf {
    if path.is_absolute() || path.exists() {
        path.to_path_buf()
    } else {
        repository_root().join(path)
    }
}
