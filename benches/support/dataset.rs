//! The benchmark dataset of `setup.sql`: its views, what each must return (`bench_expected`),
//! and the typed forms of its documents.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Every view `setup.sql` creates and `bench_expected` describes.
pub const VIEWS: [&str; 14] = [
    "v_test_1k",
    "v_test_10k",
    "v_test_100k",
    "v_test_1m",
    "v_test_sel",
    "v_test_sel_1",
    "v_test_sel_10",
    "v_test_sel_50",
    "v_test_sel_90",
    "v_test_large",
    "v_test_large_10k",
    "v_test_large_100k",
    "v_test_large_1m",
    "v_test_slow",
];

/// The predicate of the selectivity views, with `$1` the percentage (setup.sql, "THE
/// PREDICATE").
pub const SELECTIVITY_PREDICATE: &str = "(data->>'bucket')::int < $1";

/// What a query must return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    /// `count(*)`.
    pub rows: u64,
    /// `sum(octet_length(data::text))`: the JSON text bytes, no framing.
    pub bytes: u64,
}

/// `bench_expected`, read from the server after its row counts were checked.
#[derive(Debug, Clone, Default)]
pub struct ExpectedTable {
    views: BTreeMap<String, Expected>,
}

impl ExpectedTable {
    /// A table from `(view, expected)` pairs.
    pub fn new(views: impl IntoIterator<Item = (String, Expected)>) -> ExpectedTable {
        ExpectedTable {
            views: views.into_iter().collect(),
        }
    }

    /// What `view` must return.
    ///
    /// # Panics
    /// When `bench_expected` has no row for `view`: the dataset is not the one these
    /// benchmarks were written for.
    pub fn get(&self, view: &str) -> Expected {
        match self.views.get(view) {
            Some(e) => *e,
            None => panic!("bench_expected has no row for {view}; reload setup.sql"),
        }
    }
}

/// A query of one JSON column: a view, optionally filtered by the selectivity predicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload {
    /// The view read.
    pub view: &'static str,
    /// `Some(p)`: only rows with `bucket < p` (the SQL pushdown of `v_test_sel_<p>`).
    pub below_bucket: Option<u32>,
}

impl Workload {
    /// All of `view`.
    pub const fn view(view: &'static str) -> Workload {
        Workload {
            view,
            below_bucket: None,
        }
    }

    /// `v_test_sel` filtered in SQL to `p` percent of its rows.
    pub const fn selectivity(p: u32) -> Workload {
        Workload {
            view: "v_test_sel",
            below_bucket: Some(p),
        }
    }

    /// The SQL every client sends; parameter `$1` (text) is [`Workload::params`].
    pub fn sql(&self) -> String {
        match self.below_bucket {
            None => format!("SELECT data FROM {}", self.view),
            Some(_) => format!(
                "SELECT data FROM {} WHERE {SELECTIVITY_PREDICATE}",
                self.view
            ),
        }
    }

    /// The parameters, in text.
    pub fn params(&self) -> Vec<String> {
        self.below_bucket.iter().map(u32::to_string).collect()
    }

    /// The view whose `bench_expected` row describes this workload's result.
    pub fn expected_view(&self) -> String {
        match self.below_bucket {
            None => self.view.to_owned(),
            Some(p) => format!("v_test_sel_{p}"),
        }
    }
}

/// An order document of `v_test_1k` … `v_test_1m`, as an application would type it.
///
/// Every field is decoded (that is the cost measured); the benchmarks read only a few.
#[derive(Debug, Clone, Deserialize)]
#[allow(dead_code)]
pub struct Order {
    id: i64,
    bucket: i32,
    status: String,
    created_at: String,
    customer: Customer,
    items: Vec<Item>,
    total: f64,
    currency: String,
    discount: Option<f64>,
    tags: Vec<String>,
    trace_id: u64,
    score: f64,
    note: Option<String>,
}

impl Order {
    /// A value that depends on the decoded document, so decoding cannot be optimised away.
    pub fn digest(&self) -> u64 {
        self.id as u64 ^ self.items.len() as u64
    }
}

#[derive(Debug, Clone, Deserialize)]
#[allow(dead_code)]
struct Customer {
    name: String,
    vip: bool,
    address: Address,
}

#[derive(Debug, Clone, Deserialize)]
#[allow(dead_code)]
struct Address {
    zip: String,
    city: String,
    country: String,
}

#[derive(Debug, Clone, Deserialize)]
#[allow(dead_code)]
struct Item {
    sku: String,
    name: String,
    qty: u32,
    price: f64,
}

/// A large "bulk order" of `v_test_large_*` (10 KB to 1 MB).
#[derive(Debug, Clone, Deserialize)]
#[allow(dead_code)]
pub struct BulkOrder {
    id: i64,
    kind: String,
    size_class: String,
    status: String,
    created_at: String,
    customer: BulkCustomer,
    items: Vec<BulkItem>,
    item_count: u32,
    total: f64,
    currency: String,
    discount: Option<f64>,
    tags: Vec<String>,
    trace_id: i64,
    score: f64,
    mass_g: f64,
}

impl BulkOrder {
    /// A value that depends on the decoded document, so decoding cannot be optimised away.
    pub fn digest(&self) -> u64 {
        self.id as u64 ^ self.items.len() as u64
    }
}

#[derive(Debug, Clone, Deserialize)]
#[allow(dead_code)]
struct BulkCustomer {
    id: i64,
    vip: bool,
    name: String,
    address: Address,
}

#[derive(Debug, Clone, Deserialize)]
#[allow(dead_code)]
struct BulkItem {
    line: u32,
    sku: String,
    name: String,
    qty: u32,
    price: f64,
    in_stock: bool,
    backorder_eta: Option<String>,
    attrs: Attrs,
    comment: String,
}

#[derive(Debug, Clone, Deserialize)]
#[allow(dead_code)]
struct Attrs {
    color: String,
    size: String,
}
