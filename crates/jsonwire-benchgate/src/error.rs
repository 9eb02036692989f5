use std::fmt;
use std::path::{Path, PathBuf};

/// A result set that could not be read. The message names the file or directory at fault.
#[derive(Debug)]
pub struct Error {
    path: PathBuf,
    message: String,
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Error {
        Error::invalid(path, format!("cannot read: {source}"))
    }

    pub(crate) fn invalid(path: &Path, message: impl Into<String>) -> Error {
        Error {
            path: path.to_owned(),
            message: message.into(),
        }
    }

    /// The file or directory at fault.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for Error {}
