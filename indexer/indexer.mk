# Indexer process, MIME parsing, Xapian (the only C++), query language.
libvellum_a_SOURCES += indexer/pending_indexer.c
