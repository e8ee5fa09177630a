"""The run spine: one claim notebook at one profile (``run.NotebookRun``) and everything that
plans, trains, executes, fingerprints, records, archives and builds it."""
