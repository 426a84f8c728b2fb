"""Reaching the outside world after commit: webhook delivery (and, later, e-mail)."""
