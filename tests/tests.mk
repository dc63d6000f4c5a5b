# End-to-end tests (python3 TAP scripts against a real `vellum serve`), the
# browser tests (run by script/test, not make check), sanitizer suppressions.
TESTS += tests/e2e/test_foundation.py
EXTRA_DIST += tests/e2e/vellumtest.py tests/e2e/test_foundation.py tests/lsan.supp \
	tests/browser/package.json tests/browser/package-lock.json tests/browser/run.mjs \
	tests/browser/fixture.py tests/browser/lib.mjs tests/browser/a11y.test.mjs \
	tests/browser/admin.test.mjs tests/browser/auditor.test.mjs tests/browser/hostile.test.mjs \
	tests/browser/isolation.test.mjs tests/browser/login.test.mjs tests/browser/search.test.mjs \
	tests/browser/static.test.mjs

# Fuzz targets (tests/fuzz/README.md): each replays its corpus under make check
# in every build; with --enable-fuzzing each is also built against libFuzzer.
# A module adds its own target to its fragment the same way.
EXTRA_DIST += tests/fuzz/README.md tests/fuzz/corpus
check_PROGRAMS += tests/fuzz/replay_config
TESTS += tests/fuzz/replay_config
tests_fuzz_replay_config_SOURCES = tests/fuzz/fuzz_config.c tests/fuzz/replay_main.c
tests_fuzz_replay_config_LDADD = $(VL_LIBS)
if FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_config
tests_fuzz_fuzz_config_SOURCES = tests/fuzz/fuzz_config.c
tests_fuzz_fuzz_config_LDADD = $(VL_LIBS)
tests_fuzz_fuzz_config_LDFLAGS = $(FUZZ_LINK_FLAGS)
endif
