//! placeholder: ODVA vendor ids and CIP device types.
