# End-to-end tests (python3 TAP scripts against a real `vellum serve`), the
# browser tests (run by script/test, not make check), sanitizer suppressions.
TESTS += tests/e2e/test_foundation.py
EXTRA_DIST += tests/e2e/vellumtest.py tests/e2e/test_foundation.py tests/lsan.supp \
	tests/browser/package.json tests/browser/package-lock.json tests/browser/run.mjs \
	tests/browser/fixture.py tests/browser/search.test.mjs
