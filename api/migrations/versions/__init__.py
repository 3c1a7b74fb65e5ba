"""One module per schema version: 0001, 0002, ... (revision ids are these numbers)."""
