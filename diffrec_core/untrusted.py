"""Checks on bytes from outside (an upload, a checkpoint zip, a trajectory file), made before any parser sees them.

One home for the questions every reader of outside bytes asks first, so that an interactions upload
(``upload.py``), a Lab checkpoint zip (``lab_train.py``) and a trajectory file (``ui/export.py``) refuse the same
things the same way:

1. **too big?** - :func:`check_size`, before decoding or unpacking (a classroom server must not parse 2 GB);
2. **a pickle?** - :func:`is_pickle`: a pickle can run code when loaded, so it is named and refused, never opened;
3. **another binary format?** - :func:`binary_kind` names an archive, a compressed file, an array or an image by
   its magic bytes, for a reader that expects text;
4. **a zip that is safe to open?** - :func:`zip_entries`: a zip, with at most so many entries, unpacking to at
   most so many bytes (a zip bomb is refused from its directory, nothing inflated) and, where asked, holding no
   pickled member (a PyTorch ``torch.save`` file is a zip holding ``data.pkl``).

Each check raises the caller's own error class (a :class:`~diffrec_core.errors.DiffRecError`) with the caller's
words for what the file should have been, so each page's message still says what to upload instead. The size
budgets themselves live beside each reader (``MAX_UPLOAD_BYTES``, ``MAX_CHECKPOINT_BYTES``,
``MAX_TRAJECTORY_BYTES``); the model budgets are in ``limits.py``.
"""
from __future__ import annotations

import io
import zipfile
from typing import List, Optional, Sequence, Tuple, Type

MAGIC: Tuple[Tuple[bytes, str], ...] = (  # (prefix, what it is) - for readers that expect text
    (b"PK\x03\x04", "a zip archive (a PyTorch .pt/.pth checkpoint is one too)"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"BZh", "a bzip2-compressed file"),
    (b"\xfd7zXZ\x00", "an xz-compressed file"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-zip archive"),
    (b"\x93NUMPY", "a NumPy .npy array"),
    (b"\x89HDF", "an HDF5 file"),
    (b"PAR1", "a Parquet file"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
)
PICKLED_MEMBERS = (".pkl", ".pickle", ".pt", ".pth")   # zip members that are pickles (torch.save writes data.pkl)
NEVER_UNPICKLED = "the app never unpickles uploads (a pickle can run code)"
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, RuntimeError, NotImplementedError)


def is_pickle(raw: bytes) -> bool:
    """Pickles of protocol 2 and later (everything Python 3 and torch.save write) start with PROTO: 0x80 and the
    protocol number. (A text protocol-0 pickle is not recognised as such, but no reader here parses it as
    anything but text.)"""
    return len(raw) >= 2 and raw[0] == 0x80 and raw[1] in (2, 3, 4, 5)


def binary_kind(raw: bytes) -> Optional[str]:
    """What the first bytes say the file is ('a Python pickle', 'a zip archive ...'), or None for none of these."""
    if is_pickle(raw):
        return "a Python pickle"
    return next((what for magic, what in MAGIC if raw.startswith(magic)), None)


def mb(n: float) -> str:
    """A size for a message: megabytes to one decimal, or bytes below a tenth of a megabyte."""
    return f"{n / 2 ** 20:.1f} MB" if n >= 2 ** 20 / 10 else f"{int(n):,} bytes"


def check_size(n: int, max_bytes: Optional[int], error: Type[Exception], subject: str,
               limit_name: str = "the limit", advice: str = "") -> None:
    """Raise ``error("{subject} is N MB; {limit_name} is M MB{advice}")`` when ``n`` bytes exceed ``max_bytes``
    (None: no limit). The words are joined, never formatted, so a file name with braces stays a name."""
    if max_bytes is not None and n > max_bytes:
        raise error(f"{subject} is {mb(n)}; {limit_name} is {mb(max_bytes)}{advice}")


def check_not_pickle(raw: bytes, error: Type[Exception], message: str) -> None:
    """Raise ``error(message)`` for a pickle; ``message`` says what to upload instead."""
    if is_pickle(raw):
        raise error(message)


def zip_entries(raw: bytes, error: Type[Exception], *, not_zip: str, max_unpacked: int, unpacked_what: str,
                max_entries: Optional[int] = None, entries_note: str = "",
                pickles: Optional[str] = None) -> List[zipfile.ZipInfo]:
    """The entries of a zip that is safe to open, read from its directory only (nothing is inflated).

    Refused with ``error``: not a zip (``not_zip``), a damaged directory, more than ``max_entries`` entries, an
    unpacked total above ``max_unpacked`` (``"{unpacked_what} unpacks to N MB; the limit is M MB"``), and, where
    ``pickles`` is given (the message), any member named like a pickle (:data:`PICKLED_MEMBERS`)."""
    if not zipfile.is_zipfile(io.BytesIO(raw)):
        raise error(not_zip)
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            infos = z.infolist()
    except ZIP_ERRORS as e:
        raise error(f"the zip file is damaged: {e}") from e
    if max_entries is not None and len(infos) > max_entries:
        raise error(f"the zip holds {len(infos):,} entries; {entries_note or f'the limit is {max_entries}'}")
    if pickles is not None and any(i.filename.endswith(PICKLED_MEMBERS) for i in infos):
        raise error(pickles)
    total = sum(i.file_size for i in infos)
    if total > max_unpacked:
        raise error(f"{unpacked_what} unpacks to {total / 2 ** 20:.0f} MB; the limit is "
                    f"{max_unpacked / 2 ** 20:.0f} MB")
    return infos


def member_names(infos: Sequence[zipfile.ZipInfo]) -> dict:
    """{base name: full name} of the files (not folders) of a zip, so a zip made from a folder reads the same."""
    return {i.filename.rsplit("/", 1)[-1]: i.filename for i in infos if not i.filename.endswith("/")}
