# Process glue: app context, serve orchestration, metrics registry.
libvellum_a_SOURCES += \
	include/vellum/app.h include/vellum/cli.h include/vellum/metrics.h \
	server/metrics.c server/serve.c

check_PROGRAMS += tests/unit/test_metrics
TESTS += tests/unit/test_metrics
tests_unit_test_metrics_SOURCES = tests/unit/test_metrics.c tests/unit/tap.h
tests_unit_test_metrics_LDADD = $(VL_LIBS)
