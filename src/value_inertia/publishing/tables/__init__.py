"""The Hub dataset's tables: model identity (:mod:`.identity`), what is public
(:mod:`.public`), the board's rows of a run (:mod:`.results`), the long tables
(:mod:`.rows`) and how tables merge with what the Hub holds (:mod:`.merge`)."""
