"""Exceptions the kit raises for bad input: each message names the problem and the fix."""


class MMFTKitError(Exception):
    """Base class of every error the kit raises on purpose."""


class DatasetNotFoundError(MMFTKitError, FileNotFoundError):
    """A data set name is unknown, or its files are not where they were looked for."""


class ModelNotAvailableError(MMFTKitError, OSError):
    """A model cannot be loaded: unknown name, or weights that cannot be had offline."""


class CaptionStoreMismatchError(MMFTKitError, ValueError):
    """A caption store was made with other settings than the ones asked for."""


class InvalidInputError(MMFTKitError, ValueError):
    """An argument or a piece of data is out of range or malformed."""


class BadParametersError(InvalidInputError):
    """Parameters that fail their declaration (:mod:`mmft_kit.params`); ``fix``, the message's last sentence, says
    where to fix them, and a command line swaps in its own (:mod:`mmft_kit.cli.flags`)."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.fix = fix


class UnreadableImageError(InvalidInputError):
    """An image file cannot be decoded (empty, truncated, corrupt, or too large to open safely)."""

    def __init__(self, message: str, path: str | None = None, reason: str = "unreadable image") -> None:
        super().__init__(message)
        self.path, self.reason = path, reason
