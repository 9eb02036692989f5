//! Deterministic, realistic inputs: e-commerce documents as Postgres prints jsonb, and the
//! wire bytes of the query responses that carry them.
//!
//! Nothing is random: every field is a function of the document's index, so runs compare
//! like with like across machines and commits.

use std::sync::OnceLock;

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use jsonwire::proto::{JSONB_OID, JSONB_VERSION};

/// The document sizes every payload-dependent group is measured at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// One order, 300–500 bytes.
    Small,
    /// A customer with their recent orders, about 10 KiB.
    Kib10,
    /// A customer with their whole order history, about 1 MiB.
    Mib1,
}

impl Size {
    pub const ALL: [Size; 3] = [Size::Small, Size::Kib10, Size::Mib1];

    /// The parameter in benchmark ids.
    pub fn label(self) -> &'static str {
        match self {
            Size::Small => "small",
            Size::Kib10 => "10KiB",
            Size::Mib1 => "1MiB",
        }
    }

    /// Rows in one query response: about 2 MiB of wire bytes at every size, so one iteration
    /// costs about the same everywhere and no response fits in L2.
    fn rows(self) -> usize {
        match self {
            Size::Small => 5_000,
            Size::Kib10 => 200,
            Size::Mib1 => 2,
        }
    }
}

/// One order row of the `v_order` view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: i64,
    pub status: String,
    pub currency: String,
    pub total: f64,
    pub created_at: String,
    pub customer: CustomerRef,
    pub items: Vec<Item>,
    pub shipping: Address,
    pub tags: Vec<String>,
    pub gift_note: Option<String>,
}

/// The customer as embedded in an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerRef {
    pub id: i64,
    pub name: String,
    pub email: String,
}

/// An order line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub sku: String,
    pub name: String,
    pub qty: u32,
    pub unit_price: f64,
}

/// A postal address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Address {
    pub street: String,
    pub city: String,
    pub postcode: String,
    pub country: String,
}

/// A customer with their order history (the 10 KiB and 1 MiB documents).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub tier: String,
    pub since: String,
    pub addresses: Vec<Address>,
    pub lifetime_value: f64,
    pub orders: Vec<Order>,
}

/// The documents of one size and the query response carrying them.
pub struct Corpus {
    /// Each row's JSON text, as the stream hands it out.
    pub docs: Vec<Bytes>,
    /// The same rows as the typed value they were printed from.
    pub typed: Typed,
    /// Sum of `docs` lengths.
    pub json_bytes: usize,
    /// ParseComplete … ReadyForQuery, as the server sends it.
    pub wire: Bytes,
}

/// The typed form of a corpus; which type depends on the size.
pub enum Typed {
    Orders(Vec<Order>),
    Customers(Vec<Customer>),
}

/// The corpus of `size`, built on first use.
pub fn corpus(size: Size) -> &'static Corpus {
    static CORPORA: [OnceLock<Corpus>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let index = Size::ALL.iter().position(|&s| s == size).unwrap();
    CORPORA[index].get_or_init(|| build(size))
}

fn build(size: Size) -> Corpus {
    let n = size.rows();
    let (docs, typed): (Vec<Vec<u8>>, Typed) = match size {
        Size::Small => {
            let orders: Vec<Order> = (0..n as u64).map(order).collect();
            (
                orders.iter().map(jsonb_text).collect(),
                Typed::Orders(orders),
            )
        }
        Size::Kib10 | Size::Mib1 => {
            let target = if size == Size::Kib10 {
                10 << 10
            } else {
                1 << 20
            };
            let customers: Vec<Customer> = (0..n as u64).map(|i| customer(i, target)).collect();
            (
                customers.iter().map(jsonb_text).collect(),
                Typed::Customers(customers),
            )
        }
    };
    let wire = query_response(&docs);
    let docs: Vec<Bytes> = docs.into_iter().map(Bytes::from).collect();
    Corpus {
        json_bytes: docs.iter().map(Bytes::len).sum(),
        docs,
        typed,
        wire,
    }
}

/// SplitMix64: a well-mixed function of the index, so neighbouring documents differ.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn pick<'a>(options: &[&'a str], seed: u64) -> &'a str {
    options[(seed % options.len() as u64) as usize]
}

