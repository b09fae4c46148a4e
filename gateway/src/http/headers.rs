//! Request headers copied out of the connection's read buffer.
//!
//! actix-web keeps up to 128 finished requests per worker for reuse, their headers included,
//! and a decoded header value is a slice of the connection's read buffer: each pooled request
//! kept a whole buffer (8–160 KiB, the body's too) alive long after its connection closed.
//! After 64 heavy callers that was ~6 MiB that never came back (`pora-abuse`, bench/README.md).
//! Copying the few header values costs a few small allocations per request.

use actix_web::http::header::{HeaderMap, HeaderValue};

/// Replaces every header value by a copy that shares no memory with the read buffer.
pub fn own_header_values(headers: &mut HeaderMap) {
    let shared = std::mem::take(headers);
    for (name, value) in shared {
        let owned = HeaderValue::from_bytes(value.as_bytes()).unwrap_or(value);
        headers.append(name, owned);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderName;
    use bytes::Bytes;

    #[test]
    fn header_values_no_longer_point_into_the_read_buffer() {
        let buffer = Bytes::from(vec![b'a'; 64 * 1024]);
        let inside = |v: &HeaderValue| {
            let range = buffer.as_ptr_range();
            range.contains(&v.as_bytes().as_ptr())
        };
        let mut headers = HeaderMap::new();
        for (i, name) in ["authorization", "x-one", "x-one", "content-type"]
            .iter()
            .enumerate()
        {
            let value = HeaderValue::from_maybe_shared(buffer.slice(i * 10..i * 10 + 8))
                .expect("a header value");
            headers.append(HeaderName::from_static(name), value);
        }
        assert!(headers.iter().all(|(_, v)| inside(v)), "the test's premise");
        let before: Vec<(String, Vec<u8>)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect();

        own_header_values(&mut headers);

        assert!(headers.iter().all(|(_, v)| !inside(v)));
        let mut after: Vec<(String, Vec<u8>)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect();
        let mut before = before;
        before.sort();
        after.sort();
        assert_eq!(before, after, "same names and values, repeated names kept");
    }
}
