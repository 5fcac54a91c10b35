//! Notebook to job (placeholder, filled below).
pub mod names;
pub mod python;
pub mod reader;
pub mod deps;
pub mod params;
pub mod data;
