//! Test support for provider-bridge, in the style of cargo's `cargo-test-support`: **one
//! stand-in per real service**, each a `#[must_use]` builder serving the repository's
//! `fixtures/` in the shapes of the real server (see `docs/infisical-api.md` and
//! `docs/openai-compat.md`).
//!
//! | module | owns |
//! |---|---|
//! | [`fixtures`] | reading `fixtures/` (text, JSON, the key → value pairs of a list answer) |
//! | [`infisical`] | the Infisical stand-in ([`Infisical`]), the two servers it answers as ([`infisical::Server`]: today's, read in the source, and the October 2024 one, recorded), the answer shapes, the synthetic project / environment / token constants, the peer route table, the barrier server |
//! | [`chat`] | the OpenAI-compatible chat stand-in ([`Chat`]), the request [`Step`] sorter |
//!
//! Consumers: the contract suite (`tests/contract/`, through `support/`), the docs tests
//! (`tests/contract/docs.rs`), the demo and benchmark stand-ins (`examples/stand-ins.rs`) and
//! the peer tier (`tests/peers/`, whose Python stand-in reads the same route table as
//! [`infisical::Routes`]). Never part of the production binaries: a dev-dependency only.

pub mod chat;
pub mod fixtures;
pub mod infisical;

pub use chat::{Chat, ChatBuilder, Step};
pub use infisical::{Infisical, InfisicalBuilder};

/// A loopback URL nothing listens on (a port bound, then released): a connection is refused.
pub fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};

    /// One HTTP/1.1 request to a stand-in (`base` as `http://127.0.0.1:<port>`), with an
    /// optional Bearer token and a small JSON body for `POST`; the status and the body.
    pub fn http(base: &str, method: &str, path: &str, bearer: Option<&str>) -> (u16, String) {
        http_body(base, method, path, bearer, "{}")
    }

    /// [`http`] with a body.
    pub fn http_body(
        base: &str,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: &str,
    ) -> (u16, String) {
        let addr = base.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        let auth = bearer.map_or_else(String::new, |t| format!("authorization: Bearer {t}\r\n"));
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n{auth}\
             content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let status = answer.split(' ').nth(1).unwrap().parse().unwrap();
        let body = answer
            .split_once("\r\n\r\n")
            .map_or("", |(_, b)| b)
            .to_owned();
        (status, body)
    }
    #[test]
    fn refused_url_refuses() {
        let url = super::refused_url();
        let addr = url.trim_start_matches("http://");
        assert!(std::net::TcpStream::connect(addr).is_err(), "{url}");
    }
}
