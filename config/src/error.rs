//! The one error type of the crate: a message in nginx's words at a place in a file.

use std::fmt;
use std::path::PathBuf;

/// A configuration error: where it is and what is wrong.
///
/// `Display` prints `FILE:LINE:COL: message`, the form every editor and
/// terminal can jump to. Lines and columns are 1-based; columns count
/// characters, not bytes. An error that has no place in the file (the file
/// cannot be read) has `line == 0` and `col == 0` and prints as
/// `FILE: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The configuration file, as it was given to [`load`](crate::load) or
    /// [`parse`](crate::parse).
    pub file: PathBuf,
    /// 1-based line of the offending token (0: no place in the file).
    pub line: u32,
    /// 1-based column, in characters, of the offending token (0: no place).
    pub col: u32,
    /// What is wrong, in nginx's wording (`unknown directive "lisen", did you mean "listen"?`).
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}:{}:{}: {}", self.file.display(), self.line, self.col, self.message)
        }
    }
}

impl std::error::Error for Error {}

/// A warning: the file is valid, but something in it is probably not what
/// its author meant (nginx's `[warn]` lines), or is accepted but not acted on
/// yet.
///
/// `Display` prints `FILE:LINE:COL: warning: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The configuration file, as it was given.
    pub file: PathBuf,
    /// 1-based line of the word the warning is about.
    pub line: u32,
    /// 1-based column, in characters.
    pub col: u32,
    /// What is wrong (`conflicting server name "" on 0.0.0.0:80, ignored`).
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: warning: {}", self.file.display(), self.line, self.col, self.message)
    }
}

/// A place in the source: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Pos {
    pub(crate) line: u32,
    pub(crate) col: u32,
}

/// An error before it knows its file: the parser's internal error type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fail {
    pub(crate) pos: Pos,
    pub(crate) message: String,
}

impl Fail {
    /// An error at `pos`.
    pub(crate) fn at(pos: Pos, message: impl Into<String>) -> Fail {
        Fail { pos, message: message.into() }
    }

    /// Attaches the file name.
    pub(crate) fn in_file(self, file: PathBuf) -> Error {
        Error { file, line: self.pos.line, col: self.pos.col, message: self.message }
    }

    /// Attaches the file name to a warning.
    pub(crate) fn warning_in(self, file: PathBuf) -> Warning {
        Warning { file, line: self.pos.line, col: self.pos.col, message: self.message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_file_line_col() {
        let e =
            Error { file: "a/b.conf".into(), line: 3, col: 5, message: "unexpected \"}\"".into() };
        assert_eq!(e.to_string(), "a/b.conf:3:5: unexpected \"}\"");
    }

    #[test]
    fn warning_display() {
        let w = Fail::at(Pos { line: 2, col: 9 }, "x").warning_in("a.conf".into());
        assert_eq!(w.to_string(), "a.conf:2:9: warning: x");
    }

    #[test]
    fn display_without_place() {
        let e = Error { file: "x.conf".into(), line: 0, col: 0, message: "cannot read".into() };
        assert_eq!(e.to_string(), "x.conf: cannot read");
    }
}
