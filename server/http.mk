# HTTP server, JSON API, users/auth, audit trail, database, CLI sub-commands,
# and the process context (app.c).
libvellum_a_SOURCES += \
	include/vellum/db.h include/vellum/auth.h include/vellum/audit.h \
	include/vellum/http.h include/vellum/api.h \
	server/db.c server/auth.c server/audit.c server/app.c \
	server/api_private.h server/api_core.c server/api_session.c server/api_search.c \
	server/api_messages.c server/api_users.c server/api_audit.c \
	server/http_server.c \
	server/cli_private.h server/cli_client.c server/cli_init.c server/cli_user.c \
	server/cli_search.c server/cli_audit.c

check_PROGRAMS += tests/unit/test_db tests/unit/test_auth tests/unit/test_audit \
	tests/unit/test_api tests/unit/test_http
TESTS += tests/unit/test_db tests/unit/test_auth tests/unit/test_audit \
	tests/unit/test_api tests/unit/test_http
tests_unit_test_db_SOURCES = tests/unit/test_db.c tests/unit/tap.h
tests_unit_test_db_LDADD = $(VL_LIBS)
tests_unit_test_auth_SOURCES = tests/unit/test_auth.c tests/unit/tap.h
tests_unit_test_auth_LDADD = $(VL_LIBS)
tests_unit_test_audit_SOURCES = tests/unit/test_audit.c tests/unit/tap.h \
	tests/unit/testapp.h
tests_unit_test_audit_LDADD = $(VL_LIBS)
tests_unit_test_api_SOURCES = tests/unit/test_api.c tests/unit/tap.h tests/unit/testapp.h
tests_unit_test_api_LDADD = $(VL_LIBS)
tests_unit_test_http_SOURCES = tests/unit/test_http.c tests/unit/tap.h tests/unit/testapp.h
tests_unit_test_http_LDADD = $(VL_LIBS)
# Fuzz target: hostile requests through api_handle (tests/fuzz/README.md).
EXTRA_DIST += tests/fuzz/corpus/api
check_PROGRAMS += tests/fuzz/replay_api
TESTS += tests/fuzz/replay_api
tests_fuzz_replay_api_SOURCES = tests/fuzz/fuzz_api.c tests/fuzz/replay_main.c
tests_fuzz_replay_api_LDADD = $(VL_LIBS)
if FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_api
tests_fuzz_fuzz_api_SOURCES = tests/fuzz/fuzz_api.c
tests_fuzz_fuzz_api_LDADD = $(VL_LIBS)
tests_fuzz_fuzz_api_LDFLAGS = $(FUZZ_LINK_FLAGS)
endif
