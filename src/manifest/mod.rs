//! Reading manifest directories: discovery, parsing and classification of resources.

pub mod node;
pub mod yaml;
