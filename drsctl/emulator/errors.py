"""Errors the emulator answers with, named exactly after the error shapes of botocore's `drs` model.

The class name is the wire contract: it goes into `x-amzn-ErrorType`, and botocore turns it back into
`client.exceptions.<Name>`. HTTP status codes are not repeated here; the protocol layer reads them from the model.
"""

from __future__ import annotations

from typing import Any


class DrsError(Exception):
    """An error DRS would return. `fields` are extra members of the error shape (resourceId, reason, ...)."""

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = {name: value for name, value in fields.items() if value is not None}

    @property
    def code(self) -> str:
        return type(self).__name__


class ValidationException(DrsError):
    def __init__(
        self, message: str, reason: str = "fieldValidationFailed", fields: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(message, reason=reason, fieldList=fields or None)


class ConflictException(DrsError):
    pass


class ResourceNotFoundException(DrsError):
    pass


class ServiceQuotaExceededException(DrsError):
    pass


class ThrottlingException(DrsError):
    pass


class InternalServerException(DrsError):
    pass


class UninitializedAccountException(DrsError):
    pass


class AccessDeniedException(DrsError):
    pass


ERRORS_BY_NAME: dict[str, type[DrsError]] = {
    cls.__name__: cls
    for cls in (
        ValidationException,
        ConflictException,
        ResourceNotFoundException,
        ServiceQuotaExceededException,
        ThrottlingException,
        InternalServerException,
        UninitializedAccountException,
        AccessDeniedException,
    )
}


class DropResponse(Exception):
    """The operation ran, but the server must close the connection without answering (a lost response)."""
