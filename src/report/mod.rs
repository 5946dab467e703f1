//! Renderings of an [`Inventory`](crate::inventory::Inventory): the canonical JSON report
//! (what gets signed), its CSV, CycloneDX and Markdown/table views, signing and
//! verification with minisign, and the diff between two reports.

pub mod advisories;
pub mod csv;
pub mod cyclonedx;
pub mod diff;
pub mod html;
pub mod input;
pub mod json;
pub mod markdown;
pub mod sign;
