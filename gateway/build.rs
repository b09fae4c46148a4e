//! Compiles the PostgreSQL leg of the tests in only when `PORA_TEST_POSTGRES_URL` is set;
//! otherwise those tests are reported as ignored ("PostgreSQL leg skipped").
fn main() {
    println!("cargo::rustc-check-cfg=cfg(pora_postgres)");
    println!("cargo::rerun-if-env-changed=PORA_TEST_POSTGRES_URL");
    if std::env::var_os("PORA_TEST_POSTGRES_URL").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=pora_postgres");
    }
}
