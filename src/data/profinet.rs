//! PROFIBUS/PROFINET manufacturer ids (PI International's list): the ids an S7 CPU names
//! in SZL 0x001C index 0x0009 and a PROFINET device in its DCP DeviceID block.
//!
//! Only the makers otscout has met are named; any other id stays a number in the report.

/// The maker's name for a PI manufacturer id (0x002a is Siemens).
pub fn vendor_name(id: u16) -> Option<&'static str> {
    match id {
        0x002a => Some("Siemens"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn siemens_is_named_and_others_are_not() {
        assert_eq!(super::vendor_name(0x2a), Some("Siemens"));
        assert_eq!(super::vendor_name(0x2b), None);
    }
}
