"""Human data: built-in corpora and sources, user files, tokenisation."""
