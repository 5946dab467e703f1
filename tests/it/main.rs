//! otscout's integration tests: one binary, one module per area.

mod support;

mod advisories;
mod cli;
mod demo;
mod deploy;

mod enip;
mod inputs;
mod interop;
mod inventory;
mod modbus;
mod passive;
mod passive_hardening;
mod planning;
mod report;
mod s7;
mod scan;
