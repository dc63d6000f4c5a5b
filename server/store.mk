# Segment store: record format, keys, segments, writer thread, catalog, recovery, verify.
libvellum_a_SOURCES += include/vellum/store.h
