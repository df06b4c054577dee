//! search-svc complete (issue 5): filters, sorting, paging, counts, export, bad input.
