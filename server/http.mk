# HTTP server, JSON API, users/auth, audit trail, database, CLI sub-commands.
libvellum_a_SOURCES += server/pending_cli.c
