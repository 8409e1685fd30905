"""Tables and plots built from results folders; see tables.py."""
