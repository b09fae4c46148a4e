//! The memory allocator, for every binary that serves the gateway (`pora-gateway`, and
//! `pora-bench`, which runs it in process so that it measures what ships): `use_jemalloc!()`.
//!
//! jemalloc with its background threads gives memory back to the system within about a second
//! of a burst, whichever thread freed it (glibc's arenas and mimalloc's idle thread heaps keep
//! it): measured with `bench`'s `pora-abuse`, see bench/README.md. The tests keep the system
//! allocator.

pub use tikv_jemallocator::Jemalloc;

/// jemalloc's options, read at its start: purge unused pages after one second, from background
/// threads; and slabs of one page for every small size class. A burst leaves a few long-lived
/// objects (cache entries, per-caller state) scattered among its freed ones, and each keeps its
/// whole slab resident: jemalloc's default slabs of up to 5 pages kept ~5 MiB after 64 heavy
/// callers on PostgreSQL (+20 % of idle), one-page slabs ~1 MiB (+13 %), for the same
/// throughput (`pora-abuse`, bench/README.md). `_RJEM_MALLOC_CONF` in the environment
/// overrides them.
pub const MALLOC_CONF: &[u8] =
    b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0,slab_sizes:1-4096:1\0";

/// Makes jemalloc, with `MALLOC_CONF`, the global allocator of the binary it is used in (the
/// configuration symbol must live in the binary itself, or the linker may leave it out).
#[macro_export]
macro_rules! use_jemalloc {
    () => {
        #[global_allocator]
        static ALLOCATOR: $crate::allocator::Jemalloc = $crate::allocator::Jemalloc;

        #[allow(non_upper_case_globals)]
        #[unsafe(export_name = "_rjem_malloc_conf")]
        pub static malloc_conf: &[u8] = $crate::allocator::MALLOC_CONF;
    };
}
