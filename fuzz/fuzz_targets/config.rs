//! Connection strings: parsing never panics, and whatever parses prints (`Display`) as a
//! string that parses back to the same `Config` (the password and `sslpassword` print as
//! `<redacted>`).
#![no_main]

use jsonwire::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(mut config) = Config::parse(text) else {
        return;
    };
    let shown = config.to_string();
    let again = Config::parse(&shown)
        .unwrap_or_else(|e| panic!("{text:?} printed as {shown:?}, which does not parse: {e}"));
    if config.get_password().is_some() {
        config.password("<redacted>");
    }
    if config.get_ssl_password().is_some() {
        config.ssl_password("<redacted>");
    }
    assert_eq!(again, config, "{text:?} printed as {shown:?}");
});
