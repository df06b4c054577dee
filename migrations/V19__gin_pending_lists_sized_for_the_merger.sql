-- The read models' GIN indexes take a second of writes into their pending lists (issue 4).
-- refresh-svc's leader merges the lists every second (LMA_GIN_MERGE_INTERVAL_MS), off the
-- applies. But the default limit, 4 MB, is less than one second of writes at 1,000 writes/s:
-- re-deriving ~3,700 prospect_search_view rows puts ~5 MB into the trigram list, so the apply
-- overflowed it and merged it inside its own transaction (at a million prospects: 600 ms of a
-- 900 ms update, against 350 ms with the room). 16 MB leaves room for three seconds; if the
-- merger stops, a write that fills the list merges it as before, so the lists stay bounded.
ALTER INDEX prospect_search_view_trigram_idx SET (gin_pending_list_limit = 16384);
ALTER INDEX prospect_search_view_filters_text_idx SET (gin_pending_list_limit = 16384);
ALTER INDEX prospect_search_view_tags_fields_idx SET (gin_pending_list_limit = 16384);
ALTER INDEX company_summary_view_document_idx SET (gin_pending_list_limit = 16384);
