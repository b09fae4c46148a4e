//! What the gateway sends to PostgreSQL, as it sends it: a TCP proxy between a gateway and the
//! server that forwards every byte unchanged and, while told to record, decodes the frontend
//! side of the wire protocol: `Query` (simple protocol) and `Parse`/`Bind` (extended protocol:
//! the statement's text and parameter type OIDs from `Parse`, remembered per connection and
//! statement name, and the bound values from each `Bind`). The backend side is copied through
//! untouched. Nothing in the gateway is changed or told that it is observed.
//!
//! The proxy answers an `SSLRequest` itself with `N` (no TLS), so the stream it reads is plain;
//! the gateway already disables TLS to a loopback server.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One bound parameter as the gateway sent it.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// The type OID the gateway declared in `Parse` (0: left to the server).
    pub oid: u32,
    /// Format code of the value: 0 text, 1 binary.
    pub format: i16,
    /// None: SQL NULL.
    pub value: Option<Vec<u8>>,
}

/// One statement the gateway executed.
#[derive(Clone, Debug)]
pub struct Statement {
    /// Which proxied connection sent it (one pooled connection of the gateway).
    pub connection: usize,
    /// Global order in which the proxy saw the statements, over all connections.
    pub seq: u64,
    pub sql: String,
    /// None: simple-protocol `Query` (no parameters); Some: extended protocol (`Bind`).
    pub params: Option<Vec<Param>>,
}

#[derive(Default)]
struct Shared {
    recording: AtomicBool,
    next_seq: AtomicU64,
    next_connection: AtomicUsize,
    statements: Mutex<Vec<Statement>>,
    errors: Mutex<Vec<String>>,
}

/// A running proxy on `127.0.0.1:port` in front of `upstream`.
pub struct Proxy {
    pub port: u16,
    shared: Arc<Shared>,
}

impl Proxy {
    /// Listens on a free loopback port; every accepted connection is relayed to `upstream`
    /// (`host:port`).
    pub async fn start(upstream: String) -> Result<Proxy, BoxError> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared::default());
        let accept_shared = shared.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let shared = accept_shared.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    if let Err(e) = relay(client, &upstream, &shared).await {
                        shared
                            .errors
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(e.to_string());
                    }
                });
            }
        });
        Ok(Proxy { port, shared })
    }

    /// Starts recording (forgets what was recorded before).
    pub fn record(&self) {
        self.shared
            .statements
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.shared.recording.store(true, Ordering::SeqCst);
    }

    /// Stops recording and returns the statements seen since [`Proxy::record`], in the order
    /// the proxy saw them.
    pub fn stop(&self) -> Result<Vec<Statement>, BoxError> {
        self.shared.recording.store(false, Ordering::SeqCst);
        let errors =
            std::mem::take(&mut *self.shared.errors.lock().unwrap_or_else(|e| e.into_inner()));
        if let Some(e) = errors.first() {
            return Err(format!("capture proxy: {e}").into());
        }
        let mut statements = std::mem::take(
            &mut *self
                .shared
                .statements
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        statements.sort_by_key(|s| s.seq);
        Ok(statements)
    }
}

