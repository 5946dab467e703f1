//! otscout's integration tests: one binary, one module per area.

mod support;

mod cli;

mod enip;
mod modbus;
mod passive;
mod planning;
mod s7;
