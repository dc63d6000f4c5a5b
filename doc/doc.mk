# Documentation: man pages (installed) and the operator/developer documents.
dist_man_MANS += doc/vellum.conf.5
dist_man_MANS += doc/vellum.1