/// Relays one connection, decoding the client's messages.
async fn relay(mut client: TcpStream, upstream: &str, shared: &Shared) -> Result<(), BoxError> {
    client.set_nodelay(true)?;
    let connection = shared.next_connection.fetch_add(1, Ordering::SeqCst);
    // Startup: Int32 length, Int32 code, rest. SSLRequest / GSSENCRequest are refused here.
    let startup = loop {
        // A connection closed before its startup message is a reachability probe: nothing to
        // relay.
        let Ok(len) = client.read_i32().await else {
            return Ok(());
        };
        let len = len as usize;
        if !(8..=10_000).contains(&len) {
            return Err(format!("unexpected startup length {len}").into());
        }
        let mut body = vec![0u8; len - 4];
        client.read_exact(&mut body).await?;
        let code = i32::from_be_bytes(body[..4].try_into()?);
        if code == 80_877_103 || code == 80_877_104 {
            client.write_all(b"N").await?;
            continue;
        }
        let mut message = (len as i32).to_be_bytes().to_vec();
        message.extend_from_slice(&body);
        break message;
    };
    let mut server = TcpStream::connect(upstream).await?;
    server.set_nodelay(true)?;
    server.write_all(&startup).await?;
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let backward = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    });
    // Statement name -> (SQL, declared parameter OIDs), for this connection.
    let mut prepared: HashMap<String, (String, Vec<u32>)> = HashMap::new();
    loop {
        let mut header = [0u8; 5];
        if client_read.read_exact(&mut header).await.is_err() {
            break;
        }
        let len = i32::from_be_bytes(header[1..5].try_into()?) as usize;
        if len < 4 {
            return Err(format!("bad message length {len}").into());
        }
        let mut body = vec![0u8; len - 4];
        client_read.read_exact(&mut body).await?;
        server_write.write_all(&header).await?;
        server_write.write_all(&body).await?;
        let recording = shared.recording.load(Ordering::SeqCst);
        match header[0] {
            b'P' => {
                let mut r = Reader::new(&body);
                let name = r.cstr()?;
                let sql = r.cstr()?;
                let n = r.i16()? as usize;
                let oids = (0..n).map(|_| r.u32()).collect::<Result<Vec<_>, _>>()?;
                prepared.insert(name, (sql, oids));
            }
            b'B' if recording => {
                let mut r = Reader::new(&body);
                let _portal = r.cstr()?;
                let name = r.cstr()?;
                let (sql, oids) = prepared
                    .get(&name)
                    .ok_or_else(|| format!("Bind of unknown statement {name:?}"))?
                    .clone();
                let nformats = r.i16()? as usize;
                let formats = (0..nformats)
                    .map(|_| r.i16())
                    .collect::<Result<Vec<_>, _>>()?;
                let nparams = r.i16()? as usize;
                let mut params = Vec::with_capacity(nparams);
                for i in 0..nparams {
                    let len = r.i32()?;
                    let value = if len < 0 {
                        None
                    } else {
                        Some(r.bytes(len as usize)?.to_vec())
                    };
                    let format = match formats.len() {
                        0 => 0,
                        1 => formats[0],
                        _ => formats[i],
                    };
                    params.push(Param {
                        oid: oids.get(i).copied().unwrap_or(0),
                        format,
                        value,
                    });
                }
                push(shared, connection, sql, Some(params));
            }
            b'Q' if recording => {
                let mut r = Reader::new(&body);
                push(shared, connection, r.cstr()?, None);
            }
            b'X' => break,
            _ => {}
        }
    }
    let _ = server_write.shutdown().await;
    let _ = backward.await;
    Ok(())
}

fn push(shared: &Shared, connection: usize, sql: String, params: Option<Vec<Param>>) {
    let mut statements = shared.statements.lock().unwrap_or_else(|e| e.into_inner());
    let seq = shared.next_seq.fetch_add(1, Ordering::SeqCst);
    statements.push(Statement {
        connection,
        seq,
        sql,
        params,
    });
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, at: 0 }
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], BoxError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or("truncated message")?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn cstr(&mut self) -> Result<String, BoxError> {
        let rest = &self.bytes[self.at..];
        let nul = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or("unterminated string")?;
        let s = String::from_utf8(rest[..nul].to_vec())?;
        self.at += nul + 1;
        Ok(s)
    }

    fn i16(&mut self) -> Result<i16, BoxError> {
        Ok(i16::from_be_bytes(self.bytes(2)?.try_into()?))
    }

    fn i32(&mut self) -> Result<i32, BoxError> {
        Ok(i32::from_be_bytes(self.bytes(4)?.try_into()?))
    }

    fn u32(&mut self) -> Result<u32, BoxError> {
        Ok(u32::from_be_bytes(self.bytes(4)?.try_into()?))
    }
}

// ------------------------------------------------------------------------------------------
// Values: a bound parameter in PostgreSQL's text form, and its type's name.

/// The SQL name of a type OID this decoder knows, and its element OID for an array.
fn type_name(oid: u32) -> Option<(&'static str, Option<u32>)> {
    Some(match oid {
        16 => ("bool", None),
        17 => ("bytea", None),
        18 => ("char", None),
        19 => ("name", None),
        20 => ("int8", None),
        21 => ("int2", None),
        23 => ("int4", None),
        25 => ("text", None),
        114 => ("json", None),
        700 => ("float4", None),
        701 => ("float8", None),
        1042 => ("bpchar", None),
        1043 => ("varchar", None),
        1082 => ("date", None),
        1114 => ("timestamp", None),
        1184 => ("timestamptz", None),
        2950 => ("uuid", None),
        3802 => ("jsonb", None),
        1000 => ("bool[]", Some(16)),
        1005 => ("int2[]", Some(21)),
        1007 => ("int4[]", Some(23)),
        1009 => ("text[]", Some(25)),
        1015 => ("varchar[]", Some(1043)),
        1016 => ("int8[]", Some(20)),
        1182 => ("date[]", Some(1082)),
        1185 => ("timestamptz[]", Some(1184)),
        2951 => ("uuid[]", Some(2950)),
        _ => return None,
    })
}

