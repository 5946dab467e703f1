//! otscout-sim: a simulated plant on loopback.
