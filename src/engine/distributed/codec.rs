//! How Segmint's own plan nodes cross to the cluster: the logical and physical extension
//! codecs that the server, the scheduler and the executors share.
//!
//! Both wrap Ballista's codecs rather than replace them. A CRM table function's result (a
//! [`KernelTable`] in a logical plan, a [`KernelExec`] in a physical one) is written as a
//! magic prefix, a JSON header (the kernel's call, the projection) and, for the logical node,
//! its input plan in DataFusion's protobuf format; everything else goes to Ballista's codec
//! unchanged. The prefix starts with a byte no protobuf message begins with, so the two
//! encodings never meet.

use std::sync::Arc;

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::{TableReference, internal_datafusion_err, internal_err};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF, WindowUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::{AsLogicalPlan, LogicalExtensionCodec};
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use datafusion_proto::protobuf::LogicalPlanNode;
use prost::Message;
use segmint_udfs::table::{KernelCall, KernelExec, KernelTable, rebuild_kernel};
use serde::{Deserialize, Serialize};

/// Marks Segmint's payloads. `S` (0x53) would be protobuf field 10 with the deprecated group
/// wire type, which prost never writes.
const MAGIC: &[u8] = b"SGMT1";

/// What is written before a node's payload.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    /// The CRM kernel: its function, arguments and the `segmint.*` defaults it was built with.
    call: KernelCall,
    /// The kernel result's columns that are read (physical node only).
    projection: Option<Vec<usize>>,
}

fn write_header(header: &Header, buf: &mut Vec<u8>) -> Result<()> {
    let json = serde_json::to_vec(header)
        .map_err(|e| internal_datafusion_err!("encoding a CRM kernel: {e}"))?;
    buf.extend_from_slice(MAGIC);
    buf.extend_from_slice(&(json.len() as u32).to_le_bytes());
    buf.extend_from_slice(&json);
    Ok(())
}

/// The header and the rest of a Segmint payload, or `None` when `buf` is not one.
fn read_header(buf: &[u8]) -> Result<Option<(Header, &[u8])>> {
    let Some(rest) = buf.strip_prefix(MAGIC) else {
        return Ok(None);
    };
    let (length, rest) = rest
        .split_first_chunk::<4>()
        .ok_or_else(|| internal_datafusion_err!("truncated CRM kernel header"))?;
    let length = u32::from_le_bytes(*length) as usize;
    if rest.len() < length {
        return internal_err!("truncated CRM kernel header");
    }
    let (json, rest) = rest.split_at(length);
    let header: Header = serde_json::from_slice(json)
        .map_err(|e| internal_datafusion_err!("decoding a CRM kernel: {e}"))?;
    Ok(Some((header, rest)))
}

/// Segmint's logical codec: CRM table functions, then Ballista's.
#[derive(Debug, Default)]
pub struct SegmintLogicalCodec {
    ballista: BallistaLogicalExtensionCodec,
}

impl LogicalExtensionCodec for SegmintLogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        self.ballista.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.ballista.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        let Some((header, plan)) = read_header(buf)? else {
            return self
                .ballista
                .try_decode_table_provider(buf, table_ref, schema, ctx);
        };
        let input = LogicalPlanNode::decode(plan)
            .map_err(|e| DataFusionError::Internal(format!("decoding a CRM kernel input: {e}")))?
            .try_into_logical_plan(ctx, self)?;
        let kernel = rebuild_kernel(&header.call, input.schema().as_arrow())?;
        Ok(Arc::new(KernelTable::new(input, kernel)))
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        let Some(table) = node.downcast_ref::<KernelTable>() else {
            return self
                .ballista
                .try_encode_table_provider(table_ref, node, buf);
        };
        let header = Header {
            call: table.kernel().call().clone(),
            projection: None,
        };
        write_header(&header, buf)?;
        LogicalPlanNode::try_from_logical_plan(table.input(), self)?
            .encode(buf)
            .map_err(|e| DataFusionError::Internal(format!("encoding a CRM kernel input: {e}")))
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        self.ballista.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        self.ballista.try_encode_file_format(buf, node)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        self.ballista.try_decode_udf(name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.ballista.try_encode_udf(node, buf)
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        self.ballista.try_decode_udaf(name, buf)
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.ballista.try_encode_udaf(node, buf)
    }

    fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> Result<Arc<WindowUDF>> {
        self.ballista.try_decode_udwf(name, buf)
    }

    fn try_encode_udwf(&self, node: &WindowUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.ballista.try_encode_udwf(node, buf)
    }
}

/// Segmint's physical codec: CRM kernels, then Ballista's (shuffles, its own nodes).
#[derive(Debug, Default)]
pub struct SegmintPhysicalCodec {
    ballista: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for SegmintPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some((header, _)) = read_header(buf)? else {
            return self.ballista.try_decode(buf, inputs, ctx, proto_converter);
        };
        let [input] = inputs else {
            return internal_err!("a CRM kernel has one input, got {}", inputs.len());
        };
        let kernel = rebuild_kernel(&header.call, input.schema().as_ref())?;
        Ok(Arc::new(KernelExec::try_new(
            input.clone(),
            kernel,
            header.projection,
        )?))
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        let Some(exec) = node.downcast_ref::<KernelExec>() else {
            return self.ballista.try_encode(node, buf, proto_converter);
        };
        write_header(
            &Header {
                call: exec.kernel().call().clone(),
                projection: exec.projection().map(<[usize]>::to_vec),
            },
            buf,
        )
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        self.ballista.try_decode_udf(name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.ballista.try_encode_udf(node, buf)
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        self.ballista.try_decode_udaf(name, buf)
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.ballista.try_encode_udaf(node, buf)
    }

    fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> Result<Arc<WindowUDF>> {
        self.ballista.try_decode_udwf(name, buf)
    }

    fn try_encode_udwf(&self, node: &WindowUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.ballista.try_encode_udwf(node, buf)
    }
}
