//! Notebook to job (placeholder, filled below).
pub mod names;
pub mod python;
pub mod reader;
