//! placeholder: Siemens order-number families.
