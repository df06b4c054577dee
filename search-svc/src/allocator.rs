//! search-svc's memory allocator: mimalloc instead of glibc malloc.
//!
//! A page of 50 hits turns each row into some twenty owned strings, encodes them and frees
//! them, so allocation is the largest single cost of converting a page, and mimalloc does it in
//! about half the time glibc malloc takes (docs/BENCHMARKS.md, Search, the allocator A/B).
//! ingest-svc, refresh-svc and lmactl keep glibc: their time goes to the database, not to
//! allocation, and mimalloc holds more memory during imports (same place).
//!
//! Declared in the library rather than in `main.rs`, so that the benchmark and the tests, which
//! run search-svc inside their own process, run it on the allocator it has in production.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
