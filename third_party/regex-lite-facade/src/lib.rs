//! Stand-in for the `regex` crate, backed by `regex-lite`.
//!
//! oci-spec depends on `regex` only to check one optional field (execCPUAffinity,
//! `^(\d+(-\d+)?)(,\d+(-\d+)?)*$`), and that pulled 420 KB of regex engines (DFAs,
//! aho-corasick, Unicode tables) into a 3.8 MB static runtime. regex-lite implements the
//! same syntax for ASCII without those; the root Cargo.toml's `[patch.crates-io]` puts
//! this crate in regex's place. If a new dependency needs more of regex's API than is
//! re-exported here, the build fails loudly: extend the re-exports, or drop the patch.

pub use regex_lite::{Captures, Error, Match, Regex, RegexBuilder};
