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

/// The `custom_fields` map of a prospect from its stored form, a JSON object in
/// `prospect.custom_fields` and the read models. Values that are not strings (possible only in
/// rows written outside the API) come back as their JSON text.
pub fn custom_fields_from_stored(
    stored: serde_json::Value,
) -> std::collections::HashMap<String, String> {
    match stored {
        serde_json::Value::Object(object) => object
            .into_iter()
            .map(|(key, value)| match value {
                serde_json::Value::String(text) => (key, text),
                other => (key, other.to_string()),
            })
            .collect(),
        _ => Default::default(),
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
    fn stored_custom_fields_read_back_as_strings() {
        let stored = serde_json::json!({"tier": "gold", "seats": 12, "vip": true});
        let fields = super::custom_fields_from_stored(stored);
        assert_eq!(fields.get("tier").map(String::as_str), Some("gold"));
        assert_eq!(fields.get("seats").map(String::as_str), Some("12"));
        assert_eq!(fields.get("vip").map(String::as_str), Some("true"));
        assert!(super::custom_fields_from_stored(serde_json::json!([1, 2])).is_empty());
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
