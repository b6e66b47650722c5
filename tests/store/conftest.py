"""The store's tests share the kernel's key fixture."""

from tests.kernel.conftest import key

__all__ = ["key"]
