# Segment store: record format, keys, segments, writer thread, catalog, recovery, verify.
libvellum_a_SOURCES += include/vellum/store.h include/vellum/keys.h \
	server/store_private.h server/store_job.h server/keys.c server/store.c \
	server/store_record.c server/store_signed.c server/store_segment.c \
	server/store_segfile.c server/store_archive.c server/store_recover.c \
	server/store_catalog.c server/store_queue.c server/store_append.c \
	server/store_writer.c server/store_pack.c server/store_delete.c \
	server/store_archive_delete.c server/store_keys.c \
	server/store_read.c server/store_verify.c \
	server/api_store.c server/cli_verify.c server/cli_key.c
EXTRA_DIST += doc/format.md

check_PROGRAMS += tests/unit/test_keys tests/unit/test_store_record tests/unit/test_store \
	tests/unit/test_store_integrity
TESTS += tests/unit/test_keys tests/unit/test_store_record tests/unit/test_store \
	tests/unit/test_store_integrity
tests_unit_test_keys_SOURCES = tests/unit/test_keys.c tests/unit/tap.h
tests_unit_test_keys_LDADD = $(VL_LIBS)
tests_unit_test_store_record_SOURCES = tests/unit/test_store_record.c tests/unit/tap.h
tests_unit_test_store_record_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server
tests_unit_test_store_record_LDADD = $(VL_LIBS)
tests_unit_test_store_SOURCES = tests/unit/test_store.c tests/unit/tap.h
tests_unit_test_store_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server
tests_unit_test_store_LDADD = $(VL_LIBS)
tests_unit_test_store_integrity_SOURCES = tests/unit/test_store_integrity.c tests/unit/tap.h
tests_unit_test_store_integrity_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server
tests_unit_test_store_integrity_LDADD = $(VL_LIBS)

# Fuzz target for the record parsers (tests/fuzz/README.md).
check_PROGRAMS += tests/fuzz/replay_store_record
TESTS += tests/fuzz/replay_store_record
tests_fuzz_replay_store_record_SOURCES = tests/fuzz/fuzz_store_record.c tests/fuzz/replay_main.c
tests_fuzz_replay_store_record_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server
tests_fuzz_replay_store_record_LDADD = $(VL_LIBS)
if FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_store_record
tests_fuzz_fuzz_store_record_SOURCES = tests/fuzz/fuzz_store_record.c
tests_fuzz_fuzz_store_record_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server
tests_fuzz_fuzz_store_record_LDADD = $(VL_LIBS)
tests_fuzz_fuzz_store_record_LDFLAGS = $(FUZZ_LINK_FLAGS)
endif

# End to end: the store's commands and routes against a real `vellum serve`.
TESTS += tests/e2e/test_store_cli.py
EXTRA_DIST += tests/e2e/test_store_cli.py

# Crash tests (tests/crash/): a process killed with SIGKILL in a loop while it
# appends, seals, packs and deletes; write/fsync/rename/open failures at the
# Nth call (test-hooks builds).
check_PROGRAMS += tests/crash/store_victim tests/crash/test_store_fault
TESTS += tests/crash/test_store_fault tests/crash/test_crash_loop.py
EXTRA_DIST += tests/crash/test_crash_loop.py
tests_crash_store_victim_SOURCES = tests/crash/store_victim.c
tests_crash_store_victim_LDADD = $(VL_LIBS)
tests_crash_test_store_fault_SOURCES = tests/crash/test_store_fault.c tests/unit/tap.h
tests_crash_test_store_fault_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/unit
tests_crash_test_store_fault_LDADD = $(VL_LIBS)

# Benchmarks (bench/store/run.sh runs them; results in bench/RESULTS.md).
noinst_PROGRAMS += bench/store/bench_store
bench_store_bench_store_SOURCES = bench/store/bench_store.c
bench_store_bench_store_LDADD = $(VL_LIBS)
EXTRA_DIST += bench/store/run.sh
