//! enip codec tests
