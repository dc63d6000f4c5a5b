# HTTP server, JSON API, users/auth, audit trail, database, CLI sub-commands,
# and the process context (app.c).
libvellum_a_SOURCES += \
	include/vellum/db.h include/vellum/auth.h include/vellum/audit.h \
	include/vellum/http.h include/vellum/api.h \
	server/db_private.h server/db.c server/db_token.c server/db_audit.c \
	server/auth.c server/auth_totp.c server/auth_guard.c server/audit.c server/app.c \
	server/api_private.h server/api_core.c server/api_session.c server/api_search.c \
	server/api_messages.c server/api_render.c server/api_submit.c server/api_users.c \
	server/api_totp.c server/api_tokens.c server/api_audit.c server/api_health.c \
	server/http_server.c \
	server/cli_private.h server/cli_client.c server/cli_init.c server/cli_user.c \
	server/cli_search.c server/cli_audit.c server/cli_token.c server/cli_import.c
# The OpenAPI document, compiled in (GET /api/v1/openapi.json).
nodist_libvellum_a_SOURCES += server/openapi_doc.c
BUILT_SOURCES += server/openapi_doc.c
CLEANFILES += server/openapi_doc.c
EXTRA_DIST += doc/api/openapi.json doc/api/embed.py
server/openapi_doc.c: $(srcdir)/doc/api/openapi.json $(srcdir)/doc/api/embed.py
	$(AM_V_GEN)mkdir -p server && $(PYTHON3) $(srcdir)/doc/api/embed.py $@ $(srcdir)/doc/api/openapi.json

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
# End-to-end tests of the API (python3 TAP against a real `vellum serve`).
HTTP_E2E = tests/e2e/test_api_audit.py tests/e2e/test_api_identity.py \
	tests/e2e/test_api_routes.py tests/e2e/test_api_http.py tests/e2e/test_api_messages.py
TESTS += $(HTTP_E2E)
EXTRA_DIST += $(HTTP_E2E)
