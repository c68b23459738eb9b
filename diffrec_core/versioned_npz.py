"""The app's versioned NPZ files (a trajectory, an item map): NumPy arrays plus a ``__header__`` member, UTF-8 JSON
stored as uint8 bytes, that names the file's schema and version.

One writer and one reader, so that every such file is written the same way and read under the same rules:

* **written deterministically** - ``np.savez_compressed`` stamps every member with the current time, so two saves
  of the same arrays differ; :func:`write` gives every member a fixed stamp, so the file is a pure function of its
  header and arrays (same settings and seed, same bytes);
* **read without unpickling** - ``allow_pickle=False``; an object array (pickled Python objects) is named as such
  and never loaded; any parse failure is the caller's error class with the caller's words for what the file
  should have been. Size checks of outside bytes come first (``untrusted.py``); the schema and version check
  belong to each reader, which knows its own.
"""
from __future__ import annotations

import io
import json
import zipfile
from typing import Dict, Mapping, Tuple, Type

import numpy as np

HEADER = "__header__"
_STAMP = (1980, 1, 1, 0, 0, 0)        # the earliest date a zip can hold


def write(header: Mapping, arrays: Mapping[str, np.ndarray]) -> bytes:
    """The NPZ bytes of ``arrays`` under ``header`` (JSON; values it cannot encode are written as text)."""
    members = {HEADER: np.frombuffer(json.dumps(dict(header), default=str).encode(), dtype=np.uint8), **arrays}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in members.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_STAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(arr), allow_pickle=False)
    return buf.getvalue()


def read(data: bytes, error: Type[Exception], not_this: str) -> Tuple[dict, Dict[str, np.ndarray]]:
    """(header, arrays) of an NPZ written by :func:`write`. Any failure raises ``error`` whose message starts with
    ``not_this`` (e.g. "not a trajectory file"): not an NPZ, no header, a header that is not a JSON object, an
    object array, a damaged member."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            header = json.loads(bytes(z[HEADER]).decode())
            arrays = {k: z[k] for k in z.files if k != HEADER}
    except ValueError as e:                 # numpy: "Object arrays cannot be loaded when allow_pickle=False"
        if "Object arrays" in str(e):
            raise error(f"{not_this}: it holds an object array (pickled Python objects), which this app never "
                        f"loads") from e
        raise error(f"{not_this}: {e}") from e
    except Exception as e:  # noqa: BLE001 - zlib / zipfile / EOF / JSON errors: the same problem for the reader
        raise error(f"{not_this}: {type(e).__name__}: {e}") from e
    if not isinstance(header, dict):
        raise error(f"{not_this}: its header is not a JSON object")
    return header, arrays
