"""Where batch rows come from: numpy arrays, Arrow tables, Parquet files and folders of .npy files or
images. Every source reads any range of rows on demand (nothing is materialised up front), and a row
that cannot become a tensor of the model's input is reported as a RowError, not a job failure."""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from .blocks import RowBlock, RowError
from .signature import ModelSignature, TensorSpec

#: file suffixes a folder source reads as images (with Pillow)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
#: the errors a row's conversion may raise; anything else is a bug and propagates
_ROW_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError, OSError, IndexError, KeyError, EOFError,
                                                NotImplementedError)


class Source(ABC):
    """Rows of input data, read by range. `num_rows` is fixed; `identity()` names the data so that a
    resumed job can tell it is continuing over the same input."""

    num_rows: int
    #: whether a worker process should read its own rows: the source pickles small (as paths)
    read_in_worker: bool = False

    @abstractmethod
    def read(self, start: int, stop: int) -> RowBlock:
        """Rows [start, stop) as model feeds; rows that cannot be converted are in `errors`."""

    @abstractmethod
    def identity(self) -> str:
        """A short text that changes when the input data changes shape or place."""


def open_source(data: Any, signature: ModelSignature, columns: Mapping[str, str] | None = None) -> Source:
    """The source for `data`: a numpy array (a single-input model), a dict of arrays by input name, a
    pyarrow Table or RecordBatch, or a path: a .npy file, an .npz file, an Arrow IPC (.arrow/.feather)
    file, a .parquet file, a folder of .parquet files, or a folder of .npy files / images (one row each).
    `columns` maps input names to table columns when they differ."""
    if isinstance(data, Source):
        return data
    if isinstance(data, np.ndarray):
        if len(signature.inputs) != 1:
            raise InvalidArgument(f"a single array cannot feed a model with {len(signature.inputs)} inputs "
                                  f"({[s.name for s in signature.inputs]}): give a dict of arrays by input name")
        return ArraySource({signature.inputs[0].name: data}, signature)
    if isinstance(data, Mapping):
        return ArraySource(data, signature)
    pa = _pyarrow_or_none()
    if pa is not None and isinstance(data, (pa.Table, pa.RecordBatch)):
        table = data if isinstance(data, pa.Table) else pa.Table.from_batches([data])
        return TableSource(table, signature, columns)
    if isinstance(data, (str, os.PathLike)):
        return _open_path(Path(data), signature, columns)
    raise InvalidArgument(f"cannot read batch rows from a {type(data).__name__}: give a numpy array, a dict of arrays, "
                          "a pyarrow Table, or a path to a .npy/.npz/.arrow/.parquet file or a folder")


def _open_path(path: Path, signature: ModelSignature, columns: Mapping[str, str] | None) -> Source:
    if not path.exists():
        raise FileNotFoundError(2, "input does not exist", str(path))
    if path.is_dir():
        parquet = sorted(p for p in path.iterdir() if p.suffix == ".parquet" and p.is_file())
        if parquet:
            return ParquetSource(parquet, signature, columns)
        return FolderSource(path, signature)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        if len(signature.inputs) != 1:
            _single_array_error(signature)
        return NpyFileSource(path, signature)
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
        except (OSError, ValueError, EOFError) as exc:
            raise InvalidArgument(f"cannot read {str(path)!r} as an .npz file: {exc}") from exc
        return ArraySource(arrays, signature, what=str(path))
    if suffix == ".parquet":
        return ParquetSource([path], signature, columns)
    if suffix in (".arrow", ".feather", ".ipc"):
        pa = _require_pyarrow("reading Arrow files")
        try:
            table = pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all()
        except (OSError, pa.ArrowException) as exc:
            raise InvalidArgument(f"cannot read {str(path)!r} as an Arrow IPC file: {exc}") from exc
        return TableSource(table, signature, columns, what=str(path))
    raise InvalidArgument(f"input {str(path)!r}: unknown kind of file (expected .npy, .npz, .arrow, .feather, "
                          ".parquet, or a folder of .parquet files, .npy files or images)")


