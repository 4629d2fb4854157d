//! The manifest: a TOML file declaring the services a device runs (format in
//! docs/manifest.md).
//!
//! `parse` reads the text in three passes: TOML syntax (all syntax errors, recovered
//! past each one), each service field by field (`service`, `container`, `supervision`),
//! then checks across services (`checks`). Any error refuses the whole manifest, and the
//! errors come back together, each with its line, column and service.

mod checks;
mod container;
mod error;
mod reader;
mod service;
mod supervision;
mod types;

#[cfg(test)]
mod tests;

use std::path::Path;

use toml::de::DeTable;

pub use error::{ManifestError, ManifestErrors};
pub use types::*;

use crate::device::Device;
use error::Errors;
use reader::Table;

/// Newest manifest format this build reads (`version = 1` at the top; optional).
pub const FORMAT_VERSION: i64 = 1;

/// Why a manifest file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read manifest {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {errors}")]
    Invalid { path: String, errors: ManifestErrors },
}

/// Reads and validates the manifest at `path` for `device`.
pub fn load(path: &Path, device: &Device) -> Result<Manifest, LoadError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read { path: shown.clone(), source })?;
    parse(&text, device).map_err(|errors| LoadError::Invalid { path: shown, errors })
}

/// Parses and validates manifest text; every problem is returned at once.
pub fn parse(text: &str, device: &Device) -> Result<Manifest, ManifestErrors> {
    let mut errors = Errors::new(text);
    let (document, syntax_errors) = DeTable::parse_recoverable(text);
    if !syntax_errors.is_empty() {
        // What follows a syntax error is guesswork; report only the syntax.
        for syntax in &syntax_errors {
            let span = syntax.span().unwrap_or(0..0);
            let service = error::service_at(text, span.start);
            errors.push(&span, service.as_deref(), syntax.message());
        }
        return Err(ManifestErrors(errors.into_sorted()));
    }
    let mut top = Table::new(document.get_ref(), document.span(), String::new(), None);
    check_version(&mut top, &mut errors);
    let services = read_services(&mut top, &mut errors);
    top.finish(&mut errors);
    checks::check_dependencies(&services, &mut errors);
    checks::check_memory_budget(&services, device, &mut errors);
    if !errors.is_empty() {
        return Err(ManifestErrors(errors.into_sorted()));
    }
    let services = services.into_iter().map(|(name, (service, _))| (name, service)).collect();
    Ok(Manifest { services })
}

fn check_version(top: &mut Table, errors: &mut Errors) {
    if let Some(version) = top.get::<i64>(errors, "version")
        && *version.get_ref() != FORMAT_VERSION
    {
        let message =
            format!("unsupported format version {}; this corrald reads version {FORMAT_VERSION}", version.get_ref());
        top.error(errors, &version.span(), "version", message);
    }
}

fn read_services(top: &mut Table, errors: &mut Errors) -> checks::Read {
    let mut read = checks::Read::new();
    let Some(value) = top.raw("services") else { return read };
    let Some(services) = value.get_ref().as_table() else {
        top.error(errors, &value.span(), "services", "expected a table of services");
        return read;
    };
    for (name, definition) in services.iter() {
        let name_text: &str = name.get_ref();
        let Some(entries) = definition.get_ref().as_table() else {
            errors.push(&definition.span(), Some(name_text), "a service must be a table");
            continue;
        };
        let table = Table::new(entries, definition.span(), String::new(), Some(name_text));
        let parsed = service::read_service(name_text, name.span(), table, errors);
        read.insert(name_text.to_owned(), parsed);
    }
    read
}
