//! Path resolution inside a root by fd (openat2 RESOLVE_IN_ROOT, with a fallback).
