//! Page locations for Parquet files written without an offset index.
//!
//! Many writers (pyarrow with its defaults, older Spark and Hive) leave out the page index, so
//! parquet-rs has to read every page of a column chunk even when a `RowSelection` needs only a
//! few of them. [`read_offset_index`] rebuilds the offset index of such a file once, by reading
//! each column chunk and walking its page headers, so the caller can inject it into the file's
//! `ParquetMetaData` (`ParquetMetaDataBuilder::new_from_metadata(..).set_offset_index(..)`).
//!
//! Page headers are Thrift compact-protocol structs; parquet-rs does not expose its decoder, so
//! the few parts needed here (varints, field headers, skipping values) are decoded by hand.

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::file::metadata::{ColumnChunkMetaData, ParquetMetaData, ParquetOffsetIndex};
use parquet::file::page_index::offset_index::{OffsetIndexMetaData, PageLocation};

/// Why page locations could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PageLocationError {
    /// Reading a column chunk from the object store failed.
    #[error("reading bytes {start}..{end} of {path}: {source}")]
    Read {
        /// The file.
        path: Path,
        /// First byte of the column chunk.
        start: u64,
        /// One past the last byte of the column chunk.
        end: u64,
        /// What the store reported.
        #[source]
        source: Box<object_store::Error>,
    },
    /// The store returned a different number of bytes than the column chunk holds (the file
    /// is shorter than its footer says, or changed since the footer was read).
    #[error(
        "{path}: row group {row_group}, column {column}: expected {expected} bytes at offset \
         {start}, the store returned {actual}"
    )]
    ShortRead {
        /// The file.
        path: Path,
        /// Index of the row group in the file.
        row_group: usize,
        /// Index of the column (leaf) in the row group.
        column: usize,
        /// First byte of the column chunk.
        start: u64,
        /// Length of the column chunk according to the footer.
        expected: u64,
        /// Bytes the store returned.
        actual: u64,
    },
    /// The footer gives a column chunk a negative offset or size.
    #[error(
        "{path}: row group {row_group}, column {column}: invalid column chunk range (offset \
         {start}, size {size})"
    )]
    InvalidChunk {
        /// The file.
        path: Path,
        /// Index of the row group in the file.
        row_group: usize,
        /// Index of the column (leaf) in the row group.
        column: usize,
        /// The chunk's first byte, as the footer gives it.
        start: i64,
        /// The chunk's compressed size, as the footer gives it.
        size: i64,
    },
    /// A page header could not be decoded, or does not fit in its column chunk.
    #[error(
        "{path}: row group {row_group}, column {column}: malformed page header at byte offset \
         {offset}: {reason}"
    )]
    Malformed {
        /// The file.
        path: Path,
        /// Index of the row group in the file.
        row_group: usize,
        /// Index of the column (leaf) in the row group.
        column: usize,
        /// Absolute file offset of the page header.
        offset: u64,
        /// What was wrong with it.
        reason: &'static str,
    },
    /// A repeated (nested) column: a v1 data page header gives its number of values, not of
    /// rows, so the first row of each page cannot be known without decoding the pages.
    #[error(
        "{path}: column {column} ({column_path}) is repeated (max repetition level \
         {max_rep_level}): page row counts cannot be read from page headers"
    )]
    Unsupported {
        /// The file.
        path: Path,
        /// Index of the column (leaf) in the schema.
        column: usize,
        /// Dotted path of the column.
        column_path: String,
        /// The column's maximum repetition level (above 0).
        max_rep_level: i16,
    },
    /// The data pages of a column chunk do not add up to the row group's number of rows.
    #[error(
        "{path}: row group {row_group}, column {column}: data pages hold {pages_rows} rows, the \
         row group has {row_group_rows}"
    )]
    RowCountMismatch {
        /// The file.
        path: Path,
        /// Index of the row group in the file.
        row_group: usize,
        /// Index of the column (leaf) in the row group.
        column: usize,
        /// Sum of the rows of the chunk's data pages.
        pages_rows: i64,
        /// `num_rows` of the row group.
        row_group_rows: i64,
    },
}

