//! Container ids: what may name a directory under the state root.

use thiserror::Error;

/// Longest id accepted, in bytes.
pub const MAX_ID_LEN: usize = 1024;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum IdError {
    #[error("container id is empty; give a name made of A-Z a-z 0-9 _ . + -")]
    Empty,
    #[error("container id {0:?} is reserved; choose another name")]
    Reserved(String),
    #[error("container id is {0} bytes long; the limit is {MAX_ID_LEN}")]
    TooLong(usize),
    #[error("container id {id:?} has the character {ch:?}; use only A-Z a-z 0-9 _ . + -")]
    BadChar { id: String, ch: char },
}

/// Check an id before it is used as a path component anywhere.
pub fn validate(id: &str) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::Empty);
    }
    if id == "." || id == ".." {
        return Err(IdError::Reserved(id.to_string()));
    }
    if id.len() > MAX_ID_LEN {
        return Err(IdError::TooLong(id.len()));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '+' | '-');
    if let Some(ch) = id.chars().find(|&c| !allowed(c)) {
        return Err(IdError::BadChar { id: id.to_string(), ch });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let long = "a".repeat(MAX_ID_LEN + 1);
        let cases: &[(&str, bool)] = &[
            ("abc", true),
            ("a.b+c-d_e", true),
            ("", false),
            (".", false),
            ("..", false),
            ("a/b", false),
            ("a\0b", false),
            ("bad id", false),
            ("é", false),
            (&long, false),
            (&long[1..], true),
        ];
        for (id, ok) in cases {
            assert_eq!(validate(id).is_ok(), *ok, "{id:?}");
        }
    }
}
