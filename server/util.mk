# The utility layer, logging and configuration: no mail knowledge here.
libvellum_a_SOURCES += \
	include/vellum/util.h include/vellum/log.h include/vellum/config.h \
	server/util_mem.c server/util_time.c server/util_fs.c server/util_net.c \
	server/util_fault.c server/log.c server/config.c

check_PROGRAMS += tests/unit/test_util tests/unit/test_config
TESTS += tests/unit/test_util tests/unit/test_config
tests_unit_test_util_SOURCES = tests/unit/test_util.c tests/unit/tap.h
tests_unit_test_util_LDADD = $(VL_LIBS)
tests_unit_test_config_SOURCES = tests/unit/test_config.c tests/unit/tap.h
tests_unit_test_config_LDADD = $(VL_LIBS)
