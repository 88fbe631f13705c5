"""A Parquet file that grows by row groups and is a complete file after every append.

Parquet keeps its index (the footer: schema, and per row group the byte offsets of its column
chunks) at the end of the file, so appending means moving the footer. ``ParquetAppender``
encodes each batch as a one-row-group Parquet file in memory with pyarrow, writes that row
group's bytes where the old footer began, and writes after them a footer that lists every row
group so far. Only the new rows and the footer are written per append (the footer grows by one
row group's entry, a few hundred bytes per column), never the rows already on disk; the row
group and its footer go out in one write, as the JSON writer's batches do.

The footer is Thrift's compact protocol. ``_read_struct``/``_write_struct`` handle it
generically (field ids and types, no schema), so every field pyarrow writes is kept as it is;
only the byte offsets of the appended row group are moved by where its bytes now lie.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

MAGIC = b"PAR1"
# compact-protocol type ids
_TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(1, 13)
# FileMetaData fields
_NUM_ROWS, _ROW_GROUPS = 3, 4
# RowGroup: columns, file_offset, ordinal; ColumnChunk: file_offset, meta_data, page indexes
_RG_COLUMNS, _RG_FILE_OFFSET, _RG_ORDINAL = 1, 5, 7
_CC_FILE_OFFSET, _CC_META, _CC_OFFSET_INDEX, _CC_COLUMN_INDEX = 2, 3, 4, 6
# ColumnMetaData: data, index and dictionary page offsets, bloom filter offset
_CM_OFFSETS = (9, 10, 11, 14)


class ParquetAppender:
    """Append pyarrow tables of one schema to ``path`` as row groups (see the module doc)."""

    def __init__(self, path: str | Path, schema) -> None:
        import pyarrow as pa

        self.path, self.schema = Path(path), schema
        _, footer = _standalone(pa.Table.from_batches([], schema=schema))
        self._meta = footer  # schema, key-value metadata, writer: kept from the first footer
        self._meta[_NUM_ROWS] = (_I64, 0)
        self._meta.pop(_ROW_GROUPS, None)
        self._groups: list[bytes] = []  # each row group's encoded entry, offsets already moved
        self._rows = 0
        self._end = len(MAGIC)  # where the footer starts: just after the last row group
        self._handle = open(self.path, "w+b")  # noqa: SIM115
        self._handle.write(MAGIC + self._footer())
        self._handle.flush()

    def append(self, table) -> int:
        """Write ``table`` as one row group; returns the bytes of rows written."""
        body, footer = _standalone(table)
        groups = footer[_ROW_GROUPS][1][1]
        shift = self._end - len(MAGIC)  # the body sat after MAGIC in its own file
        for group in groups:
            _move_row_group(group, shift, len(self._groups))
            self._groups.append(_encode_struct(group))
        self._rows += int(footer[_NUM_ROWS][1])
        self._handle.seek(self._end)
        self._handle.write(body + self._footer())
        self._handle.truncate()
        self._handle.flush()
        self._end += len(body)
        return len(body)

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()

    def _footer(self) -> bytes:
        meta = dict(self._meta)
        meta[_NUM_ROWS] = (_I64, self._rows)
        meta[_ROW_GROUPS] = (_LIST, (_STRUCT, None))  # written from the cached entries
        encoded = _encode_struct(meta, raw_list={_ROW_GROUPS: self._groups})
        return encoded + struct.pack("<I", len(encoded)) + MAGIC


def _standalone(table) -> tuple[bytes, dict]:
    """``table`` as its own Parquet file: (the bytes between the magic and the footer, the
    footer parsed)."""
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=max(1, table.num_rows))
    data = buffer.getvalue()
    size = struct.unpack("<I", data[-8:-4])[0]
    start = len(data) - 8 - size
    footer, _ = _read_struct(data, start)
    return data[len(MAGIC):start], footer


def _move_row_group(group: dict, shift: int, ordinal: int) -> None:
    """Add ``shift`` to every absolute byte offset of one RowGroup (in place)."""
    _shift_field(group, _RG_FILE_OFFSET, shift)
    if _RG_ORDINAL in group:
        group[_RG_ORDINAL] = (_I16, ordinal)
    for chunk in group[_RG_COLUMNS][1][1]:
        for field_id in (_CC_FILE_OFFSET, _CC_OFFSET_INDEX, _CC_COLUMN_INDEX):
            _shift_field(chunk, field_id, shift)
        if _CC_META in chunk:
            for field_id in _CM_OFFSETS:
                _shift_field(chunk[_CC_META][1], field_id, shift)


def _shift_field(fields: dict, field_id: int, shift: int) -> None:
    if field_id in fields and fields[field_id][1]:  # 0: unset (a deprecated offset)
        kind, value = fields[field_id]
        fields[field_id] = (kind, value + shift)


# --- Thrift compact protocol, generic: a struct is {field_id: (type, value)} in field order ---

def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _unzigzag(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


def _read_value(data: bytes, pos: int, kind: int) -> tuple[object, int]:
    if kind in (_TRUE, _FALSE):  # only inside lists: one byte
        return data[pos], pos + 1
    if kind == _BYTE:
        return data[pos], pos + 1
    if kind in (_I16, _I32, _I64):
        raw, pos = _read_varint(data, pos)
        return _unzigzag(raw), pos
    if kind == _DOUBLE:
        return data[pos:pos + 8], pos + 8
    if kind == _BINARY:
        size, pos = _read_varint(data, pos)
        return data[pos:pos + size], pos + size
    if kind in (_LIST, _SET):
        header = data[pos]
        pos += 1
        size, element = header >> 4, header & 0x0F
        if size == 15:
            size, pos = _read_varint(data, pos)
        items = []
        for _ in range(size):
            item, pos = _read_value(data, pos, element)
            items.append(item)
        return (element, items), pos
    if kind == _MAP:
        size, pos = _read_varint(data, pos)
        if not size:
            return (0, 0, []), pos
        types = data[pos]
        pos += 1
        pairs = []
        for _ in range(size):
            key, pos = _read_value(data, pos, types >> 4)
            value, pos = _read_value(data, pos, types & 0x0F)
            pairs.append((key, value))
        return (types >> 4, types & 0x0F, pairs), pos
    if kind == _STRUCT:
        return _read_struct(data, pos)
    raise ValueError(f"unknown Thrift compact type {kind}")


def _read_struct(data: bytes, pos: int) -> tuple[dict, int]:
    fields: dict[int, tuple[int, object]] = {}
    last = 0
    while True:
        header = data[pos]
        pos += 1
        if header == 0:
            return fields, pos
        kind, delta = header & 0x0F, header >> 4
        if delta:
            field_id = last + delta
        else:
            raw, pos = _read_varint(data, pos)
            field_id = _unzigzag(raw)
        if kind in (_TRUE, _FALSE):
            value = None
        else:
            value, pos = _read_value(data, pos, kind)
        fields[field_id] = (kind, value)
        last = field_id


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def _encode_value(kind: int, value: object) -> bytes:
    if kind in (_TRUE, _FALSE, _BYTE):
        return bytes([value])
    if kind in (_I16, _I32, _I64):
        return _varint(_zigzag(int(value)))
    if kind == _DOUBLE:
        return bytes(value)
    if kind == _BINARY:
        return _varint(len(value)) + bytes(value)
    if kind in (_LIST, _SET):
        element, items = value
        return _list_header(element, len(items)) + b"".join(
            _encode_value(element, item) for item in items)
    if kind == _MAP:
        key_kind, value_kind, pairs = value
        if not pairs:
            return _varint(0)
        return _varint(len(pairs)) + bytes([key_kind << 4 | value_kind]) + b"".join(
            _encode_value(key_kind, k) + _encode_value(value_kind, v) for k, v in pairs)
    if kind == _STRUCT:
        return _encode_struct(value)
    raise ValueError(f"unknown Thrift compact type {kind}")


def _list_header(element: int, size: int) -> bytes:
    return bytes([size << 4 | element]) if size < 15 else bytes([0xF0 | element]) + _varint(size)


def _encode_struct(fields: dict, raw_list: dict[int, list[bytes]] | None = None) -> bytes:
    """``fields`` encoded; ``raw_list`` gives lists of structs by their encoded elements."""
    out, last = bytearray(), 0
    for field_id in sorted(fields):
        kind, value = fields[field_id]
        delta = field_id - last
        if 0 < delta <= 15:
            out.append(delta << 4 | kind)
        else:
            out.append(kind)
            out += _varint(_zigzag(field_id))
        if raw_list and field_id in raw_list:
            out += _list_header(_STRUCT, len(raw_list[field_id])) + b"".join(raw_list[field_id])
        elif kind not in (_TRUE, _FALSE):
            out += _encode_value(kind, value)
        last = field_id
    out.append(0)
    return bytes(out)
