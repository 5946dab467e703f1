//! placeholder: filled by the s7 codec work.
