"""The migrations' revisions, as the running code knows them: written by record_revisions.py.

`alembic revision` rewrites this file; do not edit it by hand.
"""

HEAD: str = "5ad1330bc221"
KNOWN: frozenset[str] = frozenset(
    {
        "5ad1330bc221",
        "8844327c472e",
    }
)
