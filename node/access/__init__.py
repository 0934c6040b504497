"""Who may read what: the read policy, API tokens, workers' holder keys, and the access
record of every read of personal data."""
