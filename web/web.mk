# The browser UI: static files under web/, compiled into the binary
# (web/embed.py -> web_assets.c).  Plain ES modules, no build step: these
# files are what the browser gets.
WEB_FILES = web/index.html web/app.js web/style.css web/favicon.svg \
	web/js/api.js web/js/dom.js web/js/format.js web/js/grants.js web/js/jobs.js web/js/query.js web/js/zip.js \
	web/js/shell.js web/js/status.js web/js/totp.js \
	web/js/view-account.js web/js/view-archives.js web/js/view-audit.js \
	web/js/view-exports.js web/js/view-holds.js web/js/view-login.js \
	web/js/view-message.js web/js/view-purges.js web/js/view-quarantine.js \
	web/js/view-search.js web/js/view-tokens.js web/js/view-users.js
EXTRA_DIST += $(WEB_FILES) web/embed.py web/README.md
libvellum_a_SOURCES += include/vellum/web.h
nodist_libvellum_a_SOURCES += web/web_assets.c
BUILT_SOURCES += web/web_assets.c
CLEANFILES += web/web_assets.c
web/web_assets.c: $(addprefix $(srcdir)/,$(WEB_FILES)) $(srcdir)/web/embed.py
	$(AM_V_GEN)mkdir -p web && $(PYTHON3) $(srcdir)/web/embed.py $@ $(srcdir)/web $(addprefix $(srcdir)/,$(WEB_FILES))
