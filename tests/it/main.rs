//! otscout's integration tests: one binary, one module per area.

mod support;

mod advisories;
mod bacnet;
mod bacnet_interop;
mod cli;
mod conformance;
mod dcp;
mod demo;
mod deploy;
mod edges;
mod golden;
mod html;

mod enip;
mod ffd;
mod framing;
mod inputs;
mod interop;
mod inventory;
mod modbus;
mod opcua;
mod passive;
mod passive_hardening;
mod passive_precision;
mod passive_speed;
mod planning;
mod report;
mod report_tables;
mod resegment;
mod s7;
mod scan;
mod sub_assets;
mod zeek;
