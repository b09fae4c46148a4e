//! What the binary's black-box tests share.

use std::io::{BufRead, BufReader};
use std::process::Child;

/// Reads the URL a started `pora-gateway serve` printed on its stdout, then keeps draining
/// stdout so the child never blocks on a full pipe.
pub fn listening_url(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("stdout piped");
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("the gateway printed its URL")
            .expect("line");
        if let Some(url) = line.strip_prefix("PORA Gateway listening on ") {
            break url.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    url
}