def _single_array_error(signature: ModelSignature) -> None:
    raise InvalidArgument(f"a single .npy array cannot feed a model with {len(signature.inputs)} inputs "
                          f"({[s.name for s in signature.inputs]}): give an .npz file with one array per input")


class ArraySource(Source):
    """Rows of numpy arrays, one per model input (a memory-mapped .npy file reads only the rows asked)."""

    def __init__(self, arrays: Mapping[str, Any], signature: ModelSignature, what: str = "the given arrays") -> None:
        names = [s.name for s in signature.inputs]
        missing = [n for n in names if n not in arrays]
        unknown = [n for n in arrays if n not in names]
        if missing or unknown:
            raise InvalidArgument(f"{what}: arrays must be given for exactly the model's inputs {names}"
                                  + (f"; missing {missing}" if missing else "")
                                  + (f"; unknown {unknown}" if unknown else ""))
        self.arrays = {n: arrays[n] if isinstance(arrays[n], np.ndarray) else np.asarray(arrays[n]) for n in names}
        self.specs = signature.inputs
        lengths = {n: len(a) if a.ndim else None for n, a in self.arrays.items()}
        if None in lengths.values() or len(set(lengths.values())) != 1:
            raise InvalidArgument(f"{what}: every input array needs the same number of rows (its first dim); "
                                  f"got {lengths}")
        self.num_rows = next(iter(lengths.values()))
        for spec in self.specs:
            arr = self.arrays[spec.name]
            if arr.dtype != object:
                try:
                    _check_rows(spec, arr[:1], f"{what}, input {spec.name!r}")
                except (TypeError, ValueError) as exc:
                    raise InvalidArgument(str(exc)) from exc
        self.what = what

    def read(self, start: int, stop: int) -> RowBlock:
        """Rows [start, stop) of every array, cast to the inputs' dtypes."""
        return _assemble(np.arange(start, stop, dtype=np.int64), self.specs,
                         whole=lambda s: self.arrays[s.name][start:stop],
                         one=lambda s, i: self.arrays[s.name][start + i])

    def identity(self) -> str:
        """The arrays' names, shapes and dtypes."""
        return "arrays:" + ";".join(f"{n}{list(a.shape)}{a.dtype}" for n, a in self.arrays.items())


