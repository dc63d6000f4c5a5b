# Indexer process, MIME parsing, Xapian (the only C++), query language.
libvellum_a_SOURCES += \
	include/vellum/mime.h include/vellum/ix.h \
	indexer/mime.c indexer/mime_html.c \
	indexer/ix_private.h indexer/query.c indexer/xapian.cc \
	indexer/indexer_private.h indexer/indexer_doc.c indexer/indexer.c

check_PROGRAMS += tests/unit/test_mime tests/unit/test_ix tests/unit/test_indexer
TESTS += tests/unit/test_mime tests/unit/test_ix tests/unit/test_indexer
tests_unit_test_mime_SOURCES = tests/unit/test_mime.c tests/unit/tap.h
tests_unit_test_mime_LDADD = $(VL_LIBS)

tests_unit_test_ix_SOURCES = tests/unit/test_ix.c tests/unit/tap.h
tests_unit_test_ix_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/indexer
tests_unit_test_ix_LDADD = $(VL_LIBS)
tests_unit_test_indexer_SOURCES = tests/unit/test_indexer.c tests/unit/tap.h
tests_unit_test_indexer_LDADD = $(VL_LIBS)

EXTRA_DIST += tests/corpus

# Fuzz targets of the module's parsers (tests/fuzz/README.md): each replays
# its corpus under make check; with --enable-fuzzing also built for libFuzzer.
check_PROGRAMS += tests/fuzz/replay_mime tests/fuzz/replay_query
TESTS += tests/fuzz/replay_mime tests/fuzz/replay_query
tests_fuzz_replay_mime_SOURCES = tests/fuzz/fuzz_mime.c tests/fuzz/replay_main.c
tests_fuzz_replay_mime_LDADD = $(VL_LIBS)
tests_fuzz_replay_query_SOURCES = tests/fuzz/fuzz_query.c tests/fuzz/replay_main.c
tests_fuzz_replay_query_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/indexer
tests_fuzz_replay_query_LDADD = $(VL_LIBS)
if FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_mime tests/fuzz/fuzz_query
tests_fuzz_fuzz_mime_SOURCES = tests/fuzz/fuzz_mime.c
tests_fuzz_fuzz_mime_LDADD = $(VL_LIBS)
tests_fuzz_fuzz_mime_LDFLAGS = $(FUZZ_LINK_FLAGS)
tests_fuzz_fuzz_query_SOURCES = tests/fuzz/fuzz_query.c
tests_fuzz_fuzz_query_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/indexer
tests_fuzz_fuzz_query_LDADD = $(VL_LIBS)
tests_fuzz_fuzz_query_LDFLAGS = $(FUZZ_LINK_FLAGS)
endif
