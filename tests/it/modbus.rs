//! modbus codec tests
