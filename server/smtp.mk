# SMTP ingress: sessions, parser, DATA scanner, reply table, event loop,
# and routing recipients to archives (ingest).
libvellum_a_SOURCES += \
	include/vellum/smtp.h include/vellum/ingest.h server/smtp_private.h \
	server/smtp_reply.c server/smtp_parse.c server/smtp_data.c server/smtp_io.c \
	server/smtp_session.c server/smtp_server.c server/ingest.c

check_PROGRAMS += tests/unit/test_smtp tests/unit/test_ingest
TESTS += tests/unit/test_smtp tests/unit/test_ingest
tests_unit_test_smtp_SOURCES = tests/unit/test_smtp.c tests/unit/tap.h
tests_unit_test_smtp_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server
tests_unit_test_smtp_LDADD = $(VL_LIBS)
tests_unit_test_ingest_SOURCES = tests/unit/test_ingest.c tests/unit/tap.h
tests_unit_test_ingest_LDADD = $(VL_LIBS)
