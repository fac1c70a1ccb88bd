"""The account entry and its devices at run time: setup, migration, repair issues."""