const FIRST: &[&str] = &[
    "Zoë", "Liam", "Amélie", "Noah", "Søren", "Mia", "José", "Hannah", "Łukasz", "Olivia",
];
const LAST: &[&str] = &[
    "Fischer", "Müller", "García", "Smith", "Dubois", "Rossi", "Novák", "O'Brien", "Jansen",
];
const PRODUCTS: &[&str] = &[
    "Merino Wool Socks",
    "Espresso Beans 1kg",
    "USB-C Cable 2m",
    "Linen Shirt \"Relaxed Fit\"",
    "Cast Iron Skillet 28cm",
    "Noise-Cancelling Headphones",
    "Yoga Mat",
    "Paperback: The Rust Programming Language",
];
const CITIES: &[(&str, &str, &str)] = &[
    ("Hamburg", "20095", "DE"),
    ("Lyon", "69002", "FR"),
    ("Bologna", "40121", "IT"),
    ("Utrecht", "3511", "NL"),
    ("Brno", "60200", "CZ"),
    ("Leeds", "LS1 4AP", "GB"),
];
const STREETS: &[&str] = &[
    "Hauptstraße",
    "Rue de la République",
    "Via Indipendenza",
    "Oudegracht",
];
const STATUSES: &[&str] = &["paid", "shipped", "delivered", "pending", "refunded"];
const TAGS: &[&str] = &[
    "gift",
    "express",
    "first-order",
    "b2b",
    "newsletter",
    "promo-spring",
];

fn name(seed: u64) -> (String, String) {
    let first = pick(FIRST, seed);
    let last = pick(LAST, seed >> 8);
    let email = format!(
        "{}.{}{}@example.com",
        first.to_lowercase(),
        last.to_lowercase().replace('\'', ""),
        seed % 100
    );
    (format!("{first} {last}"), email)
}

fn address(seed: u64) -> Address {
    let (city, postcode, country) = CITIES[(seed % CITIES.len() as u64) as usize];
    Address {
        street: format!("{} {}", pick(STREETS, seed >> 4), 1 + (seed >> 12) % 180),
        city: city.into(),
        postcode: postcode.into(),
        country: country.into(),
    }
}

fn timestamp(seed: u64) -> String {
    format!(
        "2024-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        1 + seed % 12,
        1 + (seed >> 4) % 28,
        (seed >> 9) % 24,
        (seed >> 14) % 60,
        (seed >> 20) % 60,
        (seed >> 26) % 1000
    )
}

/// Order number `i`: 1–2 lines, 300–500 bytes of jsonb text.
pub fn order(i: u64) -> Order {
    let seed = mix(i);
    let customer_id = 5_000 + (seed >> 40) % 20_000;
    let (cname, email) = name(mix(customer_id));
    let items: Vec<Item> = (0..1 + seed % 2)
        .map(|k| {
            let s = mix(seed ^ k);
            Item {
                sku: format!("SKU-{:06}", s % 1_000_000),
                name: pick(PRODUCTS, s >> 20).into(),
                qty: 1 + (s >> 32) as u32 % 4,
                unit_price: (199 + (s >> 36) % 20_000) as f64 / 100.0,
            }
        })
        .collect();
    let cents: u64 = items
        .iter()
        .map(|it| (it.unit_price * 100.0).round() as u64 * u64::from(it.qty))
        .sum();
    let tags = (0..seed % 3)
        .map(|k| pick(TAGS, seed >> (8 + 3 * k)).to_owned())
        .collect();
    Order {
        id: 100_000 + i as i64,
        status: pick(STATUSES, seed >> 3).into(),
        currency: pick(&["EUR", "EUR", "GBP", "CZK"], seed >> 6).into(),
        total: cents as f64 / 100.0,
        created_at: timestamp(seed >> 5),
        customer: CustomerRef {
            id: customer_id as i64,
            name: cname,
            email,
        },
        items,
        shipping: address(mix(customer_id) >> 3),
        tags,
        gift_note: (seed % 7 == 0).then(|| "Happy birthday! — with love, \"the team\"".into()),
    }
}

/// Customer number `i` with as many orders as bring its jsonb text to `target` bytes.
pub fn customer(i: u64, target: usize) -> Customer {
    let seed = mix(!i);
    let (name, email) = name(seed);
    let mut c = Customer {
        id: 5_000 + i as i64,
        name,
        email,
        tier: pick(&["standard", "silver", "gold"], seed >> 7).into(),
        since: timestamp(seed >> 11),
        addresses: (0..1 + seed % 3).map(|k| address(mix(seed + k))).collect(),
        lifetime_value: 0.0,
        orders: Vec::new(),
    };
    let mut len = jsonb_text(&c).len();
    let mut k = 0;
    while len < target {
        let o = order(i * 1_000_003 + k);
        len += jsonb_text(&o).len() + 2;
        c.lifetime_value = ((c.lifetime_value + o.total) * 100.0).round() / 100.0;
        c.orders.push(o);
        k += 1;
    }
    c
}

