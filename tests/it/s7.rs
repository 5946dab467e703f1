//! s7 codec tests
