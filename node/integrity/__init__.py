"""What a node checks its stored state against beside its log: the start-up check of its
other tables, and the copy of the witness's state kept outside the database."""
