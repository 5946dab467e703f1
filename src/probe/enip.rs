//! EtherNet/IP probe session (being written).
