//! otscout-sim's test suite: one binary, one module per concern.

mod bacnet;
mod captures;
mod cli;
mod faults;
mod ffd;
mod ledger;
mod models;
mod nmap;
mod opcua;
mod pyfins;
mod pymodbus;
mod scale;
mod support;
