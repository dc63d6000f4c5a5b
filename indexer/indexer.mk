# Indexer process, MIME parsing, Xapian (the only C++), query language.
libvellum_a_SOURCES += \
	include/vellum/mime.h include/vellum/ix.h \
	indexer/mime.c indexer/mime_html.c \
	indexer/ix_private.h indexer/query.c indexer/xapian.cc \
	indexer/indexer_private.h indexer/indexer_doc.c \
	indexer/pending_indexer.c

check_PROGRAMS += tests/unit/test_mime tests/unit/test_ix
TESTS += tests/unit/test_mime tests/unit/test_ix
tests_unit_test_mime_SOURCES = tests/unit/test_mime.c tests/unit/tap.h
tests_unit_test_mime_LDADD = $(VL_LIBS)

tests_unit_test_ix_SOURCES = tests/unit/test_ix.c tests/unit/tap.h
tests_unit_test_ix_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/indexer
tests_unit_test_ix_LDADD = $(VL_LIBS)

EXTRA_DIST += tests/corpus
