//! Query parameters: values bound to `$1`, `$2`, … and sent in text format.

/// A query parameter, sent in text format; `None` is SQL NULL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param(pub(crate) Option<String>);

impl Param {
    /// SQL NULL.
    pub const NULL: Param = Param(None);

    /// The bytes sent for this parameter; `None` for NULL.
    pub(crate) fn as_bytes(&self) -> Option<&[u8]> {
        self.0.as_deref().map(str::as_bytes)
    }
}

macro_rules! param_from_display {
    ($($t:ty),*) => {$(
        impl From<$t> for Param {
            fn from(v: $t) -> Param {
                Param(Some(v.to_string()))
            }
        }
    )*};
}
param_from_display!(&str, String, &String, i8, i16, i32, i64, u8, u16, u32, u64, bool, char);

impl From<f32> for Param {
    fn from(v: f32) -> Param {
        Param::from(f64::from(v))
    }
}

impl From<f64> for Param {
    /// Postgres spells the special values `NaN`, `Infinity` and `-Infinity`.
    fn from(v: f64) -> Param {
        Param(Some(if v.is_nan() {
            "NaN".into()
        } else if v.is_infinite() {
            if v > 0.0 { "Infinity" } else { "-Infinity" }.into()
        } else {
            v.to_string()
        }))
    }
}

impl From<serde_json::Value> for Param {
    fn from(v: serde_json::Value) -> Param {
        Param(Some(v.to_string()))
    }
}

impl From<&serde_json::Value> for Param {
    fn from(v: &serde_json::Value) -> Param {
        Param(Some(v.to_string()))
    }
}

impl<T: Into<Param>> From<Option<T>> for Param {
    fn from(v: Option<T>) -> Param {
        v.map_or(Param::NULL, Into::into)
    }
}
