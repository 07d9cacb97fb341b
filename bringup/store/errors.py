"""What can go wrong with a results store, in words a bring-up engineer can act on."""

from __future__ import annotations


class StoreError(Exception):
    """The results store cannot do what was asked; the message says why and what to do."""


class StoreMissing(StoreError):
    """There is no store file where one was expected."""


class NotAStore(StoreError):
    """The file exists but is not a bringup results store (or is corrupt)."""


class SchemaTooNew(StoreError):
    """The store was written by a newer bringup than this one."""


class UnknownRun(StoreError):
    """No run with that id in this store."""
