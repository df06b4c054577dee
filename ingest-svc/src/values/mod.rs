//! Values as CRM and data-vendor exports write them, read into what ingest stores: the shared
//! readers of the `lma-values` crate (also used by search-svc, to read filter values the same
//! way), and e-mail addresses, which are read here next to the domain rules they share.

mod email;

pub use email::{EmailError, normalize_email};
pub use lma_values::*;