/// `value` as Postgres prints jsonb: keys ordered by length then bytes, `", "` and `": "`
/// between items.
pub fn jsonb_text<T: Serialize>(value: &T) -> Vec<u8> {
    fn write(v: &Value, out: &mut Vec<u8>) {
        match v {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then(a.0.cmp(b.0)));
                out.push(b'{');
                for (n, (k, v)) in entries.into_iter().enumerate() {
                    if n > 0 {
                        out.extend_from_slice(b", ");
                    }
                    serde_json::to_writer(&mut *out, k).unwrap();
                    out.extend_from_slice(b": ");
                    write(v, out);
                }
                out.push(b'}');
            }
            Value::Array(items) => {
                out.push(b'[');
                for (n, v) in items.iter().enumerate() {
                    if n > 0 {
                        out.extend_from_slice(b", ");
                    }
                    write(v, out);
                }
                out.push(b']');
            }
            scalar => serde_json::to_writer(&mut *out, scalar).unwrap(),
        }
    }
    let mut out = Vec::new();
    write(&serde_json::to_value(value).unwrap(), &mut out);
    out
}

fn message(out: &mut BytesMut, tag: u8, body: impl FnOnce(&mut BytesMut)) {
    out.put_u8(tag);
    let start = out.len();
    out.put_u32(0);
    body(out);
    let len = (out.len() - start) as u32;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// The server's answer to Parse/Bind/Describe/Execute/Sync of `SELECT data FROM v_order`
/// with binary results: one jsonb column, a DataRow per document.
pub fn query_response(docs: &[Vec<u8>]) -> Bytes {
    let total: usize = docs.iter().map(|d| d.len() + 12).sum();
    let mut out = BytesMut::with_capacity(total + 128);
    message(&mut out, b'1', |_| {});
    message(&mut out, b'2', |_| {});
    message(&mut out, b'T', |b| {
        b.put_u16(1);
        b.put_slice(b"data\0");
        b.put_u32(16_413); // the view's OID
        b.put_i16(3);
        b.put_u32(JSONB_OID);
        b.put_i16(-1);
        b.put_i32(-1);
        b.put_i16(1);
    });
    for doc in docs {
        message(&mut out, b'D', |b| {
            b.put_u16(1);
            b.put_i32(doc.len() as i32 + 1);
            b.put_u8(JSONB_VERSION);
            b.put_slice(doc);
        });
    }
    message(&mut out, b'C', |b| {
        b.put_slice(format!("SELECT {}\0", docs.len()).as_bytes());
    });
    message(&mut out, b'Z', |b| b.put_u8(b'I'));
    out.freeze()
}

/// The body (after the header) of an ErrorResponse with every field a constraint violation
/// inside a function carries, plus a hint and a position.
pub fn error_response_body() -> Bytes {
    let fields: &[(u8, &str)] = &[
        (b'S', "ERROR"),
        (b'V', "ERROR"),
        (b'C', "23505"),
        (
            b'M',
            "duplicate key value violates unique constraint \"order_line_pkey\"",
        ),
        (
            b'D',
            "Key (order_id, line_no)=(100042, 2) already exists.",
        ),
        (
            b'H',
            "Retry with ON CONFLICT (order_id, line_no) DO UPDATE to merge the line.",
        ),
        (b'P', "57"),
        (
            b'W',
            "SQL statement \"INSERT INTO order_line SELECT * FROM staged_line\"\nPL/pgSQL function import_orders() line 12 at SQL statement",
        ),
        (b's', "public"),
        (b't', "order_line"),
        (b'n', "order_line_pkey"),
        (b'F', "nbtinsert.c"),
        (b'L', "666"),
        (b'R', "_bt_check_unique"),
    ];
    let mut body = BytesMut::new();
    for (code, value) in fields {
        body.put_u8(*code);
        body.put_slice(value.as_bytes());
        body.put_u8(0);
    }
    body.put_u8(0);
    body.freeze()
}
