//! An object store wrapper that counts the requests each query sends, so the cost of a
//! dataset in a bucket is visible (`SELECT * FROM segmint.object_store_requests`) and the
//! listing cache can be shown to work.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

/// Requests sent to one store since the server started.
#[derive(Debug, Default)]
pub struct RequestCounts {
    list: AtomicU64,
    get: AtomicU64,
    head: AtomicU64,
    put: AtomicU64,
    delete: AtomicU64,
    copy: AtomicU64,
}

/// A copy of [`RequestCounts`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestSnapshot {
    /// LIST requests (recursive and delimited).
    pub list: u64,
    /// GET requests, ranged or whole.
    pub get: u64,
    /// HEAD requests.
    pub head: u64,
    /// PUT requests, multipart uploads counted once.
    pub put: u64,
    /// DELETE requests (a batch counted once).
    pub delete: u64,
    /// COPY and RENAME requests.
    pub copy: u64,
}

impl RequestCounts {
    /// The counts now.
    pub fn snapshot(&self) -> RequestSnapshot {
        RequestSnapshot {
            list: self.list.load(Ordering::Relaxed),
            get: self.get.load(Ordering::Relaxed),
            head: self.head.load(Ordering::Relaxed),
            put: self.put.load(Ordering::Relaxed),
            delete: self.delete.load(Ordering::Relaxed),
            copy: self.copy.load(Ordering::Relaxed),
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Delegates every request to `inner`, counting it first.
#[derive(Debug)]
pub struct CountingStore {
    inner: Arc<dyn ObjectStore>,
    counts: Arc<RequestCounts>,
}

impl CountingStore {
    /// Wraps `inner`; the counts are shared with whoever reports them.
    pub fn new(inner: Arc<dyn ObjectStore>, counts: Arc<RequestCounts>) -> Self {
        CountingStore { inner, counts }
    }
}

impl fmt::Display for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.inner)
    }
}

#[async_trait]
impl ObjectStore for CountingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        bump(&self.counts.put);
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        bump(&self.counts.put);
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        bump(if options.head {
            &self.counts.head
        } else {
            &self.counts.get
        });
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        bump(&self.counts.get);
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        bump(&self.counts.delete);
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        bump(&self.counts.list);
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        bump(&self.counts.list);
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        bump(&self.counts.list);
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        bump(&self.counts.copy);
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        bump(&self.counts.copy);
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;
    use object_store::ObjectStoreExt;
    use object_store::memory::InMemory;

    #[tokio::test]
    async fn every_kind_of_request_is_counted() {
        let counts = Arc::new(RequestCounts::default());
        let store = CountingStore::new(Arc::new(InMemory::new()), counts.clone());
        let path = Path::from("a/b.parquet");
        store
            .put(&path, Bytes::from_static(b"x").into())
            .await
            .unwrap();
        store.head(&path).await.unwrap();
        store.get(&path).await.unwrap();
        let listed: Vec<_> = store.list(None).try_collect().await.unwrap();
        assert_eq!(listed.len(), 1);
        store.delete(&path).await.unwrap();
        assert_eq!(
            counts.snapshot(),
            RequestSnapshot {
                list: 1,
                get: 1,
                head: 1,
                put: 1,
                delete: 1,
                copy: 0
            }
        );
    }
}