/// The page locations of every column chunk of the file at `path`, in the layout of
/// `ParquetMetaData::offset_index()`: one `Vec<OffsetIndexMetaData>` per row group, one entry per
/// column.
///
/// Column chunks are read one at a time (`get_range` of the whole chunk), so memory stays bounded
/// by the largest chunk. Files with a repeated (nested) column are refused up front with
/// [`PageLocationError::Unsupported`], before anything is read.
pub async fn read_offset_index(
    store: &dyn ObjectStore,
    path: &Path,
    metadata: &ParquetMetaData,
) -> Result<ParquetOffsetIndex, PageLocationError> {
    for (column, descr) in metadata
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .enumerate()
    {
        if descr.max_rep_level() > 0 {
            return Err(PageLocationError::Unsupported {
                path: path.clone(),
                column,
                column_path: descr.path().string(),
                max_rep_level: descr.max_rep_level(),
            });
        }
    }

    let mut index = Vec::with_capacity(metadata.num_row_groups());
    let (mut pages, mut bytes) = (0usize, 0u64);
    for (row_group, rg) in metadata.row_groups().iter().enumerate() {
        let mut columns = Vec::with_capacity(rg.num_columns());
        for (column, chunk) in rg.columns().iter().enumerate() {
            let range = chunk_range(chunk).ok_or_else(|| PageLocationError::InvalidChunk {
                path: path.clone(),
                row_group,
                column,
                start: chunk
                    .dictionary_page_offset()
                    .unwrap_or(chunk.data_page_offset()),
                size: chunk.compressed_size(),
            })?;
            // An empty chunk (a row group without rows) has no pages; some stores refuse an
            // empty range, so it is not requested.
            let data = if range.is_empty() {
                bytes::Bytes::new()
            } else {
                store
                    .get_range(path, range.clone())
                    .await
                    .map_err(|source| PageLocationError::Read {
                        path: path.clone(),
                        start: range.start,
                        end: range.end,
                        source: Box::new(source),
                    })?
            };
            let expected = range.end - range.start;
            if data.len() as u64 != expected {
                return Err(PageLocationError::ShortRead {
                    path: path.clone(),
                    row_group,
                    column,
                    start: range.start,
                    expected,
                    actual: data.len() as u64,
                });
            }
            let (page_locations, rows) =
                walk_chunk(&data, range.start).map_err(|(offset, reason)| {
                    PageLocationError::Malformed {
                        path: path.clone(),
                        row_group,
                        column,
                        offset,
                        reason,
                    }
                })?;
            if rows != rg.num_rows() {
                return Err(PageLocationError::RowCountMismatch {
                    path: path.clone(),
                    row_group,
                    column,
                    pages_rows: rows,
                    row_group_rows: rg.num_rows(),
                });
            }
            pages += page_locations.len();
            bytes += expected;
            columns.push(OffsetIndexMetaData {
                page_locations,
                unencoded_byte_array_data_bytes: None,
            });
        }
        index.push(columns);
    }
    tracing::debug!(
        %path,
        row_groups = index.len(),
        pages,
        bytes,
        "computed page locations from page headers"
    );
    Ok(index)
}

/// The bytes of a column chunk: from its dictionary page (or first data page) on, for its
/// compressed size (which includes the page headers). `None` when the footer is inconsistent.
fn chunk_range(chunk: &ColumnChunkMetaData) -> Option<std::ops::Range<u64>> {
    let start = chunk
        .dictionary_page_offset()
        .unwrap_or(chunk.data_page_offset());
    let start = u64::try_from(start).ok()?;
    let size = u64::try_from(chunk.compressed_size()).ok()?;
    // Offsets must stay representable as the i64 of a `PageLocation`.
    let end = start
        .checked_add(size)
        .filter(|end| i64::try_from(*end).is_ok())?;
    Some(start..end)
}

/// Page types (`PageType` in parquet.thrift).
const DATA_PAGE: i32 = 0;
const INDEX_PAGE: i32 = 1;
const DICTIONARY_PAGE: i32 = 2;
const DATA_PAGE_V2: i32 = 3;

/// Walks the pages of the column chunk `chunk`, which starts at file offset `chunk_start`: the
/// location of every data page, and the total number of rows. On error, the file offset of the
/// offending page header and what is wrong.
fn walk_chunk(
    chunk: &[u8],
    chunk_start: u64,
) -> Result<(Vec<PageLocation>, i64), (u64, &'static str)> {
    let mut locations = Vec::new();
    let mut rows: i64 = 0;
    let mut pos = 0usize;
    while pos < chunk.len() {
        let offset = chunk_start + pos as u64;
        let fail = |reason| (offset, reason);
        let rest = chunk.get(pos..).ok_or(fail("offset outside the chunk"))?;
        let header = parse_page_header(rest).map_err(|Malformed(reason)| fail(reason))?;
        let page_len = usize::try_from(header.compressed_page_size)
            .ok()
            .and_then(|size| size.checked_add(header.header_len))
            .ok_or(fail("negative or oversized compressed_page_size"))?;
        let next = pos
            .checked_add(page_len)
            .filter(|next| *next <= chunk.len())
            .ok_or(fail("page extends past the end of the column chunk"))?;
        match header.page_type {
            DATA_PAGE | DATA_PAGE_V2 => {
                let page_rows = header.rows.ok_or(fail(if header.page_type == DATA_PAGE {
                    "data page without data_page_header"
                } else {
                    "v2 data page without data_page_header_v2"
                }))?;
                let size = i32::try_from(page_len).map_err(|_| fail("page larger than 2 GiB"))?;
                let page_offset =
                    i64::try_from(offset).map_err(|_| fail("offset overflows i64"))?;
                locations.push(PageLocation {
                    offset: page_offset,
                    compressed_page_size: size,
                    first_row_index: rows,
                });
                rows = rows
                    .checked_add(page_rows)
                    .ok_or(fail("row count overflows"))?;
            }
            DICTIONARY_PAGE | INDEX_PAGE => {}
            _ => return Err(fail("unknown page type")),
        }
        pos = next;
    }
    Ok((locations, rows))
}

