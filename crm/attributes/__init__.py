"""Admin-defined attributes of the client card, and which built-in fields a company collects."""
