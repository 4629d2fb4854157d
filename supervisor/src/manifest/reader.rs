//! Reading a parsed TOML table field by field.
//!
//! Each field is deserialized on its own (with serde, from toml's spanned values), so a
//! bad field is reported and the others are still read: that is how one pass over a
//! manifest finds all of its errors. Keys nobody asked for are reported by `finish`.

use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::error::Errors;

/// A value with the byte span it came from.
pub(crate) type Field<T> = Spanned<T>;

/// One TOML table being read, with the keys read so far.
pub(crate) struct Table<'t, 'i> {
    entries: &'t DeTable<'i>,
    span: Range<usize>,
    /// Dotted path inside the service ("resources", "restart.backoff"), for messages.
    path: String,
    service: Option<&'t str>,
    read: Vec<&'static str>,
}

impl<'t, 'i> Table<'t, 'i> {
    pub fn new(entries: &'t DeTable<'i>, span: Range<usize>, path: String, service: Option<&'t str>) -> Self {
        Table { entries, span, path, service, read: Vec::new() }
    }

    pub fn span(&self) -> &Range<usize> {
        &self.span
    }

    pub fn service(&self) -> Option<&'t str> {
        self.service
    }

    /// "resources.memory" for key "memory" in table "resources".
    pub fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() { key.to_owned() } else { format!("{}.{key}", self.path) }
    }

    /// Records a problem with this table's `key`, at `span`.
    pub fn error(&self, errors: &mut Errors, span: &Range<usize>, key: &str, message: impl AsRef<str>) {
        errors.push(span, self.service, format!("{}: {}", self.key_path(key), message.as_ref()));
    }

    /// The raw value of `key`, marking it as read.
    pub fn raw(&mut self, key: &'static str) -> Option<&'t Spanned<DeValue<'i>>> {
        self.read.push(key);
        self.entries.get(key)
    }

    /// `key` deserialized as T; a value of the wrong shape is reported and gives None.
    pub fn get<T: DeserializeOwned>(&mut self, errors: &mut Errors, key: &'static str) -> Option<Field<T>> {
        let value = self.raw(key)?;
        let span = value.span();
        match T::deserialize(ValueDeserializer::from(value.clone())) {
            Ok(parsed) => Some(Spanned::new(span, parsed)),
            Err(error) => {
                let at = error.span().unwrap_or(span);
                self.error(errors, &at, key, error.message());
                None
            }
        }
    }

    /// Like `get`, but a missing key is an error too.
    pub fn required<T: DeserializeOwned>(&mut self, errors: &mut Errors, key: &'static str) -> Option<Field<T>> {
        if !self.entries.contains_key(key) {
            self.read.push(key);
            let message = format!("missing `{}`", self.key_path(key));
            errors.push(&self.span.clone(), self.service, message);
            return None;
        }
        self.get(errors, key)
    }

    /// The sub-table at `key`; anything else there is reported.
    pub fn table(&mut self, errors: &mut Errors, key: &'static str) -> Option<Table<'t, 'i>> {
        let value = self.raw(key)?;
        match value.get_ref().as_table() {
            Some(entries) => Some(Table::new(entries, value.span(), self.key_path(key), self.service)),
            None => {
                let found = value.get_ref().type_str();
                self.error(errors, &value.span(), key, format!("expected a table, found {found}"));
                None
            }
        }
    }

    /// The array of tables at `key` (`[[services.x.mounts]]` or `mounts = [{...}]`).
    pub fn tables(&mut self, errors: &mut Errors, key: &'static str) -> Vec<Table<'t, 'i>> {
        let Some(value) = self.raw(key) else { return Vec::new() };
        let Some(array) = value.get_ref().as_array() else {
            let found = value.get_ref().type_str();
            self.error(errors, &value.span(), key, format!("expected an array of tables, found {found}"));
            return Vec::new();
        };
        let mut tables = Vec::new();
        for (index, item) in array.iter().enumerate() {
            let path = format!("{}[{index}]", self.key_path(key));
            match item.get_ref().as_table() {
                Some(entries) => tables.push(Table::new(entries, item.span(), path, self.service)),
                None => errors.push(&item.span(), self.service, format!("{path}: expected a table")),
            }
        }
        tables
    }

    /// Reports every key of this table that no reader asked for.
    pub fn finish(self, errors: &mut Errors) {
        for (key, _) in self.entries.iter() {
            if !self.read.contains(&key.get_ref().as_ref()) {
                let message = format!("unknown key `{}`", self.key_path(key.get_ref()));
                errors.push(&key.span(), self.service, message);
            }
        }
    }
}
