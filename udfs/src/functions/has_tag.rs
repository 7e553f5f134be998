//! `has_tag(tags, name)`: whether a customer's tag array contains a tag.
//! Documented once, in `DOC` (FUNCTIONS.md is generated from it).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;

use crate::CrmFunction;
use crate::args::scalar::{Columns, Kind, Param, param};
use crate::scalar_spec::{Doc, Kernel, ScalarSpec};

const PARAMS: &[Param] = &[param("tags", Kind::TextArray), param("name", Kind::Text)];

/// Registers `has_tag`.
pub fn functions() -> Vec<CrmFunction> {
    vec![
        ScalarSpec::new(
            "has_tag",
            PARAMS,
            DataType::Boolean,
            Kernel::Arrays(contains),
            DOC,
        )
        .strict()
        .into_function(),
    ]
}

const DOC: Doc = Doc {
    description: "Whether a customer's tag array contains a tag (crm-reference §3): tags are \
                  kept as a text array per customer, and has_tag is the readable filter for \
                  audiences such as has_tag(tags, 'vip') AND NOT has_tag(tags, 'churned'). \
                  Exact, case-sensitive match; NULL elements never match, so a tag missing \
                  from an array with NULLs is false, not NULL. NULL tags or a NULL name give \
                  NULL, an empty array false; arguments that are not a text array and text \
                  fail at planning.",
    syntax: "has_tag(tags, name)",
    arguments: &[
        (
            "tags",
            "text array of the customer's tags, e.g. ['vip', 'new']",
        ),
        ("name", "the tag to look for"),
    ],
    example: "SELECT customer_id FROM customer_profile WHERE has_tag(tags, 'vip');\n\
              SELECT has_tag(['vip', 'new'], 'vip'), has_tag(['vip'], 'VIP');  -- t | f",
};

fn contains(rows: usize, columns: &Columns) -> Result<ArrayRef> {
    let mut out = BooleanBuilder::with_capacity(rows);
    let lists = columns.array(0).as_list::<i32>();
    let names = columns.array(1).as_string::<i32>();
    let elements = lists.values().as_string::<i32>();
    let offsets = lists.value_offsets();
    for row in 0..rows {
        let (list_row, name_row) = (columns.index(0, row), columns.index(1, row));
        if lists.is_null(list_row) || names.is_null(name_row) {
            out.append_null();
            continue;
        }
        let name = names.value(name_row);
        let (start, end) = (offsets[list_row] as usize, offsets[list_row + 1] as usize);
        out.append_value((start..end).any(|i| elements.is_valid(i) && elements.value(i) == name));
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::scalar::coerce;
    use datafusion::arrow::array::{ListBuilder, StringArray, StringBuilder};
    use proptest::prelude::*;

    fn tags(rows: &[Option<Vec<Option<&str>>>]) -> ArrayRef {
        let mut builder = ListBuilder::new(StringBuilder::new());
        for row in rows {
            match row {
                None => builder.append_null(),
                Some(items) => {
                    for item in items {
                        builder.values().append_option(*item);
                    }
                    builder.append(true);
                }
            }
        }
        Arc::new(builder.finish())
    }

    fn run(lists: ArrayRef, names: Vec<Option<&str>>) -> Vec<Option<bool>> {
        let rows = names.len();
        let names: ArrayRef = Arc::new(StringArray::from(names));
        let out = contains(rows, &Columns::from_arrays(vec![lists, names])).expect("runs");
        let out = out.as_boolean();
        (0..rows)
            .map(|i| out.is_valid(i).then(|| out.value(i)))
            .collect()
    }

    #[test]
    fn membership_nulls_and_empties() {
        let lists = tags(&[
            Some(vec![Some("vip"), Some("new")]),
            Some(vec![Some("vip")]),
            Some(vec![None, Some("x")]),
            Some(vec![]),
            None,
            Some(vec![Some("vip")]),
        ]);
        let got = run(
            lists,
            vec![
                Some("new"),
                Some("VIP"),
                Some("vip"),
                Some("vip"),
                Some("vip"),
                None,
            ],
        );
        assert_eq!(
            got,
            vec![
                Some(true),
                Some(false),
                Some(false),
                Some(false),
                None,
                None
            ]
        );
    }

    #[test]
    fn only_text_arrays_and_text_are_accepted() {
        let list = |t: DataType| DataType::new_list(t, true);
        assert!(
            coerce(
                "has_tag",
                PARAMS,
                &[2],
                &[list(DataType::Utf8View), DataType::Utf8View]
            )
            .is_ok()
        );
        assert!(
            coerce(
                "has_tag",
                PARAMS,
                &[2],
                &[list(DataType::Int64), DataType::Utf8]
            )
            .is_err()
        );
        assert!(coerce("has_tag", PARAMS, &[2], &[DataType::Utf8, DataType::Utf8]).is_err());
        assert!(
            coerce(
                "has_tag",
                PARAMS,
                &[2],
                &[list(DataType::Utf8), DataType::Int64]
            )
            .is_err()
        );
    }

    proptest! {
        #[test]
        fn agrees_with_a_linear_search(
            items in proptest::collection::vec(proptest::option::of("[a-c]{1,2}"), 0..6),
            name in "[a-c]{1,2}",
        ) {
            let expected = items.iter().any(|i| i.as_deref() == Some(name.as_str()));
            let borrowed: Vec<Option<&str>> = items.iter().map(|i| i.as_deref()).collect();
            let got = run(tags(&[Some(borrowed)]), vec![Some(name.as_str())]);
            prop_assert_eq!(got, vec![Some(expected)]);
        }
    }
}
