//! The threads queries run on, apart from the threads that answer clients.
//!
//! DataFusion's operators compute in long stretches between yields: a join's hash table is
//! built over the whole build side in one go, a partition is sorted in one go, a CRM kernel
//! runs over every customer. On the runtime that also accepts connections and reads the
//! protocol, such a stretch holds a worker thread; with every worker busy (2 on a 2-core
//! machine) a `CancelRequest`, a `statement_timeout` or a new login waits until one yields.
//! So statements are started and their results produced on this runtime of its own, and the
//! connection side only waits on them: a cancel or timeout answers the client at once, and
//! dropping what it waits on aborts the query's tasks (and with them the tasks the plan
//! spawned) at their next yield, which returns their memory.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;
use tokio::runtime::{Handle, Runtime};
use tokio::task::{JoinError, JoinHandle};
use tracing::Instrument;

use crate::error::{Result, SegmintError};

/// Batches handed over between the query threads and the connection: enough to keep both
/// busy, few enough that a slow client holds the query back (backpressure).
const HANDOVER_BATCHES: usize = 2;

/// A multi-threaded Tokio runtime for query work, shut down without waiting when dropped.
pub struct QueryRuntime {
    runtime: Option<Runtime>,
}

impl QueryRuntime {
    /// A runtime with `threads` worker threads (each with a 32 MiB stack: deep plans recurse
    /// deeply when they are planned).
    pub fn new(threads: usize) -> Result<QueryRuntime> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("segmint-query")
            .thread_stack_size(32 * 1024 * 1024)
            .enable_all()
            .build()
            .map_err(|e| SegmintError::io("starting the query runtime", e))?;
        Ok(QueryRuntime {
            runtime: Some(runtime),
        })
    }

    fn handle(&self) -> Option<&Handle> {
        self.runtime.as_ref().map(Runtime::handle)
    }

    /// Runs `work` on the query threads (in the caller's tracing span). Dropping the returned
    /// future aborts `work`.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> std::result::Result<T, DataFusionError> {
        match self.handle() {
            Some(handle) => AbortOnDrop(handle.spawn(work.in_current_span()))
                .await
                .map_err(|e| DataFusionError::ExecutionJoin(Box::new(e))),
            None => Ok(work.await),
        }
    }

    /// `stream`, produced on the query threads: the returned stream yields the same batches,
    /// and dropping it aborts the task producing them.
    pub fn stream(&self, mut stream: SendableRecordBatchStream) -> SendableRecordBatchStream {
        let Some(handle) = self.handle() else {
            return stream;
        };
        let schema = stream.schema();
        let (sender, receiver) = tokio::sync::mpsc::channel(HANDOVER_BATCHES);
        let producer = AbortOnDrop(
            handle.spawn(
                async move {
                    while let Some(batch) = stream.next().await {
                        if sender.send(batch).await.is_err() {
                            break;
                        }
                    }
                }
                .in_current_span(),
            ),
        );
        let batches = futures::stream::unfold(
            (receiver, producer),
            |(mut receiver, producer)| async move {
                let batch = receiver.recv().await?;
                Some((batch, (receiver, producer)))
            },
        );
        Box::pin(RecordBatchStreamAdapter::new(schema, batches))
    }
}

impl Drop for QueryRuntime {
    fn drop(&mut self) {
        // Dropping a runtime blocks until its tasks finish, which is not allowed inside
        // another runtime (where an engine is usually dropped).
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A task handle that aborts its task when dropped.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for AbortOnDrop<T> {
    type Output = std::result::Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, RecordBatch};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn work_runs_on_the_query_threads() {
        let runtime = QueryRuntime::new(1).expect("runtime");
        let name = runtime
            .run(async { std::thread::current().name().map(str::to_string) })
            .await
            .expect("ran");
        assert_eq!(name.as_deref(), Some("segmint-query"));
    }

    #[tokio::test]
    async fn a_dropped_run_aborts_its_work() {
        let runtime = QueryRuntime::new(1).expect("runtime");
        let finished = Arc::new(AtomicBool::new(false));
        let flag = finished.clone();
        let run = runtime.run(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            flag.store(true, Ordering::SeqCst);
        });
        assert!(
            tokio::time::timeout(Duration::from_millis(20), run)
                .await
                .is_err()
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(!finished.load(Ordering::SeqCst), "the work went on");
    }

    #[tokio::test]
    async fn streams_pass_every_batch_and_stop_when_dropped() {
        let runtime = QueryRuntime::new(1).expect("runtime");
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let produced = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = produced.clone();
        let batch_schema = schema.clone();
        let endless = futures::stream::iter(0..).then(move |n: i64| {
            let schema = batch_schema.clone();
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                Ok(RecordBatch::try_new(
                    schema,
                    vec![Arc::new(Int64Array::from(vec![n]))],
                )?)
            }
        });
        let mut stream = runtime.stream(Box::pin(RecordBatchStreamAdapter::new(schema, endless)));
        for expected in 0..5i64 {
            let batch = stream.next().await.expect("a batch").expect("no error");
            let column = batch.column(0).as_any().downcast_ref::<Int64Array>();
            assert_eq!(column.map(|c| c.value(0)), Some(expected));
        }
        drop(stream);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let after_drop = produced.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            produced.load(Ordering::SeqCst),
            after_drop,
            "still producing"
        );
        assert!(
            after_drop <= 5 + HANDOVER_BATCHES + 2,
            "{after_drop} produced"
        );
    }
}
