//! The PG* environment variables, alone in their binary because they change the process
//! environment.

mod common;

use jsonwire::Client;
use jsonwire_testkit::Role;

#[tokio::test]
async fn environment_fills_in_what_the_string_leaves_out_and_the_string_wins() {
    let s = common::server();
    let dir = s.socket_dir().unwrap().display().to_string();
    std::env::set_var("PGHOST", &dir);
    std::env::set_var("PGPORT", s.port().to_string());
    std::env::set_var("PGUSER", Role::Scram.user());
    std::env::set_var("PGPASSWORD", Role::Scram.password().unwrap());
    std::env::set_var("PGDATABASE", "postgres");
    std::env::set_var("PGAPPNAME", "from-env");
    std::env::set_var("PGOPTIONS", "-c work_mem=7MB");
    std::env::set_var("PGCONNECT_TIMEOUT", "10");

    let mut c = Client::connect("").await.unwrap();
    assert_eq!(c.parameter("application_name").as_deref(), Some("from-env"));
    let mut rows = c
        .sql("SELECT jsonb_build_array(current_user, current_setting('work_mem'))")
        .stream_raw()
        .await
        .unwrap();
    assert_eq!(
        rows.try_next().await.unwrap().unwrap(),
        r#"["jw_scram", "7MB"]"#
    );
    drop(rows);

    let c = Client::connect("application_name=explicit").await.unwrap();
    assert_eq!(c.parameter("application_name").as_deref(), Some("explicit"));

    std::env::set_var("PGPORT", "not-a-port");
    let err = Client::connect("").await.unwrap_err();
    assert_eq!(err.kind(), jsonwire::ErrorKind::Config);
    assert!(err.to_string().contains("PGPORT"), "{err}");
}

/// `sslrootcert=system` reads the operating system's roots with rustls-native-certs, which
/// takes `SSL_CERT_FILE` as OpenSSL does: with the kit's CA as that file, the implied
/// `verify-full` connects to localhost, still refuses a certificate for another name, and a
/// weaker mode is refused as libpq refuses it.
#[tokio::test]
async fn sslrootcert_system_reads_the_platform_roots() {
    let s = common::server();
    let tls = s.tls().expect("the test server runs with ssl=on");
    std::env::set_var("SSL_CERT_FILE", &tls.ca_cert);
    let base = format!(
        "port={} user=postgres dbname=postgres sslrootcert=system",
        s.port()
    );
    let mut c = Client::connect(&format!("host=localhost {base}"))
        .await
        .unwrap();
    let mut rows = c
        .sql("SELECT to_jsonb(ssl) FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .stream_raw()
        .await
        .unwrap();
    assert_eq!(rows.try_next().await.unwrap().unwrap(), "true");
    drop(rows);
    let other = jsonwire_testkit::tls::OTHER_HOST;
    let err = Client::connect(&format!("host={other} hostaddr=127.0.0.1 {base}"))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("not valid for host \"{other}\"")),
        "{err}"
    );
    let err = Client::connect(&format!("host=localhost {base} sslmode=require"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), jsonwire::ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("sslrootcert=system"), "{err}");
}
