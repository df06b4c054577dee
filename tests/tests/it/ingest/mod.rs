//! ingest-svc complete (issue 3): bulk paths, CSV, normalization, validation, concurrency.

mod bulk;
