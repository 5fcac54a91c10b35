//! amlops: Terraform-style GitOps for Azure Machine Learning.
//!
//! The crate follows the data as it flows through a run:
//!
//! 1. [`manifest`] finds and parses manifest files (Azure ML CLI v2 YAML, or KDL) into located
//!    document trees and reads them into the [`model`], with the variables and overlays of the
//!    target the [`project`] file (`amlops.kdl`) selects.
//! 2. [`model`] holds the typed resources: data assets, environments, computes, jobs, components.
//! 3. [`plan`] compares the desired resources with a snapshot of live state and returns a plan.
//!    It is pure: no network, file system, clock or terminal.
//! 4. [`apply`] carries a plan out against a [`backend`]: the embedded local workspace or Azure
//!    Resource Manager.
//! 5. [`render`] draws a plan's serialised form as text, JSON or Markdown.
//! 6. The binary's `cli` module wires these stages to commands.

#![allow(
    clippy::result_large_err,
    reason = "diagnostics travel on error paths only, where their size costs nothing"
)]

pub mod apply;
pub mod auth;
pub mod backend;
pub mod content;
pub mod diag;
pub mod emulator;
pub mod lock;
pub mod manifest;
pub mod model;
pub mod notebook;
pub mod plan;
pub mod project;
pub mod redact;
pub mod render;
pub mod scope;
pub mod target;
pub mod translate;

/// The file that marks a local workspace's data directory (`.amlops/` by default): manifest
/// walks and content snapshots pass over a folder holding one.
pub const WORKSPACE_DATABASE: &str = "workspace.db";
pub mod workflow;
