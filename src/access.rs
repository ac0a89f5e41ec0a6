//! Why a file cannot be used, said the way an operator fixes it: missing or unreadable, by
//! which user, with the owner and mode that keep it from them.

use std::fmt;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The effective user of this process, by name where the system knows it.
pub fn current_user() -> String {
    let uid = nix::unistd::geteuid();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(u)) => format!("{} (uid {uid})", u.name),
        _ => format!("uid {uid}"),
    }
}

fn owner(meta: &std::fs::Metadata) -> String {
    let user = nix::unistd::User::from_uid(meta.uid().into())
        .ok()
        .flatten()
        .map_or_else(|| meta.uid().to_string(), |u| u.name);
    let group = nix::unistd::Group::from_gid(meta.gid().into())
        .ok()
        .flatten()
        .map_or_else(|| meta.gid().to_string(), |g| g.name);
    format!("{user}:{group}, mode {:o}", meta.mode() & 0o7777)
}

/// A file that could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileProblem {
    /// Nothing is at the path.
    Missing(PathBuf),
    /// Something is there, but not a regular file.
    NotAFile(PathBuf),
    /// The file or a directory on its path keeps this user out.
    Unreadable {
        path: PathBuf,
        user: String,
        /// The file's or the blocking directory's owner and mode, where they could be read.
        detail: String,
    },
    /// Any other error of the system.
    Other { path: PathBuf, error: String },
}

impl std::error::Error for FileProblem {}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileProblem::Missing(p) => write!(f, "{} does not exist", p.display()),
            FileProblem::NotAFile(p) => write!(f, "{} is not a regular file", p.display()),
            FileProblem::Unreadable { path, user, detail } => write!(
                f,
                "{} exists but user {user} may not read it ({detail})",
                path.display()
            ),
            FileProblem::Other { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

/// Opens `path` for reading, or says why it cannot be.
pub fn open(path: &Path) -> Result<std::fs::File, FileProblem> {
    match std::fs::File::open(path) {
        Ok(f) => {
            if f.metadata().map(|m| m.is_file()).unwrap_or(false) {
                Ok(f)
            } else {
                Err(FileProblem::NotAFile(path.to_owned()))
            }
        }
        Err(e) => Err(explain(path, &e)),
    }
}

/// Reads `path` to a string, or says why it cannot be.
pub fn read_to_string(path: &Path) -> Result<String, FileProblem> {
    let f = open(path)?;
    io::read_to_string(f).map_err(|e| explain(path, &e))
}

/// Turns an error of opening `path` into what the operator must fix.
pub fn explain(path: &Path, e: &io::Error) -> FileProblem {
    match e.kind() {
        io::ErrorKind::NotFound => FileProblem::Missing(path.to_owned()),
        io::ErrorKind::PermissionDenied => {
            // The file itself, or the first directory on its path this user may not enter.
            let detail = match std::fs::metadata(path) {
                Ok(m) => format!("owned by {}", owner(&m)),
                Err(_) => path
                    .ancestors()
                    .skip(1)
                    .filter(|d| !d.as_os_str().is_empty())
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .find(|d| std::fs::read_dir(d).is_err())
                    .and_then(|d| {
                        std::fs::metadata(d)
                            .ok()
                            .map(|m| format!("directory {} is owned by {}", d.display(), owner(&m)))
                    })
                    .unwrap_or_else(|| "permission denied".to_owned()),
            };
            FileProblem::Unreadable {
                path: path.to_owned(),
                user: current_user(),
                detail,
            }
        }
        _ => FileProblem::Other {
            path: path.to_owned(),
            error: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_and_a_directory_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.toml");
        assert_eq!(
            open(&missing).unwrap_err(),
            FileProblem::Missing(missing.clone())
        );
        assert!(
            open(&missing)
                .unwrap_err()
                .to_string()
                .contains("does not exist")
        );
        assert_eq!(
            open(dir.path()).unwrap_err(),
            FileProblem::NotAFile(dir.path().to_owned())
        );
        let file = dir.path().join("ok.toml");
        std::fs::write(&file, "x = 1").unwrap();
        assert_eq!(read_to_string(&file).unwrap(), "x = 1");
    }

    #[test]
    fn permission_denied_names_the_user_and_the_owner() {
        let e = io::Error::from(io::ErrorKind::PermissionDenied);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(&file, "").unwrap();
        let problem = explain(&file, &e);
        let text = problem.to_string();
        assert!(matches!(problem, FileProblem::Unreadable { .. }), "{text}");
        assert!(text.contains(&current_user()), "{text}");
        assert!(text.contains("mode 6"), "{text}");
    }
}
