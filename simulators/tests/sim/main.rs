//! otscout-sim's test suite: one binary, one module per concern.

mod captures;
mod cli;
mod faults;
mod ffd;
mod ledger;
mod models;
mod nmap;
mod pyfins;
mod pymodbus;
mod scale;
mod support;
