# SMTP ingress: sessions, parser, DATA scanner, reply table, event loop,
# and routing recipients to archives (ingest).
libvellum_a_SOURCES += \
	include/vellum/smtp.h include/vellum/ingest.h server/smtp_private.h \
	server/smtp_reply.c server/smtp_parse.c server/smtp_data.c server/smtp_io.c \
	server/smtp_tls.c server/smtp_auth.c server/smtp_session.c server/smtp_server.c \
	server/ingest.c

check_PROGRAMS += tests/unit/test_smtp tests/unit/test_ingest tests/unit/test_smtp_server
TESTS += tests/unit/test_smtp tests/unit/test_ingest tests/unit/test_smtp_server
tests_unit_test_smtp_SOURCES = tests/unit/test_smtp.c tests/unit/tap.h
tests_unit_test_smtp_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server
tests_unit_test_smtp_LDADD = $(VL_LIBS)
tests_unit_test_ingest_SOURCES = tests/unit/test_ingest.c tests/unit/tap.h
tests_unit_test_ingest_LDADD = $(VL_LIBS)
# The server in-process over loopback sockets, into a real store.
tests_unit_test_smtp_server_SOURCES = tests/unit/test_smtp_server.c tests/unit/tap.h
tests_unit_test_smtp_server_LDADD = $(VL_LIBS)

# Fuzz target for the command/path parsers and the DATA scanner (tests/fuzz/README.md).
check_PROGRAMS += tests/fuzz/replay_smtp
TESTS += tests/fuzz/replay_smtp
tests_fuzz_replay_smtp_SOURCES = tests/fuzz/fuzz_smtp.c tests/fuzz/replay_main.c
tests_fuzz_replay_smtp_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server
tests_fuzz_replay_smtp_LDADD = $(VL_LIBS)
if FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_smtp
tests_fuzz_fuzz_smtp_SOURCES = tests/fuzz/fuzz_smtp.c
tests_fuzz_fuzz_smtp_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server
tests_fuzz_fuzz_smtp_LDADD = $(VL_LIBS)
tests_fuzz_fuzz_smtp_LDFLAGS = $(FUZZ_LINK_FLAGS)
endif

# End-to-end: real clients against a real `vellum serve` (tests/e2e/smtp_e2e.py
# is their helper module; test_postfix.py drives a real Postfix).
TESTS += tests/e2e/test_smtp_clients.py tests/e2e/test_smtp_raw.py \
	tests/e2e/test_smtp_policy.py tests/e2e/test_smtp_limits.py tests/e2e/test_postfix.py
EXTRA_DIST += tests/e2e/smtp_e2e.py tests/e2e/test_smtp_clients.py tests/e2e/test_smtp_raw.py \
	tests/e2e/test_smtp_policy.py tests/e2e/test_smtp_limits.py tests/e2e/test_postfix.py
# The administrator's guide and the ingest benchmark (bench/RESULTS.md).
EXTRA_DIST += doc/smtp.md bench/smtp/run.py
