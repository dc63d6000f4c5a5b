# The browser UI: static files under web/, compiled into the binary.
WEB_FILES = web/index.html web/app.js web/style.css
EXTRA_DIST += $(WEB_FILES) web/embed.py
libvellum_a_SOURCES += include/vellum/web.h
nodist_libvellum_a_SOURCES += web/web_assets.c
BUILT_SOURCES += web/web_assets.c
CLEANFILES += web/web_assets.c
web/web_assets.c: $(addprefix $(srcdir)/,$(WEB_FILES)) $(srcdir)/web/embed.py
	$(AM_V_GEN)mkdir -p web && $(PYTHON3) $(srcdir)/web/embed.py $@ $(addprefix $(srcdir)/,$(WEB_FILES))