/// What [`walk_chunk`] needs of a `PageHeader`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PageHeaderInfo {
    /// Bytes of the serialized header.
    header_len: usize,
    /// `type` (field 1).
    page_type: i32,
    /// `compressed_page_size` (field 3): the page's bytes after the header.
    compressed_page_size: i32,
    /// Rows of a data page: `num_values` of a v1 `DataPageHeader` (field 5; the number of rows
    /// for flat columns), `num_rows` of a `DataPageHeaderV2` (field 8). The one matching
    /// `page_type`, if present.
    rows: Option<i64>,
}

/// A malformed Thrift message: what was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Malformed(&'static str);

/// Compact protocol type ids.
const T_BOOL_TRUE: u8 = 1;
const T_BOOL_FALSE: u8 = 2;
const T_BYTE: u8 = 3;
const T_I16: u8 = 4;
const T_I32: u8 = 5;
const T_I64: u8 = 6;
const T_DOUBLE: u8 = 7;
const T_BINARY: u8 = 8;
const T_LIST: u8 = 9;
const T_SET: u8 = 10;
const T_MAP: u8 = 11;
const T_STRUCT: u8 = 12;

/// Deepest nesting of structs and collections accepted (page headers nest two levels).
const MAX_DEPTH: u32 = 32;

/// Decodes the `PageHeader` at the start of `buf`.
fn parse_page_header(buf: &[u8]) -> Result<PageHeaderInfo, Malformed> {
    let mut d = Decoder { buf, pos: 0 };
    let (mut page_type, mut compressed_page_size) = (None, None);
    let (mut v1_values, mut v2_rows) = (None, None);
    let mut last = 0i16;
    while let Some((id, ty)) = d.field_header(&mut last)? {
        match (id, ty) {
            (1, T_I32) => page_type = Some(d.i32()?),
            (3, T_I32) => compressed_page_size = Some(d.i32()?),
            (5, T_STRUCT) => v1_values = Some(d.struct_i32_field(1)?),
            (8, T_STRUCT) => v2_rows = Some(d.struct_i32_field(3)?),
            (1 | 3 | 5 | 8, _) => return Err(Malformed("page header field of the wrong type")),
            _ => d.skip(ty, 0)?,
        }
    }
    let page_type = page_type.ok_or(Malformed("page header without type"))?;
    let compressed_page_size =
        compressed_page_size.ok_or(Malformed("page header without compressed_page_size"))?;
    let rows = match page_type {
        DATA_PAGE => v1_values,
        DATA_PAGE_V2 => v2_rows,
        _ => None,
    };
    let rows = match rows {
        Some(Some(rows)) if rows < 0 => return Err(Malformed("negative row count")),
        Some(Some(rows)) => Some(i64::from(rows)),
        Some(None) => return Err(Malformed("data page header without its row count")),
        None => None,
    };
    Ok(PageHeaderInfo {
        header_len: d.pos,
        page_type,
        compressed_page_size,
        rows,
    })
}

