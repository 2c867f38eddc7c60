"""API schemas: `XCreate` / `XUpdate` bodies (unknown fields refused) and `XPublic` answers
(fields listed one by one, so nothing private leaks by accident)."""
