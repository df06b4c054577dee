//! The `lma.v1` API contract compiled to Rust: messages, tonic clients and servers, and the
//! encoded descriptor set that the servers publish through gRPC reflection.

/// Everything generated from `proto/lma/v1/*.proto`.
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("lma.v1");
}

/// The encoded `FileDescriptorSet` of the whole contract (including the well-known types it
/// imports), served by reflection so grpcurl can `list` and `describe` without proto files.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/lma_descriptor.bin"));

impl v1::JobTitleLevel {
    /// The value stored in `prospect.job_title_level` and the read models; `None` for UNSPECIFIED.
    pub fn as_stored(self) -> Option<&'static str> {
        use v1::JobTitleLevel as L;
        match self {
            L::Unspecified => None,
            L::Owner => Some("owner"),
            L::CSuite => Some("c_suite"),
            L::Vp => Some("vp"),
            L::Director => Some("director"),
            L::Manager => Some("manager"),
            L::Senior => Some("senior"),
            L::Entry => Some("entry"),
            L::Other => Some("other"),
        }
    }

    /// The inverse of [`Self::as_stored`]; unknown or missing values read as UNSPECIFIED.
    pub fn from_stored(stored: Option<&str>) -> Self {
        use v1::JobTitleLevel as L;
        match stored {
            Some("owner") => L::Owner,
            Some("c_suite") => L::CSuite,
            Some("vp") => L::Vp,
            Some("director") => L::Director,
            Some("manager") => L::Manager,
            Some("senior") => L::Senior,
            Some("entry") => L::Entry,
            Some("other") => L::Other,
            _ => L::Unspecified,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::v1::JobTitleLevel;

    #[test]
    fn every_job_title_level_round_trips_through_its_stored_form() {
        for value in 0..=8 {
            let level = JobTitleLevel::try_from(value).expect("known enum value");
            assert_eq!(JobTitleLevel::from_stored(level.as_stored()), level);
        }
        assert_eq!(
            JobTitleLevel::from_stored(Some("admiral")),
            JobTitleLevel::Unspecified
        );
    }

    #[test]
    fn descriptor_set_names_all_three_services() {
        let text = String::from_utf8_lossy(super::FILE_DESCRIPTOR_SET);
        for service in ["IngestService", "SearchService", "RefreshService"] {
            assert!(
                text.contains(service),
                "{service} missing from the descriptor set"
            );
        }
    }
}
