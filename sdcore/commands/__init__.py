"""The command line (``cli``) and its verbs, each a module: reproduce, status, run, scaffold, pdf."""
