-- The read models' GIN indexes take every entry at once (issue 4). With fastupdate (the
-- default) an insert only appends to a pending list, and the write that finds the list over
-- gin_pending_list_limit (4 MB) merges all of it into the index, inside its own transaction: for
-- refresh-svc, an apply that takes seconds instead of milliseconds. Measured at 1M rows, a
-- trigram pending list of 1 MB took 0.56 s to merge, and applies at 400 writes/s stalled for
-- 2-10 s while the median apply took 9 ms. Without pending lists the apply does the same work
-- spread evenly: a 400-company re-derivation of prospect_search_view took 2.7-3.2 s against
-- 4.7-6.5 s with them.
ALTER INDEX prospect_search_view_trigram_idx SET (fastupdate = off);
ALTER INDEX prospect_search_view_filters_text_idx SET (fastupdate = off);
ALTER INDEX prospect_search_view_tags_fields_idx SET (fastupdate = off);
ALTER INDEX company_summary_view_document_idx SET (fastupdate = off);
