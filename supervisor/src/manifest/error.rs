//! Manifest errors: each one has a line, a column and (when it concerns one) a service,
//! and a manifest's errors are all collected before it is refused.

use std::fmt;
use std::ops::Range;

/// One problem in a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestError {
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// The service the problem is in, when it is in one.
    pub service: Option<String>,
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}:{}: ", self.line, self.column)?;
        if let Some(service) = &self.service {
            write!(f, "service {service:?}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in a manifest, in the order they appear in the file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ManifestErrors(pub Vec<ManifestError>);

impl fmt::Display for ManifestErrors {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let count = self.0.len();
        write!(f, "manifest refused: {count} error{}", if count == 1 { "" } else { "s" })?;
        for error in &self.0 {
            write!(f, "\n  {error}")?;
        }
        Ok(())
    }
}

/// Collects errors while a manifest is read, turning byte spans into line and column.
pub(crate) struct Errors<'s> {
    source: &'s str,
    list: Vec<ManifestError>,
}

impl<'s> Errors<'s> {
    pub fn new(source: &'s str) -> Errors<'s> {
        Errors { source, list: Vec::new() }
    }

    /// Records a problem at `span` (byte offsets into the source).
    pub fn push(&mut self, span: &Range<usize>, service: Option<&str>, message: impl Into<String>) {
        let (line, column) = line_and_column(self.source, span.start);
        self.list.push(ManifestError { line, column, service: service.map(str::to_owned), message: message.into() });
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The collected errors sorted by position (checks run by topic, readers want file order).
    pub fn into_sorted(mut self) -> Vec<ManifestError> {
        self.list.sort_by_key(|error| (error.line, error.column));
        self.list
    }
}

/// 1-based line and character column of a byte offset.
pub(crate) fn line_and_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(source, offset.min(source.len()));
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn floor_char_boundary(source: &str, mut offset: usize) -> usize {
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// The service whose table encloses `offset`, judged from the nearest `[services.NAME…]`
/// header above it. Used for syntax errors, which come before there is a parsed table.
pub(crate) fn service_at(source: &str, offset: usize) -> Option<String> {
    let offset = floor_char_boundary(source, offset.min(source.len()));
    let header = source[..offset].lines().map(str::trim_start).rfind(|line| line.starts_with('['))?;
    let inside = header.trim_start_matches('[').trim_start();
    let rest = inside.strip_prefix("services")?.trim_start().strip_prefix('.')?.trim_start();
    service_name_from_key(rest)
}

/// The first dotted-key part of `text`, unquoting "name" or 'name'.
fn service_name_from_key(text: &str) -> Option<String> {
    let quote = text.chars().next().filter(|c| *c == '"' || *c == '\'');
    let name = match quote {
        Some(quote) => text[1..].split(quote).next()?,
        None => text.split(['.', ']', ' ']).next()?,
    };
    (!name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        let text = "a\nbé c\n";
        assert_eq!(line_and_column(text, 0), (1, 1));
        assert_eq!(line_and_column(text, 2), (2, 1));
        assert_eq!(line_and_column(text, 5), (2, 3));
        assert_eq!(line_and_column(text, 99), (3, 1));
    }

    #[test]
    fn enclosing_service() {
        let text = "[services.web]\nx = 1\n[services.\"db\".process]\ny = \n[other]\nz";
        let at = |needle: &str| service_at(text, text.find(needle).unwrap());
        assert_eq!(at("x ="), Some("web".into()));
        assert_eq!(at("y ="), Some("db".into()));
        assert_eq!(at("z"), None);
        assert_eq!(service_at(text, 0), None);
    }
}
