"""The input-format registry: ``{kind: (sniff, reader)}`` in one place, below etl and opendata.

A *format* is a :class:`Format`: a ``kind`` name, a ``sniff`` that recognises the format from
the first bytes of a (decompressed) file, and a ``reader`` that turns a file into
:class:`RawMember` pieces -- raw frames whose columns are the raw field names of
:mod:`infotrafic._fields` (``iu_ac``, ``t_1h``, ``q``, ...) with the values as found, plus the
1-based line (or record) number of every row. What happens next is the consumer's business: the
``etl`` readers normalise the raw frames into the canonical panel and quarantine
(:func:`infotrafic.etl.read_file`, the store's ingest), the portal client converts them with its
own strict rules (:func:`infotrafic.opendata.parse_export`). Both go through this registry:
adding a format is one :func:`register_format` call.

Why the built-in readers are named by dotted path
-------------------------------------------------
Data flows ``opendata -> etl``: ``opendata`` must not import ``etl`` modules (and nothing here may
import pandas at ``import infotrafic`` time). The built-in formats are therefore *declared* here
with their sniff (a pure byte test) and the dotted path of their reader in
:mod:`infotrafic.etl._kinds`, which is imported on the first read. A format registered at run time
(:func:`register_format`) gives its reader as a callable or as a ``"module:attribute"`` path.

Order of sniffing: the formats in registration order (built-ins first: ``zip``, ``parquet``,
``json``, ``jsonl``, then the ones registered later), the *fallback* (``csv``, which accepts any
delimited text) last. A *wrapper* format (``gzip``) is peeled first: its reader opens the
decompressed stream, whose first bytes are then sniffed.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, cast

from infotrafic.exceptions import ConfigurationError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "HEAD_BYTES",
    "Format",
    "RawChunk",
    "RawMember",
    "format_named",
    "formats",
    "head_of",
    "reader_for",
    "register_format",
    "unregister_format",
]

#: Bytes read from the start of a (decompressed) file to sniff its format.
HEAD_BYTES = 1 << 16

#: One raw chunk: the frame (raw field names), the 1-based line of each row, and the lines
#: skipped because they had too many fields (quarantined as ``bad_field_count``).
RawChunk = tuple["pd.DataFrame", "np.ndarray[Any, Any]", list[int]]


@dataclass(frozen=True)
class RawMember:
    """One file, or one member of an archive, as a reader gives it.

    Attributes
    ----------
    label : str
        Its name in the quarantine and reports (``file`` or ``archive.zip::member.csv``).
    regime : str
        What the reader recognised (``csv:labels``, ``json:list``, ``tsv``, ...).
    chunks : callable
        ``chunks(damaged=None, last_meta=False, chunk_rows=...)`` yields the :data:`RawChunk`
        pieces, of about ``chunk_rows`` rows each. It may raise what reading raises. A reader
        that cannot quarantine a damaged block, skip the arc metadata or cut its rows into chunks
        simply ignores those keywords (see :mod:`infotrafic.etl._csv`).
    """

    label: str
    regime: str
    chunks: Callable[..., Iterator[RawChunk]]

    @classmethod
    def of_frame(
        cls,
        label: str,
        regime: str,
        frame: pd.DataFrame,
        lines: np.ndarray[Any, Any] | None = None,
    ) -> RawMember:
        """Wrap one whole raw frame (rows numbered 1, 2, ... unless ``lines`` is given).

        Examples
        --------
        >>> import pandas as pd
        >>> member = RawMember.of_frame("x.tsv", "tsv", pd.DataFrame({"iu_ac": ["1"]}))
        >>> [(len(f), n.tolist(), s) for f, n, s in member.chunks()]
        [(1, [1], [])]
        """
        import numpy as np

        numbers = np.arange(1, len(frame) + 1, dtype="int64") if lines is None else lines

        def chunks(**_: object) -> Iterator[RawChunk]:
            yield frame, numbers, []

        return cls(label, regime, chunks)


Reader = Callable[..., Iterable[RawMember]]


@dataclass(frozen=True)
class Format:
    """A registered input format (see the module docstring).

    Attributes
    ----------
    kind : str
        Its name (``"csv"``, ``"zip"``, ...), what :func:`infotrafic.etl.detect_kind` returns.
    sniff : callable
        ``sniff(head: bytes) -> bool`` on the first :data:`HEAD_BYTES` of the decompressed file.
    reader : callable or str
        ``reader(path, name, *, require_time=True) -> iterable of RawMember`` (a wrapper's reader
        is ``reader(path) -> binary stream`` instead), or the ``"module:attribute"`` path of one.
    archive : bool
        Members are independent files: one result per member
        (:func:`~infotrafic.etl.iter_read`), a damaged member is quarantined, the rest loads.
    streamed : bool
        The chunks are bounded: the store stages the file month by month, with bounded memory.
    referentiel : bool
        The reader honours ``require_time=False`` (the arc referentiel can be read raw).
    fallback : bool
        Tried after every other format.
    wrapper : bool
        A compression layer, peeled before sniffing the content.
    """

    kind: str
    sniff: Callable[[bytes], bool]
    reader: Callable[..., Any] | str
    archive: bool = False
    streamed: bool = False
    referentiel: bool = True
    fallback: bool = False
    wrapper: bool = False

    def resolve(self) -> Callable[..., Any]:
        """Return the reader callable (importing a dotted path on first use)."""
        if not isinstance(self.reader, str):
            return self.reader
        module, _, attribute = self.reader.partition(":")
        found: Callable[..., Any] = getattr(importlib.import_module(module), attribute)
        return found

    def read(self, path: str, name: str, *, require_time: bool = True) -> Iterable[RawMember]:
        """Run the reader on ``path`` (reported as ``name``)."""
        members: Iterable[RawMember] = self.resolve()(path, name, require_time=require_time)
        return members


# -- the built-in sniffs: pure byte tests, no dependency ---------------------------------------
def _is_gzip(head: bytes) -> bool:
    return head[:2] == b"\x1f\x8b"


def _is_zip(head: bytes) -> bool:
    return head[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def _is_parquet(head: bytes) -> bool:
    return head[:4] == b"PAR1"


def _json_text(head: bytes) -> bytes:
    return head.lstrip(b"\xef\xbb\xbf \t\r\n")


def _is_jsonl(head: bytes) -> bool:
    text = _json_text(head)
    if text[:1] != b"{":
        return False
    first, _, rest = text.partition(b"\n")
    try:
        json.loads(first)
    except ValueError:
        return False
    return rest.strip().startswith(b"{")


def _is_json(head: bytes) -> bool:
    text = _json_text(head)
    return text[:1] == b"[" or (text[:1] == b"{" and not _is_jsonl(head))


def _any(head: bytes) -> bool:
    return True


_KINDS = "infotrafic.etl._kinds"
_REGISTRY: dict[str, Format] = {
    f.kind: f
    for f in (
        Format("gzip", _is_gzip, "infotrafic.etl._csv:open_maybe_gzip", wrapper=True),
        Format("zip", _is_zip, f"{_KINDS}:read_zip", archive=True, streamed=True),
        Format("parquet", _is_parquet, f"{_KINDS}:read_parquet", referentiel=False),
        Format("json", _is_json, f"{_KINDS}:read_json"),
        Format("jsonl", _is_jsonl, f"{_KINDS}:read_jsonl"),
        Format("csv", _any, f"{_KINDS}:read_csv", streamed=True, fallback=True),
    )
}


def register_format(
    kind: str,
    *,
    sniff: Callable[[bytes], bool],
    reader: Reader | str,
    archive: bool = False,
    streamed: bool = False,
    referentiel: bool = False,
) -> Format:
    """Register an input format; every reader of the library then recognises it.

    Parameters
    ----------
    kind : str
        A new format name (registering an existing name replaces that format).
    sniff : callable
        ``sniff(head: bytes) -> bool``: does this file start like the format? ``head`` is the
        first :data:`HEAD_BYTES` of the file, gzip already decompressed.
    reader : callable or str
        ``reader(path, name, *, require_time=True)`` returning an iterable of
        :class:`RawMember` (e.g. ``[RawMember.of_frame(name, kind, frame)]``), or its
        ``"module:attribute"`` path.
    archive, streamed, referentiel : bool, default False
        Capabilities, see :class:`Format`.

    Returns
    -------
    Format
        The registered format.

    Raises
    ------
    ConfigurationError
        When ``kind`` is empty or ``sniff``/``reader`` are not usable.
    """
    if not kind or not isinstance(kind, str):
        raise ConfigurationError(f"kind={kind!r}: give a non-empty format name, e.g. 'tsv'")
    if not callable(sniff):
        raise ConfigurationError(f"sniff={sniff!r}: give a function of the first bytes")
    if not (callable(reader) or (isinstance(reader, str) and ":" in reader)):
        raise ConfigurationError(f"reader={reader!r}: give a function or a 'module:attribute' path")
    fmt = Format(kind, sniff, reader, archive=archive, streamed=streamed, referentiel=referentiel)
    _REGISTRY.pop(kind, None)
    _REGISTRY[kind] = fmt
    return fmt


def unregister_format(kind: str) -> None:
    """Forget a format registered with :func:`register_format`.

    Raises
    ------
    ConfigurationError
        When no such format is registered.
    """
    format_named(kind)
    del _REGISTRY[kind]


def formats() -> tuple[str, ...]:
    """Return the registered kinds, in sniffing order (wrappers first, the fallback last).

    Examples
    --------
    >>> formats()
    ('gzip', 'zip', 'parquet', 'json', 'jsonl', 'csv')
    """
    ordered = sorted(_REGISTRY.values(), key=lambda f: (not f.wrapper, f.fallback))
    return tuple(f.kind for f in ordered)


def format_named(kind: str) -> Format:
    """Return the format registered as ``kind``.

    Raises
    ------
    ConfigurationError
        When none is (the message lists the registered kinds).
    """
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise ConfigurationError(
            f"unknown input format {kind!r}; registered: {', '.join(formats())} "
            "(add one with infotrafic.etl.register_format)"
        ) from None


def head_of(path: str | os.PathLike[str]) -> bytes:
    """Return the first :data:`HEAD_BYTES` of a file, through a wrapper format (gzip)."""
    real = os.fspath(path)
    with open(real, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    for fmt in _REGISTRY.values():
        if fmt.wrapper and fmt.sniff(head):
            with cast(IO[bytes], fmt.resolve()(real)) as fh:
                return fh.read(HEAD_BYTES)
    return head


def reader_for(path_or_head: str | os.PathLike[str] | bytes) -> Format:
    r"""Return the format of a file (or of its first bytes), sniffed from the content.

    Parameters
    ----------
    path_or_head : path-like or bytes
        A file (gzip-compressed or not), or its first (decompressed) bytes.

    Returns
    -------
    Format
        The first format whose sniff accepts the content (``csv`` when none does).

    Examples
    --------
    >>> reader_for(b'{"iu_ac": "1"}\n{"iu_ac": "2"}\n').kind, reader_for(b"PAR1...").kind
    ('jsonl', 'parquet')
    """
    head = path_or_head if isinstance(path_or_head, bytes) else head_of(path_or_head)
    for kind in formats():
        fmt = _REGISTRY[kind]
        if not fmt.wrapper and fmt.sniff(head):
            return fmt
    raise ConfigurationError("no input format accepts this file")  # pragma: no cover
