"""Content-addressed store of trained models and results, shared by chapters and workers.

An entry is keyed by a hash of its full spec (config, seed, ...) and the library version. It is
written into a temporary folder and renamed into place in one step, with a manifest of sha256
checksums written last, so a reader never sees half an entry. A file that fails its checksum
(truncated, edited, corrupt) is moved aside and the entry counts as missing, so it is made again.
A lock per key lets several processes or Dask workers share the store without making an entry
twice; a lock left by a killed process on this machine is taken over.
"""

from .archive import ArchiveError, export_archive, import_archive
from .core import (
    IMPORTED_LOG,
    CorruptEntry,
    Entry,
    Store,
    StoreNotWritable,
    default_store,
    default_store_path,
    read_imported,
    sha256_file,
    spec_key,
)
from .kinds import declare as declare_kind
from .kinds import kind_name
from .locks import SettingError, lock_lease

__all__ = [
    "ArchiveError",
    "CorruptEntry",
    "SettingError",
    "StoreNotWritable",
    "Entry",
    "Store",
    "default_store",
    "default_store_path",
    "spec_key",
    "sha256_file",
    "export_archive",
    "import_archive",
    "declare_kind",
    "kind_name",
    "IMPORTED_LOG",
    "lock_lease",
    "read_imported",
]
