# indexer: sources and tests of this area (filled in by its module).
