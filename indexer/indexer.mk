# Indexer process, MIME parsing, Xapian (the only C++), query language.
libvellum_a_SOURCES += \
	include/vellum/mime.h include/vellum/ix.h \
	indexer/mime.c indexer/mime_html.c \
	indexer/pending_indexer.c

check_PROGRAMS += tests/unit/test_mime
TESTS += tests/unit/test_mime
tests_unit_test_mime_SOURCES = tests/unit/test_mime.c tests/unit/tap.h
tests_unit_test_mime_LDADD = $(VL_LIBS)

EXTRA_DIST += tests/corpus
