"""Use cases: each opens a unit of work, loads, asks the domain, posts, commits."""