class NpyFileSource(ArraySource):
    """The rows of a .npy file for a single-input model, memory-mapped: only the rows read are loaded,
    and a worker process that receives the source maps the file itself."""

    read_in_worker = True

    def __init__(self, path: Path, signature: ModelSignature) -> None:
        super().__init__({signature.inputs[0].name: _load_npy(path, mmap=True)}, signature, what=str(path))
        self.path = path
        self.stat = os.stat(path)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["arrays"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.arrays = {self.specs[0].name: _load_npy(self.path, mmap=True)}

    def identity(self) -> str:
        """The file, its size and modification time."""
        return f"npy:{self.path}:{self.stat.st_size}:{self.stat.st_mtime_ns}"


class TableSource(Source):
    """Rows of an Arrow table: one column per model input (a tensor, fixed-size list, list or nested
    list column, or a scalar column for an input of one value per row)."""

    def __init__(self, table: Any, signature: ModelSignature, columns: Mapping[str, str] | None = None,
                 what: str = "the given table") -> None:
        self.column_of = column_map(table.schema.names, signature, columns, what)
        self.table = table.select(list(dict.fromkeys(self.column_of.values())))
        self.specs = signature.inputs
        self.num_rows = table.num_rows
        self.what = what

    def read(self, start: int, stop: int) -> RowBlock:
        """Rows [start, stop) of the mapped columns."""
        return table_block(self.table.slice(start, stop - start), start, self.specs, self.column_of)

    def identity(self) -> str:
        """The table's row count and schema."""
        return f"table:{self.num_rows}:{self.table.schema.to_string(show_schema_metadata=False)}"


class ParquetSource(Source):
    """Rows of one or more Parquet files, in file order; a range reads only the row groups it spans
    (the last row group read is kept, so consecutive ranges read each group once per process)."""

    read_in_worker = True

    def __init__(self, paths: list[Path], signature: ModelSignature, columns: Mapping[str, str] | None = None) -> None:
        pq = _require_pyarrow("reading Parquet files", "pyarrow.parquet")
        self.paths = [str(p) for p in paths]
        self.groups: list[tuple[int, int, int]] = []  # (file index, row group, first row)
        first = 0
        for k, path in enumerate(self.paths):
            try:
                meta = pq.ParquetFile(path).metadata
            except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...: all mean "not readable"
                raise InvalidArgument(f"cannot read {path!r} as a Parquet file: {exc}") from exc
            if k == 0:
                self.column_of = column_map(meta.schema.to_arrow_schema().names, signature, columns, repr(path))
            else:
                names = meta.schema.to_arrow_schema().names
                lacking = sorted(set(self.column_of.values()) - set(names))
                if lacking:
                    raise InvalidArgument(f"Parquet file {path!r} lacks column(s) {lacking} that {self.paths[0]!r} has")
            for g in range(meta.num_row_groups):
                self.groups.append((k, g, first))
                first += meta.row_group(g).num_rows
        self.num_rows = first
        self.specs = signature.inputs
        self._stats = [os.stat(p) for p in self.paths]
        self._cache: tuple[tuple[int, int], Any] | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_cache"] = None
        return state

    def read(self, start: int, stop: int) -> RowBlock:
        """Rows [start, stop), read from the row groups that hold them."""
        import pyarrow as pa

        pieces = []
        for n, (k, g, first) in enumerate(self.groups):
            end = self.groups[n + 1][2] if n + 1 < len(self.groups) else self.num_rows
            if end <= start or first >= stop:
                continue
            table = self._row_group(k, g)
            lo, hi = max(start, first) - first, min(stop, end) - first
            pieces.append(table.slice(lo, hi - lo))
        table = pa.concat_tables(pieces) if pieces else None
        if table is None:
            return RowBlock(np.zeros(0, np.int64), {})
        return table_block(table, start, self.specs, self.column_of)

    def _row_group(self, k: int, g: int) -> Any:
        import pyarrow.parquet as pq

        if self._cache is None or self._cache[0] != (k, g):
            columns = list(dict.fromkeys(self.column_of.values()))
            self._cache = ((k, g), pq.ParquetFile(self.paths[k]).read_row_group(g, columns=columns))
        return self._cache[1]

    def identity(self) -> str:
        """The files, their sizes and modification times."""
        return "parquet:" + ";".join(f"{p}:{s.st_size}:{s.st_mtime_ns}" for p, s in zip(self.paths, self._stats))


class FolderSource(Source):
    """One row per file of a folder (sorted by name): .npy arrays, or images read with Pillow and fitted
    to the input: resized to its static height and width, laid out CHW or HWC as its dims say (a dim of
    1 or 3 channels), scaled to [0, 1] for a float input. Results carry the file name in `path`."""

    read_in_worker = True

    def __init__(self, folder: Path, signature: ModelSignature) -> None:
        if len(signature.inputs) != 1:
            raise InvalidArgument(f"a folder of files feeds a single-input model; this one has inputs "
                                  f"{[s.name for s in signature.inputs]}")
        self.folder = str(folder)
        self.names = sorted(p.name for p in folder.iterdir()
                            if p.is_file() and p.suffix.lower() in (".npy", *IMAGE_SUFFIXES))
        if not self.names:
            raise InvalidArgument(f"folder {self.folder!r} holds no .parquet, .npy or image files")
        self.spec = signature.inputs[0]
        self.num_rows = len(self.names)

    def read(self, start: int, stop: int) -> RowBlock:
        """Files [start, stop), each loaded and checked against the input."""
        block = _assemble(np.arange(start, stop, dtype=np.int64), (self.spec,), whole=None,
                          one=lambda s, i: self._load(self.names[start + i]))
        block.keys["path"] = np.array([self.names[int(r)] for r in block.row_ids], dtype=object)
        return block

    def _load(self, name: str) -> np.ndarray:
        path = Path(self.folder) / name
        if path.suffix.lower() == ".npy":
            return _load_npy(path)
        return load_image(path, self.spec)

    def identity(self) -> str:
        """The folder and a digest of its file names."""
        return f"folder:{self.folder}:{len(self.names)}:" + hashlib.sha256("\n".join(self.names).encode()).hexdigest()


def column_map(names: list[str], signature: ModelSignature, columns: Mapping[str, str] | None,
               what: str) -> dict[str, str]:
    """Input name -> column name: `columns` where given, else the column of the input's name, else
    (a single-input model) the table's only column."""
    columns = dict(columns or {})
    for unknown in set(columns) - {s.name for s in signature.inputs}:
        raise InvalidArgument(f"columns maps {unknown!r}, which is not an input of the model "
                              f"({[s.name for s in signature.inputs]})")
    result = {}
    for spec in signature.inputs:
        column = columns.get(spec.name)
        if column is None:
            if spec.name in names:
                column = spec.name
            elif len(signature.inputs) == 1 and len(names) == 1:
                column = names[0]
            else:
                raise InvalidArgument(f"{what} has no column for input {spec.name!r} (columns: {names}); "
                                      f"map one with columns={{{spec.name!r}: COLUMN}} (--column INPUT=COLUMN)")
        if column not in names:
            raise InvalidArgument(f"{what} has no column {column!r} (for input {spec.name!r}); columns: {names}")
        result[spec.name] = column
    return result


def table_block(table: Any, first_row: int, specs: tuple[TensorSpec, ...], column_of: Mapping[str, str]) -> RowBlock:
    """The rows of an Arrow table (whose first row has id `first_row`) as feeds."""
    row_ids = np.arange(first_row, first_row + table.num_rows, dtype=np.int64)
    return _assemble(row_ids, specs, whole=lambda s: column_values(table.column(column_of[s.name])),
                     one=lambda s, i: table.column(column_of[s.name])[i].as_py())


def column_values(column: Any) -> np.ndarray:
    """A column without nulls as one numpy array: tensor columns as their tensors, (nested) list
    columns whose lists have one length per level as an array of those dims, scalars as a vector."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if arr.null_count:
        raise ValueError(f"{arr.null_count} null value(s)")
    if isinstance(arr.type, pa.FixedShapeTensorType):
        return arr.to_numpy_ndarray()
    dims: list[int] = []
    values = arr
    while pa.types.is_list(values.type) or pa.types.is_large_list(values.type) or \
            pa.types.is_fixed_size_list(values.type):
        if values.null_count:
            raise ValueError("null lists")
        lengths = pc.list_value_length(values).to_numpy(zero_copy_only=False)
        if len(lengths) and (lengths != lengths[0]).any():
            raise ValueError("lists of different lengths")
        dims.append(int(lengths[0]) if len(lengths) else 0)
        values = values.flatten()
    if values.null_count:
        raise ValueError("null values inside lists")
    return values.to_numpy(zero_copy_only=False).reshape((len(arr), *dims))


def load_image(path: Path, spec: TensorSpec) -> np.ndarray:
    """An image file as one row of `spec`: resized to the static height and width, CHW or HWC as the
    input's dims say, scaled to [0, 1] for a float input."""
    try:
        from PIL import Image
    except ImportError as exc:
        raise InvalidArgument("reading images needs Pillow: pip install pillow (or ep-runtime[image])") from exc
    dims = spec.row_dims
    if dims is None or len(dims) not in (2, 3):
        raise ValueError(f"input {spec.name!r} has dims {spec.dims}: an image row needs (C, H, W), (H, W, C) or (H, W)")
    if len(dims) == 2:
        layout, channels, (height, width) = "HW", 1, dims
    elif dims[0] in (1, 3) and dims[2] not in (1, 3, 4):
        layout, channels, height, width = "CHW", dims[0], dims[1], dims[2]
    elif dims[2] in (1, 3, 4):
        layout, channels, height, width = "HWC", dims[2], dims[0], dims[1]
    else:
        raise ValueError(f"input {spec.name!r} has dims {spec.dims}: cannot tell where its 1 or 3 channels are")
    with Image.open(path) as image:
        image = image.convert({1: "L", 3: "RGB", 4: "RGBA"}[channels])
        if height is not None and width is not None and image.size != (width, height):
            image = image.resize((width, height), Image.BILINEAR)
        pixels = np.asarray(image)
    if pixels.ndim == 2 and layout != "HW":
        pixels = pixels[:, :, None]
    if layout == "CHW":
        pixels = pixels.transpose(2, 0, 1)
    if spec.dtype.kind == "f":
        return (pixels.astype(np.float32) / 255.0).astype(spec.dtype)
    return pixels.astype(spec.dtype)


def _assemble(row_ids: np.ndarray, specs: tuple[TensorSpec, ...], whole: Callable[[TensorSpec], Any] | None,
              one: Callable[[TensorSpec, int], Any]) -> RowBlock:
    """Feeds for `row_ids`: all rows at once through `whole` when that works, else row by row through
    `one`, so that a bad row becomes a RowError and the others go on."""
    if whole is not None:
        try:
            return RowBlock(row_ids, {s.name: _check_rows(s, whole(s), f"input {s.name!r}") for s in specs})
        except _ROW_ERRORS:
            pass
    good: list[int] = []
    rows: dict[str, list[np.ndarray]] = {s.name: [] for s in specs}
    errors = []
    for i, row_id in enumerate(row_ids):
        try:
            values = {s.name: _as_row(s, one(s, i)) for s in specs}
        except _ROW_ERRORS as exc:
            errors.append(RowError(int(row_id), "read", f"{type(exc).__name__}: {exc}"))
            continue
        good.append(i)
        for name, value in values.items():
            rows[name].append(value)
    feeds = {}
    for spec in specs:
        shapes = {r.shape for r in rows[spec.name]}
        if len(shapes) > 1:
            raise InvalidArgument(f"rows {int(row_ids[0])}..{int(row_ids[-1])} of input {spec.name!r} have different "
                                  f"shapes {sorted(shapes)}: batch inference stacks rows of one shape")
        feeds[spec.name] = (np.stack(rows[spec.name]) if good
                            else np.zeros((0, *(d or 0 for d in (spec.row_dims or ()))), dtype=spec.dtype))
    return RowBlock(row_ids[good], feeds, errors=errors)


def _as_row(spec: TensorSpec, value: Any) -> np.ndarray:
    if value is None:
        raise ValueError(f"null value for input {spec.name!r}")
    return _check_rows(spec, np.asarray(value)[None], f"input {spec.name!r}")[0]


def _check_rows(spec: TensorSpec, values: np.ndarray, what: str) -> np.ndarray:
    """`values` (rows stacked along dim 0) cast to the input's dtype and checked against its row dims;
    a flat row of exactly the row's size is reshaped to the static row dims."""
    values = np.asarray(values)
    dims = spec.row_dims
    if dims is not None and values.shape[1:] != dims and None not in dims \
            and values[:1].size == int(np.prod(dims, dtype=np.int64)) and values.ndim >= 1:
        values = values.reshape((len(values), *dims))
    if values.dtype != spec.dtype:
        if values.dtype == object or not np.can_cast(values.dtype, spec.dtype, "same_kind"):
            raise TypeError(f"{what}: values of dtype {values.dtype} cannot be cast to the input's {spec.dtype}")
        values = values.astype(spec.dtype)
    if dims is not None:
        row = values.shape[1:]
        if len(row) != len(dims) or any(d is not None and d != r for d, r in zip(dims, row)):
            raise ValueError(f"{what}: a row has shape {list(row)}, the input's rows are "
                             f"{['?' if d is None else d for d in dims]}")
    return values


def _load_npy(path: Path, mmap: bool = False) -> np.ndarray:
    try:
        with open(path, "rb") as fh:
            np.lib.format.read_magic(fh)  # a clear "not a .npy file" before np.load guesses at pickles
        return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except (OSError, ValueError, EOFError) as exc:
        if mmap:
            raise InvalidArgument(f"cannot read {str(path)!r} as a .npy array: {exc}") from exc
        raise ValueError(f"cannot read {path.name!r} as a .npy array: {exc}") from exc


def _pyarrow_or_none() -> Any:
    try:
        import pyarrow
    except ImportError:
        return None
    return pyarrow


def _require_pyarrow(purpose: str, module: str = "pyarrow") -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise InvalidArgument(f"{purpose} needs pyarrow: pip install 'ep-runtime[batch]'") from exc