/// The SQL type name of a parameter (None: undeclared, OID 0).
pub fn param_type(param: &Param) -> Result<Option<&'static str>, BoxError> {
    if param.oid == 0 {
        return Ok(None);
    }
    type_name(param.oid)
        .map(|(name, _)| Some(name))
        .ok_or_else(|| {
            format!(
                "parameter type OID {} is not decoded by the capture",
                param.oid
            )
            .into()
        })
}

/// A parameter's value in PostgreSQL's text input form (None: NULL).
pub fn param_text(param: &Param) -> Result<Option<String>, BoxError> {
    let Some(value) = &param.value else {
        return Ok(None);
    };
    if param.format == 0 {
        return Ok(Some(String::from_utf8(value.clone())?));
    }
    binary_text(param.oid, value).map(Some)
}

fn be<const N: usize>(bytes: &[u8]) -> Result<[u8; N], BoxError> {
    bytes
        .try_into()
        .map_err(|_| format!("expected {N} bytes, got {}", bytes.len()).into())
}

fn binary_text(oid: u32, v: &[u8]) -> Result<String, BoxError> {
    let epoch = chrono::NaiveDate::from_ymd_opt(2000, 1, 1).ok_or("epoch")?;
    Ok(match oid {
        16 => if v.first() == Some(&1) { "t" } else { "f" }.to_owned(),
        17 => {
            let mut s = String::from("\\x");
            for b in v {
                s.push_str(&format!("{b:02x}"));
            }
            s
        }
        20 => i64::from_be_bytes(be(v)?).to_string(),
        21 => i16::from_be_bytes(be(v)?).to_string(),
        23 => i32::from_be_bytes(be(v)?).to_string(),
        700 => f32::from_be_bytes(be(v)?).to_string(),
        701 => f64::from_be_bytes(be(v)?).to_string(),
        18 | 19 | 25 | 114 | 1042 | 1043 => String::from_utf8(v.to_vec())?,
        3802 => String::from_utf8(v.get(1..).ok_or("empty jsonb")?.to_vec())?,
        2950 => uuid::Uuid::from_bytes(be(v)?).to_string(),
        1082 => (epoch + chrono::Duration::days(i32::from_be_bytes(be(v)?) as i64)).to_string(),
        1114 | 1184 => {
            let micros = i64::from_be_bytes(be(v)?);
            let at =
                epoch.and_hms_opt(0, 0, 0).ok_or("epoch")? + chrono::Duration::microseconds(micros);
            let text = at.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
            if oid == 1184 {
                format!("{text}+00")
            } else {
                text
            }
        }
        _ => match type_name(oid) {
            Some((_, Some(element))) => array_text(element, v)?,
            _ => {
                return Err(
                    format!("parameter type OID {oid} is not decoded by the capture").into(),
                );
            }
        },
    })
}

/// A one-dimensional binary array as `{"a","b",NULL}`.
fn array_text(element: u32, v: &[u8]) -> Result<String, BoxError> {
    let mut r = Reader::new(v);
    let dims = r.i32()?;
    let _flags = r.i32()?;
    let _oid = r.u32()?;
    if dims == 0 {
        return Ok("{}".to_owned());
    }
    if dims != 1 {
        return Err("multi-dimensional array parameter".into());
    }
    let n = r.i32()?;
    let _lower = r.i32()?;
    let mut items = Vec::new();
    for _ in 0..n {
        let len = r.i32()?;
        if len < 0 {
            items.push("NULL".to_owned());
        } else {
            let text = binary_text(element, r.bytes(len as usize)?)?;
            items.push(format!(
                "\"{}\"",
                text.replace('\\', "\\\\").replace('"', "\\\"")
            ));
        }
    }
    Ok(format!("{{{}}}", items.join(",")))
}
