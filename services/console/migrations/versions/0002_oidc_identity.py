"""The identity provider's account each person signs in with: the provider's issuer and its `sub`
for the person, linked by an administrator (`cpnet users link-oidc`), one person per identity.
OpenID Connect sign-in matches these exactly, never a username the provider sends.

Revision ID: console_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "console_0002"
down_revision = "console_0001"


def upgrade(schema: str = "console") -> None:
    op.add_column("users", sa.Column("oidc_issuer", sa.Text(), nullable=True), schema=schema)
    op.add_column("users", sa.Column("oidc_subject", sa.Text(), nullable=True), schema=schema)
    op.create_unique_constraint(
        "users_oidc_identity_key", "users", ["oidc_issuer", "oidc_subject"], schema=schema
    )
    op.create_check_constraint(
        "users_oidc_identity_whole", "users", "(oidc_issuer IS NULL) = (oidc_subject IS NULL)", schema=schema
    )


def downgrade(schema: str = "console") -> None:
    op.drop_constraint("users_oidc_identity_whole", "users", type_="check", schema=schema)
    op.drop_constraint("users_oidc_identity_key", "users", type_="unique", schema=schema)
    op.drop_column("users", "oidc_subject", schema=schema)
    op.drop_column("users", "oidc_issuer", schema=schema)
