//! search-svc's memory allocator: mimalloc instead of glibc malloc.
//!
//! A page of 50 hits turns each row into some twenty owned strings, encodes them and frees
//! them. Under glibc malloc those allocations were the largest cost of converting a page; with
//! mimalloc converting 51 rows takes about half the time and a page of 50 over gRPC ~12% less
//! (docs/BENCHMARKS.md, "Search"). ingest-svc, refresh-svc and lmactl keep glibc: mimalloc held
//! more memory during imports (ingest-svc ~117 MiB peak instead of ~100, lmactl 18 instead of
//! 9), and their time goes to the database, not to allocation.
//!
//! Declared in the library rather than in `main.rs`, so that the benchmark and the tests, which
//! run search-svc inside their own process, run it on the allocator it has in production.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
