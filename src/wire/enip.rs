//! placeholder: filled by the enip codec work.
