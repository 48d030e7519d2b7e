"""Variables and connections: configuration tasks read at run time, secrets encrypted at rest.

A connection's password and extra are always encrypted; a variable is encrypted when it is
written with a :class:`~airlock.db.crypto.SecretBox` (``is_encrypted`` says which). Read and write
those fields only through the ``get_*``/``set_*`` helpers below so no code path stores plaintext.

``bundle_name`` scopes a row to one bundle's tasks; NULL means every bundle may read it
(DESIGN §8: user code cannot read another bundle's variables or connections). A task writes
only its own bundle's variables, and a global one only when an admin set ``task_writable``.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Integer, LargeBinary, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from airlock.db.base import ID_LENGTH, Base
from airlock.db.crypto import SecretBox, SecretDecryptError


class Variable(Base):
    __tablename__ = "variable"

    key: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    #: Plain text, or a Fernet token (ASCII) when ``is_encrypted``.
    value: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    bundle_name: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    is_encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    #: A global variable every bundle's tasks may change (an admin's grant).
    task_writable: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    def set_value(self, value: str, box: SecretBox | None) -> None:
        """Store ``value``, encrypted when a box is given."""
        if box is None:
            self.value, self.is_encrypted = value, False
        else:
            self.value, self.is_encrypted = box.encrypt(value).decode("ascii"), True

    def get_value(self, box: SecretBox | None) -> str:
        if not self.is_encrypted:
            return self.value
        if box is None:
            raise SecretDecryptError(
                f"variable {self.key!r} is stored encrypted; reading it needs the secrets key"
            )
        return box.decrypt(self.value.encode("ascii"))


class Connection(Base):
    __tablename__ = "connection"

    conn_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    conn_type: Mapped[str] = mapped_column(String(500))
    host: Mapped[str | None] = mapped_column(String(500))
    schema: Mapped[str | None] = mapped_column(String(500))
    login: Mapped[str | None] = mapped_column(String(500))
    password_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    port: Mapped[int | None] = mapped_column(Integer)
    #: The connection's extra (a JSON document as text), encrypted.
    extra_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    description: Mapped[str | None] = mapped_column(Text)
    bundle_name: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)

    def set_password(self, password: str | None, box: SecretBox) -> None:
        self.password_encrypted = None if password is None else box.encrypt(password)

    def get_password(self, box: SecretBox) -> str | None:
        token = self.password_encrypted
        return None if token is None else box.decrypt(token)

    def set_extra(self, extra: str | None, box: SecretBox) -> None:
        self.extra_encrypted = None if extra is None else box.encrypt(extra)

    def get_extra(self, box: SecretBox) -> str | None:
        token = self.extra_encrypted
        return None if token is None else box.decrypt(token)
