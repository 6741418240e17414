"""Moving clients in bulk: import from CSV and XLSX, export of the client list."""
