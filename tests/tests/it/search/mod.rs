//! search-svc: filters, sorting, paging, counts, export, freshness, plans, bad input.

mod bad_input;
mod companies;
mod counts;
pub(crate) mod data;
mod explain;
mod export;
mod filters;
mod freshness;
mod normalized;
mod paging;
mod revenue_ranges;
