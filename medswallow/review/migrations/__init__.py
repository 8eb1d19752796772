"""Alembic migrations of the review store (shipped inside the package; run by ``medswallow review migrate``)."""
