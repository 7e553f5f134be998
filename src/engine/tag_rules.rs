//! The tag rules `customer_tags` evaluates: the project's `sql/tags/tags.toml` (else the
//! shipped one), with the tags whose inputs the shop's model lacks left out, and customer ids
//! served in the shop's own type (integer or text).

use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;
use segmint_udfs::functions::customer_tags::{TagDefinitions, with_definitions_for};

use crate::error::{Result, SegmintError};
use crate::model::Model;
use crate::project::Asset;

/// One tag rule and whether this shop can evaluate it.
#[derive(Debug, Clone)]
pub struct TagStatus {
    /// The tag.
    pub name: String,
    /// Its category (`basic`, `value`...).
    pub category: String,
    /// Its mutually exclusive group, if any.
    pub group: Option<String>,
    /// Why it is left out (`needs order_items`), if it is.
    pub unavailable: Option<String>,
}

/// Registers `customer_tags` with the rules of `tags`, for `model`; returns each tag's status.
pub fn register(ctx: &SessionContext, tags: &Asset, model: &Model) -> Result<Vec<TagStatus>> {
    let mut definitions = TagDefinitions::parse(&tags.text)
        .map_err(|e| SegmintError::ConfigInvalid(format!("tag rules {}: {e}", tags.label())))?;
    let mut statuses = Vec::with_capacity(definitions.tags.len());
    let shared = definitions.needs.clone();
    for tag in &mut definitions.tags {
        let needs: Vec<String> = shared.iter().chain(&tag.needs).cloned().collect();
        let unavailable = model.unavailable(&needs);
        if unavailable.is_some() {
            tag.enabled = false;
        }
        statuses.push(TagStatus {
            name: tag.name.clone(),
            category: tag.category.clone(),
            group: tag.group.clone(),
            unavailable,
        });
    }
    let id_type = model
        .column_type("customers", "customer_id")
        .or_else(|| model.column_type("orders", "customer_id"))
        .cloned()
        .unwrap_or(DataType::Int64);
    segmint_udfs::register(ctx, with_definitions_for(definitions, id_type));
    let left_out: Vec<&str> = statuses
        .iter()
        .filter(|s| s.unavailable.is_some())
        .map(|s| s.name.as_str())
        .collect();
    if !left_out.is_empty() {
        tracing::info!(
            "tags left out for lack of inputs (segmint check lists why): {}",
            left_out.join(", ")
        );
    }
    Ok(statuses)
}
