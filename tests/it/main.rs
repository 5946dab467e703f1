//! otscout's integration tests: one binary, one module per area.

mod support;

mod cli;

mod enip;
mod modbus;
mod planning;
mod s7;
mod scan;
