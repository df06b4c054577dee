//! Read models and refresh modes as lmactl names them, derived from the contract's enums
//! (`proto/lma/v1/refresh.proto`), so that a read model added there is named here at once.

use lma_proto::v1::{ReadModel, RefreshMode};

/// Every read model the contract names (all but UNSPECIFIED), in the contract's order.
pub fn all() -> Vec<ReadModel> {
    (1..)
        .map_while(|value| ReadModel::try_from(value).ok())
        .collect()
}

/// A contract name as lmactl writes it: `READ_MODEL_PROSPECT_SEARCH` is `prospect-search`.
fn word(proto_name: &str, prefix: &str) -> String {
    proto_name
        .strip_prefix(prefix)
        .unwrap_or(proto_name)
        .to_ascii_lowercase()
        .replace('_', "-")
}

pub fn read_model_name(model: ReadModel) -> String {
    word(model.as_str_name(), "READ_MODEL_")
}

/// A mode's name; empty for UNSPECIFIED (no refresh yet).
pub fn mode_name(mode: RefreshMode) -> String {
    match mode {
        RefreshMode::Unspecified => String::new(),
        mode => word(mode.as_str_name(), "REFRESH_MODE_"),
    }
}

/// The read models' names, for help texts.
pub fn read_model_names() -> String {
    all()
        .into_iter()
        .map(read_model_name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `prospect-search`, also as written elsewhere: `PROSPECT_SEARCH`,
/// `READ_MODEL_PROSPECT_SEARCH`, or its table, `prospect_search_view`.
pub fn parse_read_model(text: &str) -> Result<ReadModel, String> {
    let wanted = text.trim().to_ascii_lowercase().replace('_', "-");
    let wanted = wanted.strip_prefix("read-model-").unwrap_or(&wanted);
    let wanted = wanted.strip_suffix("-view").unwrap_or(wanted);
    all()
        .into_iter()
        .find(|model| read_model_name(*model) == wanted)
        .ok_or_else(|| format!("{text:?} is not a read model ({})", read_model_names()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_read_model_is_named_and_read_back_in_each_spelling() {
        assert_eq!(
            read_model_names(),
            "company-prospect, company-summary, prospect-search"
        );
        for text in [
            "prospect-search",
            "PROSPECT_SEARCH",
            "READ_MODEL_PROSPECT_SEARCH",
            "prospect_search_view",
        ] {
            assert_eq!(
                parse_read_model(text),
                Ok(ReadModel::ProspectSearch),
                "{text}"
            );
        }
        assert!(parse_read_model("unspecified").is_err());
        assert!(parse_read_model("prospect").is_err());
        assert_eq!(mode_name(RefreshMode::Full), "full");
        assert_eq!(mode_name(RefreshMode::Unspecified), "");
    }
}
