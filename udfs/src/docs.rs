//! Function documentation: the builders every function file uses, and the generated
//! `udfs/FUNCTIONS.md` (a test fails when the file is stale; run
//! `SEGMINT_BLESS=1 cargo test -p segmint-udfs functions_md` to regenerate it).

use datafusion::logical_expr::{DocSection, Documentation, DocumentationBuilder};

use crate::CrmFunction;

/// The one documentation section of the CRM library.
pub const CRM_SECTION: DocSection = DocSection {
    include: true,
    label: "CRM functions",
    description: Some("Segmint's customer-analytics functions (RFM, lifecycle, tags, behaviour)."),
};

/// Starts a function's documentation.
pub fn builder(description: &str, syntax: &str) -> DocumentationBuilder {
    Documentation::builder(CRM_SECTION, description, syntax)
}

/// Renders `FUNCTIONS.md` for `functions` (sorted by name).
pub fn render_markdown(functions: &[CrmFunction]) -> String {
    let mut out = String::from(
        "# Segmint CRM functions\n\n\
         Generated from the functions' own documentation by \
         `SEGMINT_BLESS=1 cargo test -p segmint-udfs functions_md`; do not edit by hand.\n\
         The same text is shown by psql's `\\df+` and `information_schema.routines`.\n\n\
         | function | kind | summary |\n|---|---|---|\n",
    );
    for function in functions {
        let summary = function
            .documentation()
            .map(|d| first_sentence(&d.description))
            .unwrap_or_default();
        out.push_str(&format!(
            "| [`{0}`](#{0}) | {1} | {2} |\n",
            function.name(),
            function.kind(),
            summary
        ));
    }
    for function in functions {
        out.push_str(&format!("\n## {}\n\n", function.name()));
        let Some(doc) = function.documentation() else {
            continue;
        };
        out.push_str(&format!("*{} function*\n\n", function.kind()));
        out.push_str(&doc.description);
        out.push_str("\n\n```sql\n");
        out.push_str(&doc.syntax_example);
        out.push_str("\n```\n");
        if let Some(arguments) = &doc.arguments {
            out.push_str("\n| argument | meaning |\n|---|---|\n");
            for (name, meaning) in arguments {
                out.push_str(&format!("| `{name}` | {} |\n", meaning.replace('|', "\\|")));
            }
        }
        let aliases = function.aliases();
        if !aliases.is_empty() {
            out.push_str(&format!("\nAliases: `{}`\n", aliases.join("`, `")));
        }
        if let Some(example) = &doc.sql_example {
            out.push_str("\nExample:\n\n```sql\n");
            out.push_str(example.trim());
            out.push_str("\n```\n");
        }
    }
    out
}

fn first_sentence(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    match line.find(". ") {
        Some(end) => line[..=end].trim().to_string(),
        None => line.trim().to_string(),
    }
    .replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_md_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("FUNCTIONS.md");
        let rendered = render_markdown(&crate::all_functions());
        if std::env::var_os("SEGMINT_BLESS").is_some() {
            std::fs::write(&path, &rendered).expect("write FUNCTIONS.md");
            return;
        }
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            current == rendered,
            "udfs/FUNCTIONS.md is stale: run `SEGMINT_BLESS=1 cargo test -p segmint-udfs functions_md`"
        );
    }
}