/// A Thrift compact protocol reader over a byte slice; every read is bounds-checked.
struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Decoder<'_> {
    fn byte(&mut self) -> Result<u8, Malformed> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or(Malformed("truncated page header"))?;
        self.pos += 1;
        Ok(b)
    }

    fn advance(&mut self, n: u64) -> Result<(), Malformed> {
        let end = usize::try_from(n)
            .ok()
            .and_then(|n| self.pos.checked_add(n))
            .filter(|end| *end <= self.buf.len())
            .ok_or(Malformed("truncated page header"))?;
        self.pos = end;
        Ok(())
    }

    /// An unsigned LEB128 varint of at most 64 bits.
    fn varint(&mut self) -> Result<u64, Malformed> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Malformed("varint longer than 10 bytes"))
    }

    fn i64(&mut self) -> Result<i64, Malformed> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn i32(&mut self) -> Result<i32, Malformed> {
        i32::try_from(self.i64()?).map_err(|_| Malformed("i32 out of range"))
    }

    fn i16(&mut self) -> Result<i16, Malformed> {
        i16::try_from(self.i64()?).map_err(|_| Malformed("i16 out of range"))
    }

    /// The next field's id and type, or `None` at the struct's stop byte. `last` is the previous
    /// field id of this struct (0 at its start), for the short form's delta.
    fn field_header(&mut self, last: &mut i16) -> Result<Option<(i16, u8)>, Malformed> {
        let b = self.byte()?;
        if b == 0 {
            return Ok(None);
        }
        let ty = b & 0x0f;
        let delta = b >> 4;
        let id = if delta == 0 {
            self.i16()?
        } else {
            last.checked_add(i16::from(delta))
                .ok_or(Malformed("field id overflows"))?
        };
        *last = id;
        Ok(Some((id, ty)))
    }

    /// Reads a struct (after its field header), returning its i32 field `wanted` if present
    /// and skipping everything else.
    fn struct_i32_field(&mut self, wanted: i16) -> Result<Option<i32>, Malformed> {
        let mut found = None;
        let mut last = 0i16;
        while let Some((id, ty)) = self.field_header(&mut last)? {
            if id == wanted {
                if ty != T_I32 {
                    return Err(Malformed("page header field of the wrong type"));
                }
                found = Some(self.i32()?);
            } else {
                self.skip(ty, 1)?;
            }
        }
        Ok(found)
    }

    /// Skips a field's value of compact type `ty`; booleans are in the field header.
    fn skip(&mut self, ty: u8, depth: u32) -> Result<(), Malformed> {
        match ty {
            T_BOOL_TRUE | T_BOOL_FALSE => Ok(()),
            _ => self.skip_value(ty, depth),
        }
    }

    /// Skips an element of a list, set or map of type `ty`; booleans take one byte.
    fn skip_element(&mut self, ty: u8, depth: u32) -> Result<(), Malformed> {
        match ty {
            T_BOOL_TRUE | T_BOOL_FALSE => self.advance(1),
            _ => self.skip_value(ty, depth),
        }
    }

    fn skip_value(&mut self, ty: u8, depth: u32) -> Result<(), Malformed> {
        if depth >= MAX_DEPTH {
            return Err(Malformed("page header nested too deeply"));
        }
        match ty {
            T_BYTE => self.advance(1),
            T_I16 | T_I32 | T_I64 => self.varint().map(drop),
            T_DOUBLE => self.advance(8),
            T_BINARY => {
                let len = self.varint()?;
                self.advance(len)
            }
            T_LIST | T_SET => {
                let header = self.byte()?;
                let elem = header & 0x0f;
                let size = match header >> 4 {
                    15 => self.varint()?,
                    short => u64::from(short),
                };
                // Every element takes at least one byte, so a bogus size fails at the end of
                // the buffer instead of looping for long.
                for _ in 0..size {
                    self.skip_element(elem, depth + 1)?;
                }
                Ok(())
            }
            T_MAP => {
                let size = self.varint()?;
                if size > 0 {
                    let types = self.byte()?;
                    let (key, value) = (types >> 4, types & 0x0f);
                    for _ in 0..size {
                        self.skip_element(key, depth + 1)?;
                        self.skip_element(value, depth + 1)?;
                    }
                }
                Ok(())
            }
            T_STRUCT => {
                let mut last = 0i16;
                while let Some((_, ty)) = self.field_header(&mut last)? {
                    self.skip(ty, depth + 1)?;
                }
                Ok(())
            }
            _ => Err(Malformed("unknown compact protocol type")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, ListArray, StringArray,
    };
    use arrow::compute::concat_batches;
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};
    use arrow::record_batch::RecordBatch;
    use bytes::Bytes;
    use object_store::PutPayload;
    use object_store::memory::InMemory;
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::{
        ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
        RowSelector,
    };
    use parquet::basic::{BrotliLevel, Compression, GzipLevel, ZstdLevel};
    use parquet::file::metadata::{PageIndexPolicy, ParquetMetaDataBuilder, ParquetMetaDataReader};
    use parquet::file::properties::{WriterProperties, WriterVersion};
    use parquet::schema::types::ColumnPath;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// Six flat columns: Int64, dictionary Utf8, plain Utf8, nullable Float64, Date32, Boolean.
    fn flat_batch(rows: usize, seed: u64) -> RecordBatch {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let ids: Vec<i64> = (0..rows as i64).collect();
        let cats: Vec<String> = (0..rows)
            .map(|_| format!("cat-{}", rng.random_range(0..8)))
            .collect();
        let texts: Vec<String> = (0..rows)
            .map(|i| format!("text {i} {}", "x".repeat(rng.random_range(0..40))))
            .collect();
        let amounts: Vec<Option<f64>> = (0..rows)
            .map(|_| rng.random_bool(0.7).then(|| rng.random::<f64>() * 100.0))
            .collect();
        let days: Vec<i32> = (0..rows)
            .map(|_| rng.random_range(18_000..20_000))
            .collect();
        let flags: Vec<bool> = (0..rows).map(|_| rng.random_bool(0.5)).collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("cat", DataType::Utf8, false),
            Field::new("text", DataType::Utf8, false),
            Field::new("amount", DataType::Float64, true),
            Field::new("day", DataType::Date32, false),
            Field::new("flag", DataType::Boolean, false),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(cats)),
            Arc::new(StringArray::from(texts)),
            Arc::new(Float64Array::from(amounts)),
            Arc::new(Date32Array::from(days)),
            Arc::new(BooleanArray::from(flags)),
        ];
        RecordBatch::try_new(schema, columns).unwrap()
    }

    /// Small pages and row groups, the `text` column without dictionary.
    fn props(
        compression: Compression,
        version: WriterVersion,
        header_stats: bool,
        row_group_rows: usize,
        page_rows: usize,
    ) -> WriterProperties {
        WriterProperties::builder()
            .set_compression(compression)
            .set_writer_version(version)
            .set_write_page_header_statistics(header_stats)
            .set_max_row_group_row_count(Some(row_group_rows))
            .set_data_page_row_count_limit(page_rows)
            .set_data_page_size_limit(4096)
            .set_write_batch_size(10)
            .set_column_dictionary_enabled(ColumnPath::from("text"), false)
            .build()
    }

    fn write(batch: &RecordBatch, props: WriterProperties) -> Bytes {
        let mut out = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).unwrap();
        writer.write(batch).unwrap();
        writer.close().unwrap();
        Bytes::from(out)
    }

    /// The file's metadata with its offset index, and without any page index.
    fn metadata(file: &Bytes) -> (ParquetMetaData, ParquetMetaData) {
        let with = ParquetMetaDataReader::new()
            .with_page_index_policy(PageIndexPolicy::Required)
            .parse_and_finish(file)
            .unwrap();
        let without = ParquetMetaDataReader::new()
            .with_page_index_policy(PageIndexPolicy::Skip)
            .parse_and_finish(file)
            .unwrap();
        assert!(with.offset_index().is_some());
        assert!(without.offset_index().is_none());
        (with, without)
    }

    async fn compute(file: &Bytes, metadata: &ParquetMetaData) -> ParquetOffsetIndex {
        let store = InMemory::new();
        let path = Path::from("data/file.parquet");
        store
            .put(&path, PutPayload::from(file.clone()))
            .await
            .unwrap();
        read_offset_index(&store, &path, metadata).await.unwrap()
    }

    /// The computed page locations equal the writer's, for every row group and column.
    fn assert_same_locations(real: &ParquetOffsetIndex, computed: &ParquetOffsetIndex) {
        assert_eq!(real.len(), computed.len(), "row groups");
        for (rg, (real, computed)) in real.iter().zip(computed).enumerate() {
            assert_eq!(real.len(), computed.len(), "columns of row group {rg}");
            for (col, (real, computed)) in real.iter().zip(computed).enumerate() {
                assert_eq!(
                    real.page_locations(),
                    computed.page_locations(),
                    "row group {rg}, column {col}"
                );
            }
        }
    }

    async fn check_file(file: &Bytes) -> ParquetOffsetIndex {
        let (with, without) = metadata(file);
        let computed = compute(file, &without).await;
        assert_same_locations(with.offset_index().unwrap(), &computed);
        computed
    }

    #[tokio::test]
    async fn matches_the_writers_offset_index() {
        let batch = flat_batch(10_000, 1);
        let compressions = [
            Compression::UNCOMPRESSED,
            Compression::SNAPPY,
            Compression::ZSTD(ZstdLevel::default()),
            Compression::LZ4_RAW,
            Compression::GZIP(GzipLevel::default()),
            Compression::BROTLI(BrotliLevel::default()),
        ];
        for compression in compressions {
            for version in [WriterVersion::PARQUET_1_0, WriterVersion::PARQUET_2_0] {
                let mut header_lens = Vec::new();
                for header_stats in [false, true] {
                    let file = write(
                        &batch,
                        props(compression, version, header_stats, 3_000, 100),
                    );
                    let computed = check_file(&file).await;
                    let (_, meta) = metadata(&file);
                    // The shapes the test is about: several row groups, several pages per
                    // chunk, a dictionary page before the data pages of `cat`, none for `text`.
                    assert_eq!(meta.num_row_groups(), 4);
                    assert!(
                        computed
                            .iter()
                            .flatten()
                            .all(|c| c.page_locations().len() > 1)
                    );
                    let first = meta.row_group(0);
                    assert!(first.column(1).dictionary_page_offset().is_some());
                    assert!(first.column(2).dictionary_page_offset().is_none());
                    // The pages are of the version asked for, with statistics when asked for.
                    let page = &computed[0][0].page_locations()[0];
                    let header = parse_page_header(&file[page.offset as usize..]).unwrap();
                    let expected_type = match version {
                        WriterVersion::PARQUET_1_0 => DATA_PAGE,
                        WriterVersion::PARQUET_2_0 => DATA_PAGE_V2,
                    };
                    assert_eq!(header.page_type, expected_type);
                    header_lens.push((header_stats, header.header_len));
                }
                // Same page, with and without statistics in its header.
                assert!(header_lens[1].1 > header_lens[0].1 + 16, "{header_lens:?}");
                header_lens.clear();
            }
        }
    }

    #[tokio::test]
    async fn random_shapes_match() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for round in 0..8 {
            let rows = rng.random_range(1..5_000);
            let batch = flat_batch(rows, round);
            let version = if rng.random_bool(0.5) {
                WriterVersion::PARQUET_1_0
            } else {
                WriterVersion::PARQUET_2_0
            };
            let compression = if rng.random_bool(0.5) {
                Compression::SNAPPY
            } else {
                Compression::UNCOMPRESSED
            };
            let props = props(
                compression,
                version,
                rng.random_bool(0.5),
                rng.random_range(1..2_000),
                rng.random_range(1..300),
            );
            check_file(&write(&batch, props)).await;
        }
    }

    /// Injected into the metadata, the computed index lets parquet-rs read a row selection.
    #[tokio::test]
    async fn injected_index_reads_row_selections() {
        let batch = flat_batch(10_000, 3);
        let props = props(
            Compression::SNAPPY,
            WriterVersion::PARQUET_1_0,
            false,
            3_000,
            100,
        );
        let file = write(&batch, props);
        let (_, without) = metadata(&file);
        let computed = compute(&file, &without).await;
        let injected = ParquetMetaDataBuilder::new_from_metadata(without)
            .set_offset_index(Some(computed))
            .build();
        let reader_metadata =
            ArrowReaderMetadata::try_new(Arc::new(injected), ArrowReaderOptions::new()).unwrap();
        let selection = RowSelection::from(vec![
            RowSelector::skip(150),
            RowSelector::select(100),
            RowSelector::skip(2_650),
            RowSelector::select(200),
            RowSelector::skip(6_000),
            RowSelector::select(900),
        ]);
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, reader_metadata)
            .with_row_selection(selection)
            .build()
            .unwrap();
        let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().unwrap();
        let got = concat_batches(&batch.schema(), &batches).unwrap();
        let expected = concat_batches(
            &batch.schema(),
            &[
                batch.slice(150, 100),
                batch.slice(2_900, 200),
                batch.slice(9_100, 900),
            ],
        )
        .unwrap();
        assert_eq!(got, expected);
    }

    #[tokio::test]
    async fn nested_columns_are_unsupported() {
        let lists = ListArray::from_iter_primitive::<Int64Type, _, _>(
            (0..100).map(|i| Some((0..i % 5).map(Some).collect::<Vec<_>>())),
        );
        let batch = RecordBatch::try_from_iter([
            (
                "id",
                Arc::new(Int64Array::from_iter_values(0..100)) as ArrayRef,
            ),
            ("items", Arc::new(lists) as ArrayRef),
        ])
        .unwrap();
        let file = write(&batch, WriterProperties::default());
        let (_, without) = metadata(&file);
        let store = InMemory::new();
        let path = Path::from("nested.parquet");
        store.put(&path, PutPayload::from(file)).await.unwrap();
        let err = read_offset_index(&store, &path, &without)
            .await
            .unwrap_err();
        assert!(
            matches!(
                &err,
                PageLocationError::Unsupported {
                    column: 1,
                    max_rep_level: 1,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn garbage_at_a_page_is_malformed() {
        let batch = flat_batch(1_000, 4);
        let file = write(
            &batch,
            props(
                Compression::UNCOMPRESSED,
                WriterVersion::PARQUET_1_0,
                false,
                500,
                100,
            ),
        );
        let (with, without) = metadata(&file);
        // Overwrite the header of the third page of row group 1, column 0.
        let page = with.offset_index().unwrap()[1][0].page_locations()[2].clone();
        let mut bytes = file.to_vec();
        let at = page.offset as usize;
        bytes[at..at + 16].fill(0xff);
        let store = InMemory::new();
        let path = Path::from("garbage.parquet");
        store
            .put(&path, PutPayload::from(Bytes::from(bytes)))
            .await
            .unwrap();
        let err = read_offset_index(&store, &path, &without)
            .await
            .unwrap_err();
        match err {
            PageLocationError::Malformed {
                row_group,
                column,
                offset,
                ..
            } => assert_eq!((row_group, column, offset), (1, 0, page.offset as u64)),
            other => panic!("expected a malformed page header, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_truncated_file_is_a_short_read_or_read_error() {
        let batch = flat_batch(1_000, 5);
        let file = write(&batch, WriterProperties::default());
        let (_, without) = metadata(&file);
        let store = InMemory::new();
        let path = Path::from("short.parquet");
        store
            .put(&path, PutPayload::from(file.slice(..100)))
            .await
            .unwrap();
        let err = read_offset_index(&store, &path, &without)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                PageLocationError::ShortRead { .. } | PageLocationError::Read { .. }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn the_future_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        let store = InMemory::new();
        let path = Path::from("x");
        let batch = flat_batch(10, 6);
        let (_, meta) = metadata(&write(&batch, WriterProperties::default()));
        assert_send(&read_offset_index(&store, &path, &meta));
    }

    /// Test-side compact protocol encoder.
    #[derive(Default)]
    struct Enc {
        out: Vec<u8>,
        last: Vec<i16>,
    }

    impl Enc {
        fn varint(&mut self, mut v: u64) -> &mut Self {
            loop {
                let b = (v & 0x7f) as u8;
                v >>= 7;
                if v == 0 {
                    self.out.push(b);
                    return self;
                }
                self.out.push(b | 0x80);
            }
        }
        fn zigzag(&mut self, v: i64) -> &mut Self {
            self.varint(((v << 1) ^ (v >> 63)) as u64)
        }
        /// Field header, short form when the delta allows and `long` is false.
        fn field(&mut self, id: i16, ty: u8, long: bool) -> &mut Self {
            let last = self.last.last_mut().unwrap();
            let delta = id - *last;
            *last = id;
            if !long && (1..=15).contains(&delta) {
                self.out.push(((delta as u8) << 4) | ty);
            } else {
                self.out.push(ty);
                self.zigzag(i64::from(id));
            }
            self
        }
        fn begin(&mut self) -> &mut Self {
            self.last.push(0);
            self
        }
        fn end(&mut self) -> &mut Self {
            self.out.push(0);
            self.last.pop();
            self
        }
        fn raw(&mut self, bytes: &[u8]) -> &mut Self {
            self.out.extend_from_slice(bytes);
            self
        }
    }

    /// Every compact type in an unknown field of the header and of the v2 page header, long
    /// field headers, a long list, a map and bool elements: all skipped.
    fn exotic_header() -> Vec<u8> {
        let mut e = Enc::default();
        e.begin();
        // An unknown field before the known ones, in long form.
        e.field(-3, T_BOOL_TRUE, true);
        e.field(1, T_I32, true).zigzag(i64::from(DATA_PAGE_V2));
        e.field(2, T_I32, false).zigzag(1_000);
        e.field(3, T_I32, false).zigzag(77);
        e.field(4, T_I32, false).zigzag(-12_345);
        // An unknown struct with every type.
        e.field(6, T_STRUCT, false).begin();
        e.field(1, T_BOOL_FALSE, false);
        e.field(2, T_BYTE, false).raw(&[0xab]);
        e.field(3, T_I16, false).zigzag(-300);
        e.field(4, T_I64, false).zigzag(i64::MIN);
        e.field(5, T_DOUBLE, false).raw(&1.5f64.to_le_bytes());
        e.field(6, T_BINARY, false).varint(3).raw(b"abc");
        e.field(7, T_LIST, false)
            .raw(&[(3 << 4) | T_BOOL_TRUE, 1, 2, 1]);
        e.field(8, T_SET, false).raw(&[0xf0 | T_I32]).varint(20);
        for i in 0..20 {
            e.zigzag(i);
        }
        e.field(9, T_MAP, false)
            .varint(2)
            .raw(&[(T_BINARY << 4) | T_STRUCT]);
        for k in [b"k1", b"k2"] {
            e.varint(2).raw(k).begin();
            e.field(1, T_BOOL_TRUE, false).end();
        }
        e.field(10, T_MAP, false).varint(0);
        e.field(200, T_LIST, true).raw(&[(2 << 4) | T_LIST]);
        e.raw(&[(1 << 4) | T_I64]).zigzag(5);
        e.raw(&[T_BINARY]);
        e.end();
        // The v2 header, with statistics before num_rows.
        e.field(8, T_STRUCT, false).begin();
        e.field(1, T_I32, false).zigzag(150);
        e.field(2, T_I32, false).zigzag(10);
        e.field(5, T_STRUCT, true).begin();
        e.field(1, T_BINARY, false).varint(8).raw(&[0; 8]);
        e.end();
        e.field(3, T_I32, true).zigzag(42);
        e.field(7, T_BOOL_FALSE, false);
        e.end();
        e.end();
        e.out
    }

    #[test]
    fn decodes_every_compact_type() {
        let header = exotic_header();
        let info = parse_page_header(&header).unwrap();
        assert_eq!(
            info,
            PageHeaderInfo {
                header_len: header.len(),
                page_type: DATA_PAGE_V2,
                compressed_page_size: 77,
                rows: Some(42),
            }
        );
    }

    #[test]
    fn zigzag_and_varints() {
        for v in [0i64, 1, -1, 63, -64, 1 << 40, i64::MAX, i64::MIN] {
            let mut e = Enc::default();
            e.zigzag(v);
            let mut d = Decoder {
                buf: &e.out,
                pos: 0,
            };
            assert_eq!(d.i64().unwrap(), v);
            assert_eq!(d.pos, e.out.len());
        }
        let mut d = Decoder {
            buf: &[0xff; 11],
            pos: 0,
        };
        assert!(d.varint().is_err());
        let mut e = Enc::default();
        e.zigzag(i64::from(i32::MAX) + 1);
        assert!(
            Decoder {
                buf: &e.out,
                pos: 0
            }
            .i32()
            .is_err()
        );
    }

    #[test]
    fn truncated_and_corrupted_headers_never_panic() {
        let header = exotic_header();
        for len in 0..header.len() {
            assert!(parse_page_header(&header[..len]).is_err(), "prefix {len}");
        }
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for _ in 0..20_000 {
            let mut bytes = header.clone();
            for _ in 0..rng.random_range(1..4) {
                let i = rng.random_range(0..bytes.len());
                bytes[i] = rng.random();
            }
            let _ = parse_page_header(&bytes);
            let _ = walk_chunk(&bytes, 1 << 20);
            let noise: Vec<u8> = (0..rng.random_range(0..64)).map(|_| rng.random()).collect();
            let _ = walk_chunk(&noise, 4);
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut bytes = vec![(6 << 4) | T_STRUCT];
        bytes.extend(std::iter::repeat_n((1 << 4) | T_STRUCT, 10_000));
        assert_eq!(
            parse_page_header(&bytes),
            Err(Malformed("page header nested too deeply"))
        );
    }

    fn v1_page(values: i64, compressed: i64) -> Vec<u8> {
        let mut e = Enc::default();
        e.begin();
        e.field(1, T_I32, false).zigzag(i64::from(DATA_PAGE));
        e.field(2, T_I32, false).zigzag(compressed);
        e.field(3, T_I32, false).zigzag(compressed);
        e.field(5, T_STRUCT, false).begin();
        e.field(1, T_I32, false).zigzag(values);
        e.field(2, T_I32, false).zigzag(0);
        e.end();
        e.end();
        e.out
            .extend(std::iter::repeat_n(0u8, compressed.max(0) as usize));
        e.out
    }

    #[test]
    fn walks_pages_and_checks_bounds() {
        let (a, b) = (v1_page(10, 5), v1_page(7, 3));
        let chunk = [a.clone(), b.clone()].concat();
        let (locations, rows) = walk_chunk(&chunk, 1_000).unwrap();
        assert_eq!(rows, 17);
        assert_eq!(
            locations,
            vec![
                PageLocation {
                    offset: 1_000,
                    compressed_page_size: a.len() as i32,
                    first_row_index: 0
                },
                PageLocation {
                    offset: 1_000 + a.len() as i64,
                    compressed_page_size: b.len() as i32,
                    first_row_index: 10
                },
            ]
        );
        // The second page's body is cut off by the end of the chunk.
        let cut = &chunk[..chunk.len() - 1];
        assert_eq!(
            walk_chunk(cut, 1_000),
            Err((
                1_000 + a.len() as u64,
                "page extends past the end of the column chunk"
            ))
        );
        // Negative sizes and row counts.
        assert!(walk_chunk(&v1_page(10, -1), 0).is_err());
        assert!(walk_chunk(&v1_page(-1, 2), 0).is_err());
    }
}
