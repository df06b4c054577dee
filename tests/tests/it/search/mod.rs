//! search-svc complete (issue 5): filters, sorting, paging, counts, export, bad input.

mod bad_input;
mod companies;
mod counts;
pub(crate) mod data;
mod explain;
mod export;
mod filters;
mod freshness;
mod paging;
