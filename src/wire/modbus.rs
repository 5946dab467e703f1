//! placeholder: filled by the modbus codec work.
