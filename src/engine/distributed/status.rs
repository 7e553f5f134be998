//! `segmint.cluster`: the executors the cluster's scheduler knows, read from Ballista's own
//! REST API (`/api/executors`, on the scheduler's port) when the table is queried.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::arrow::array::{
    ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray, UInt32Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;
use http_body_util::BodyExt;
use serde::Deserialize;

use super::{Cluster, ClusterError};

/// How long the scheduler has to answer.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// An executor whose last heartbeat is older than this is shown as `silent`.
const SILENT_AFTER_SECONDS: i64 = 30;

/// One executor as Ballista's REST API describes it.
#[derive(Debug, Deserialize)]
struct Executor {
    id: String,
    host: String,
    port: u16,
    /// Milliseconds since the epoch of the last heartbeat.
    last_seen: Option<u64>,
    specification: Specification,
}

#[derive(Debug, Deserialize)]
struct Specification {
    vcores: u32,
}

/// The `segmint.cluster` table: empty when no cluster is configured.
#[derive(Debug)]
pub struct ClusterTable {
    cluster: Option<Cluster>,
}

impl ClusterTable {
    /// The table for `cluster`.
    pub fn new(cluster: Option<Cluster>) -> ClusterTable {
        ClusterTable { cluster }
    }
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("scheduler", DataType::Utf8, false),
        Field::new("executor_id", DataType::Utf8, false),
        Field::new("host", DataType::Utf8, false),
        Field::new("port", DataType::UInt32, false),
        Field::new("task_slots", DataType::UInt32, false),
        Field::new(
            "last_heartbeat",
            DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into())),
            true,
        ),
        Field::new("heartbeat_age_s", DataType::Int64, true),
        Field::new("state", DataType::Utf8, false),
    ]))
}

#[async_trait]
impl TableProvider for ClusterTable {
    fn schema(&self) -> SchemaRef {
        schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let executors = match &self.cluster {
            Some(cluster) => executors(cluster).await.map_err(|reason| {
                DataFusionError::External(Box::new(ClusterError::SchedulerUnreachable {
                    scheduler: cluster.scheduler().to_string(),
                    reason,
                }))
            })?,
            None => vec![],
        };
        let batch = to_batch(self.cluster.as_ref(), &executors)?;
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![batch]],
            schema(),
            projection.cloned(),
        )?)
    }
}

fn to_batch(cluster: Option<&Cluster>, executors: &[Executor]) -> Result<RecordBatch> {
    let now = chrono::Utc::now().timestamp_millis();
    let scheduler = cluster.map(Cluster::scheduler).unwrap_or_default();
    let ages: Vec<Option<i64>> = executors
        .iter()
        .map(|e| e.last_seen.map(|seen| (now - seen as i64).max(0) / 1000))
        .collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            executors.iter().map(|_| scheduler),
        )),
        Arc::new(StringArray::from_iter_values(
            executors.iter().map(|e| e.id.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            executors.iter().map(|e| e.host.as_str()),
        )),
        Arc::new(UInt32Array::from_iter_values(
            executors.iter().map(|e| u32::from(e.port)),
        )),
        Arc::new(UInt32Array::from_iter_values(
            executors.iter().map(|e| e.specification.vcores),
        )),
        Arc::new(
            TimestampMillisecondArray::from(
                executors
                    .iter()
                    .map(|e| e.last_seen.map(|ms| ms as i64))
                    .collect::<Vec<_>>(),
            )
            .with_timezone("+00:00"),
        ),
        Arc::new(Int64Array::from(ages.clone())),
        Arc::new(StringArray::from_iter_values(ages.iter().map(
            |age| match age {
                Some(age) if *age <= SILENT_AFTER_SECONDS => "alive",
                _ => "silent",
            },
        ))),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}

/// The executors the scheduler knows, or why it could not be asked.
async fn executors(cluster: &Cluster) -> std::result::Result<Vec<Executor>, String> {
    let body = tokio::time::timeout(TIMEOUT, get(cluster.endpoint(), "/api/executors"))
        .await
        .map_err(|_| format!("no answer within {} s", TIMEOUT.as_secs()))??;
    serde_json::from_slice(&body).map_err(|e| format!("unexpected answer from the scheduler: {e}"))
}

/// `GET path` on `endpoint` (`http://HOST:PORT`), returning the body of a 200 answer.
pub async fn get(endpoint: &str, path: &str) -> std::result::Result<Bytes, String> {
    let authority = endpoint.trim_start_matches("http://");
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, authority)
        .body(http_body_util::Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    if !status.is_success() {
        return Err(format!("the scheduler answered {status}"));
    }
    Ok(body)
}
